package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/clock/fakeclock"
	"github.com/container-watchdog/container-watchdog/watchdog/sqlite"
)

var ctx = context.Background()

func open(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	db.Clock = fakeclock.At(time.Date(2026, 4, 20, 10, 0, 0, 123456789, time.FixedZone("X", 3600)))
	t.Cleanup(func() { db.Close() })
	return db
}

// raw opens the file without the package, to look underneath it.
func raw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000&_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func scalar(t *testing.T, db *sql.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func newAgent(name string, instances ...string) watchdog.Agent {
	return watchdog.Agent{Name: name, Image: "example.com/" + name + ":1", Env: []string{"A=1", "B=x=y"},
		StatePath: "/state", Command: []string{"serve", "--x"}, Instances: instances}
}

func TestOpenMigratesAndReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "registry.db")
	db := open(t, path)
	if _, err := db.AddAgent(ctx, newAgent("dev", "default")); err != nil {
		t.Fatal(err)
	}
	db.Close()

	r := raw(t, path)
	version := scalar(t, r, "PRAGMA user_version")
	if version < 1 {
		t.Fatalf("user_version = %d after migration", version)
	}
	var mode string
	if err := r.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}

	// Re-opening is idempotent: same version, data kept.
	for range 2 {
		db = open(t, path)
		as, err := db.Agents(ctx)
		if err != nil || len(as) != 1 || as[0].Name != "dev" {
			t.Fatalf("Agents after reopen = %+v, %v", as, err)
		}
		db.Close()
		if v := scalar(t, r, "PRAGMA user_version"); v != version {
			t.Errorf("user_version %d after reopen, was %d", v, version)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.db")
	open(t, path).Close()
	r := raw(t, path)
	if _, err := r.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	r.Close()
	db, err := sqlite.Open(ctx, path)
	if err == nil {
		db.Close()
		t.Fatal("Open accepted a schema newer than it knows")
	}
	if !strings.Contains(err.Error(), "999") {
		t.Errorf("error %q should name the version", err)
	}
	if v := scalar(t, raw(t, path), "PRAGMA user_version"); v != 999 {
		t.Errorf("user_version changed to %d", v)
	}
	if _, err := sqlite.Open(ctx, ""); !errors.Is(err, watchdog.ErrInvalid) {
		t.Errorf("Open(\"\") = %v", err)
	}
}

func TestAddAgent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.db")
	db := open(t, path)
	a, err := db.AddAgent(ctx, newAgent("dev", "b", "a", "c"))
	if err != nil {
		t.Fatal(err)
	}
	if a.CreatedAt.IsZero() || !a.CreatedAt.Equal(a.UpdatedAt) {
		t.Errorf("times %v %v", a.CreatedAt, a.UpdatedAt)
	}
	got, err := db.Agent(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(a.CreatedAt) {
		t.Errorf("CreatedAt read back %v, stored %v", got.CreatedAt, a.CreatedAt)
	}
	got.CreatedAt, got.UpdatedAt, a.CreatedAt, a.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, a) {
		t.Errorf("read back %+v, stored %+v (instance order must be kept)", got, a)
	}

	// A duplicate is refused and changes nothing.
	dup := newAgent("dev", "zzz")
	dup.Image = "other:2"
	if _, err := db.AddAgent(ctx, dup); !errors.Is(err, watchdog.ErrExists) {
		t.Fatalf("duplicate AddAgent = %v, want ErrExists", err)
	}
	after, _ := db.Agent(ctx, "dev")
	if after.Image != "example.com/dev:1" || strings.Join(after.Instances, ",") != "b,a,c" {
		t.Errorf("duplicate changed the agent: %+v", after)
	}

	// Invalid agents are refused before anything is written.
	for _, bad := range []watchdog.Agent{
		newAgent("a-b", "default"), newAgent("--privileged", "default"), newAgent("ok", "../x"), newAgent("ok"),
		func() watchdog.Agent { a := newAgent("ok", "x"); a.Image = "--rm"; return a }(),
		func() watchdog.Agent { a := newAgent("ok", "x"); a.Env = []string{"NOVALUE"}; return a }(),
	} {
		if _, err := db.AddAgent(ctx, bad); !errors.Is(err, watchdog.ErrInvalid) {
			t.Errorf("AddAgent(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	r := raw(t, path)
	if n := scalar(t, r, "SELECT count(*) FROM agents"); n != 1 {
		t.Errorf("%d agents stored, want 1", n)
	}
	if n := scalar(t, r, "SELECT count(*) FROM instances"); n != 3 {
		t.Errorf("%d instances stored, want 3", n)
	}
	if _, err := db.Agent(ctx, "nope"); !errors.Is(err, watchdog.ErrNotFound) {
		t.Errorf("Agent(nope) = %v", err)
	}
}

func TestUpdateAgent(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "registry.db"))
	orig, err := db.AddAgent(ctx, newAgent("dev", "a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	db.Clock.(*fakeclock.Clock).Advance(time.Second)
	before, after, err := db.UpdateAgent(ctx, "dev", func(a *watchdog.Agent) error {
		a.Image = "example.com/dev:2"
		a.Instances = []string{"c", "a"}
		a.Env[0] = "A=changed" // must not leak into before
		a.Name = "renamed"     // ignored: the name is the key
		a.CreatedAt = time.Time{}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if before.Image != "example.com/dev:1" || before.Env[0] != "A=1" {
		t.Errorf("before = %+v", before)
	}
	got, err := db.Agent(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if got.Image != "example.com/dev:2" || strings.Join(got.Instances, ",") != "c,a" || got.Env[0] != "A=changed" {
		t.Errorf("stored %+v", got)
	}
	if !got.CreatedAt.Equal(orig.CreatedAt) || !after.CreatedAt.Equal(orig.CreatedAt) {
		t.Errorf("CreatedAt %v (returned %v), want it kept at %v", got.CreatedAt, after.CreatedAt, orig.CreatedAt)
	}
	if !got.UpdatedAt.After(orig.UpdatedAt) {
		t.Errorf("UpdatedAt %v not after %v", got.UpdatedAt, orig.UpdatedAt)
	}

	// Invalid results and failing changes leave the agent as it was.
	for _, change := range []func(*watchdog.Agent) error{
		func(a *watchdog.Agent) error { a.Image = "--rm"; return nil },
		func(a *watchdog.Agent) error { a.Instances = []string{"a-b"}; return nil },
		func(a *watchdog.Agent) error { a.Instances = nil; return errors.New("nope") },
	} {
		if _, _, err := db.UpdateAgent(ctx, "dev", change); err == nil {
			t.Error("UpdateAgent accepted a bad change")
		}
		again, _ := db.Agent(ctx, "dev")
		if !reflect.DeepEqual(again, got) {
			t.Errorf("a refused change altered the agent: %+v", again)
		}
	}
	if _, _, err := db.UpdateAgent(ctx, "nope", func(*watchdog.Agent) error { return nil }); !errors.Is(err, watchdog.ErrNotFound) {
		t.Errorf("UpdateAgent(nope) = %v", err)
	}
}

func TestDeleteAgentCascades(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.db")
	db := open(t, path)
	for _, a := range []watchdog.Agent{newAgent("dev", "a", "b"), newAgent("ops", "x")} {
		if _, err := db.AddAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	gone, err := db.DeleteAgent(ctx, "dev")
	if err != nil || gone.Name != "dev" || len(gone.Instances) != 2 {
		t.Fatalf("DeleteAgent = %+v, %v", gone, err)
	}
	r := raw(t, path)
	if n := scalar(t, r, "SELECT count(*) FROM instances WHERE agent = 'dev'"); n != 0 {
		t.Errorf("%d instances of dev left", n)
	}
	as, _ := db.Agents(ctx)
	if len(as) != 1 || as[0].Name != "ops" || len(as[0].Instances) != 1 {
		t.Errorf("Agents = %+v", as)
	}
	// Re-adding the name starts clean.
	if _, err := db.AddAgent(ctx, newAgent("dev", "c")); err != nil {
		t.Fatal(err)
	}
	if a, _ := db.Agent(ctx, "dev"); strings.Join(a.Instances, ",") != "c" {
		t.Errorf("instances %v", a.Instances)
	}
	if _, err := db.DeleteAgent(ctx, "nope"); !errors.Is(err, watchdog.ErrNotFound) {
		t.Errorf("DeleteAgent(nope) = %v", err)
	}
}

func TestAgentsSortedWithEmptySlices(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "registry.db"))
	for _, n := range []string{"zed", "alpha", "mid"} {
		a := newAgent(n, "i")
		a.Env, a.Command = nil, nil
		if _, err := db.AddAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	as, err := db.Agents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range as {
		names = append(names, a.Name)
		if len(a.Env) != 0 || len(a.Command) != 0 {
			t.Errorf("%s: env %v command %v", a.Name, a.Env, a.Command)
		}
	}
	if strings.Join(names, ",") != "alpha,mid,zed" {
		t.Errorf("order %v", names)
	}
}

func TestObserveIsAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.db")
	db := open(t, path)
	t0 := time.Date(2026, 4, 20, 11, 0, 0, 5, time.UTC)
	o := watchdog.Observation{Container: "c1", Agent: "dev", Instance: "default", State: watchdog.StateMissing, Since: t0, Detail: "d"}
	e1 := &watchdog.Event{Time: t0, Type: watchdog.EventMissing, Container: "c1", Agent: "dev", Instance: "default"}
	e2 := &watchdog.Event{Type: watchdog.EventRecreateFailed, Container: "c1", Detail: "boom",
		Evidence: map[string]string{"exit_code": "137"}}
	if err := db.Observe(ctx, o, e1, e2); err != nil {
		t.Fatal(err)
	}
	if e1.ID <= 0 || e2.ID <= e1.ID {
		t.Fatalf("ids %d, %d: want increasing", e1.ID, e2.ID)
	}
	if e2.Time.IsZero() {
		t.Error("a zero event time was not filled in")
	}
	obs, err := db.Observations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := obs["c1"]; got.State != watchdog.StateMissing || got.Detail != "d" || !got.Since.Equal(t0) || got.Agent != "dev" {
		t.Errorf("observation %+v", got)
	}
	evs, err := db.Events(ctx, 0, 0)
	if err != nil || len(evs) != 2 || evs[1].Evidence["exit_code"] != "137" || evs[1].Detail != "boom" || !evs[0].Time.Equal(t0) {
		t.Fatalf("events %+v, %v", evs, err)
	}

	// Make the second event's insert fail: neither the observation nor the first event may stay.
	r := raw(t, path)
	if _, err := r.Exec(`CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.type = 'refused' BEGIN SELECT RAISE(ABORT, 'refused'); END`); err != nil {
		t.Fatal(err)
	}
	o2 := o
	o2.State, o2.Detail = watchdog.StateRunning, ""
	err = db.Observe(ctx, o2, &watchdog.Event{Type: watchdog.EventRecreated, Container: "c1"}, &watchdog.Event{Type: "refused", Container: "c1"})
	if err == nil {
		t.Fatal("Observe succeeded although an event insert failed")
	}
	obs, _ = db.Observations(ctx)
	if obs["c1"].State != watchdog.StateMissing {
		t.Errorf("observation changed to %+v by a failed Observe", obs["c1"])
	}
	if evs, _ := db.Events(ctx, 0, 0); len(evs) != 2 {
		t.Errorf("%d events after a failed Observe, want 2", len(evs))
	}

	// Ids keep increasing after the rollback, and after Forget.
	if err := db.Forget(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if obs, _ = db.Observations(ctx); len(obs) != 0 {
		t.Errorf("observations after Forget: %v", obs)
	}
	e3 := &watchdog.Event{Type: watchdog.EventRunning, Container: "c1"}
	if err := db.AppendEvent(ctx, e3); err != nil || e3.ID <= e2.ID {
		t.Errorf("AppendEvent id %d (prev %d), %v", e3.ID, e2.ID, err)
	}
}

func TestEventsSinceAndLimit(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "registry.db"))
	var ids []int64
	for i := range 5 {
		e := &watchdog.Event{Type: watchdog.EventStopped, Container: "c", Detail: string(rune('a' + i))}
		if err := db.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	details := func(evs []watchdog.Event) string {
		var s string
		for _, e := range evs {
			s += e.Detail
		}
		return s
	}
	for _, tc := range []struct {
		since int64
		limit int
		want  string
	}{
		{0, 0, "abcde"}, {0, -1, "abcde"}, {0, 2, "ab"}, {ids[1], 0, "cde"}, {ids[1], 2, "cd"}, {ids[4], 0, ""},
	} {
		evs, err := db.Events(ctx, tc.since, tc.limit)
		if err != nil || details(evs) != tc.want {
			t.Errorf("Events(%d, %d) = %q, %v; want %q", tc.since, tc.limit, details(evs), err, tc.want)
		}
	}
}

func TestConcurrentWritersOnOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.db")
	dbs := []*sqlite.DB{open(t, path), open(t, path)}
	var wg sync.WaitGroup
	ids := make(chan int64, 100)
	errs := make(chan error, 100)
	for w, db := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				e := &watchdog.Event{Type: watchdog.EventStopped, Container: "c", Agent: "w", Instance: string(rune('0' + w))}
				if err := db.AppendEvent(ctx, e); err != nil {
					errs <- err
					continue
				}
				// Interleave observation writes too.
				if err := db.Observe(ctx, watchdog.Observation{Container: "c", State: watchdog.StateStopped, Since: time.Now()}); err != nil {
					errs <- err
				}
				ids <- e.ID
			}
		}()
	}
	wg.Wait()
	close(ids)
	close(errs)
	for err := range errs {
		t.Errorf("concurrent write: %v", err)
	}
	seen := map[int64]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != 100 {
		t.Errorf("%d distinct ids, want 100", len(seen))
	}
	evs, err := dbs[0].Events(ctx, 0, 0)
	if err != nil || len(evs) != 100 {
		t.Errorf("%d events stored, %v", len(evs), err)
	}
}

func TestLeases(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "registry.db"))
	defer db.Close()
	t0 := time.Date(2026, 4, 20, 12, 0, 0, 0, time.UTC)
	if err := db.Lease(ctx, "c1", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.Lease(ctx, "c2", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := db.Leased(ctx, t0)
	if err != nil || !got["c1"] || !got["c2"] || len(got) != 2 {
		t.Fatalf("Leased at t0 = %v, %v; want c1 and c2", got, err)
	}
	// An expired lease no longer counts: its holder died.
	if got, _ := db.Leased(ctx, t0.Add(2*time.Second)); !got["c1"] || got["c2"] {
		t.Errorf("Leased after c2 expired = %v", got)
	}
	// Leasing again extends; releasing ends it at once.
	if err := db.Lease(ctx, "c2", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.Release(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Leased(ctx, t0.Add(2*time.Second)); got["c1"] || !got["c2"] {
		t.Errorf("Leased after release and renewal = %v", got)
	}
}
