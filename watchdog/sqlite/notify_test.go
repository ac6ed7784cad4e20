package sqlite_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/notify"
)

func TestOutboxQueuedWithTheEventForMatchingSinks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	db := open(t, path)
	for _, s := range []notify.Sink{
		{Name: "all", URL: "https://a.example/h", MinPriority: 7},
		{Name: "default", URL: "https://b.example/h", MinPriority: notify.DefaultMinPriority},
		{Name: "only-failed", URL: "ntfy://ntfy.sh/t", MinPriority: 7, Events: []watchdog.EventType{watchdog.EventRecreateFailed, watchdog.EventStopped}},
	} {
		if err := db.AddSink(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	obs := watchdog.Observation{Container: "c", Agent: "dev", Instance: "a", State: watchdog.StateMissing, Since: time.Now()}
	evs := []*watchdog.Event{
		{Type: watchdog.EventMissing, Container: "c"},        // 4: all, default
		{Type: watchdog.EventRunning, Container: "c"},        // 6: all
		{Type: watchdog.EventRecreateFailed, Container: "c"}, // 3: all, default, only-failed
		{Type: watchdog.EventRecreated, Container: "c"},      // 5: all, default (its limit)
	}
	if err := db.Observe(ctx, obs, evs...); err != nil {
		t.Fatal(err)
	}
	want := map[string][]int64{
		"all":         {evs[0].ID, evs[1].ID, evs[2].ID, evs[3].ID},
		"default":     {evs[0].ID, evs[2].ID, evs[3].ID},
		"only-failed": {evs[2].ID},
	}
	for sink, ids := range want {
		rows, err := db.Pending(ctx, sink, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(ids) {
			t.Fatalf("sink %s has %d rows queued, want %d", sink, len(rows), len(ids))
		}
		for i, r := range rows {
			if r.Event.ID != ids[i] || r.Event.Type != evs[indexOf(evs, ids[i])].Type || r.Attempts != 0 || !r.NextAttempt.IsZero() {
				t.Errorf("sink %s row %d = %+v, want event %d due at once", sink, i, r, ids[i])
			}
		}
	}
}

func indexOf(evs []*watchdog.Event, id int64) int {
	for i, e := range evs {
		if e.ID == id {
			return i
		}
	}
	return -1
}

// If the outbox cannot take the rows, the event is not stored either:
// both are one transaction.
func TestEventAndOutboxAreOneTransaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	db := open(t, path)
	if err := db.AddSink(ctx, notify.Sink{Name: "all", URL: "https://a.example/h", MinPriority: 7}); err != nil {
		t.Fatal(err)
	}
	r := raw(t, path)
	if _, err := r.Exec(`CREATE TRIGGER refuse BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'outbox refuses'); END`); err != nil {
		t.Fatal(err)
	}
	e := &watchdog.Event{Type: watchdog.EventMissing, Container: "c"}
	if err := db.AppendEvent(ctx, e); err == nil {
		t.Fatal("AppendEvent succeeded though the outbox refused the row")
	}
	if n := scalar(t, r, `SELECT count(*) FROM events`); n != 0 {
		t.Fatalf("%d events stored without their outbox rows", n)
	}
}

func TestSettleCountsAndRemoveSinkTakesItsQueue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	db := open(t, path)
	if err := db.AddSink(ctx, notify.Sink{Name: "s", URL: "https://a.example/h", MinPriority: 7}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if err := db.AppendEvent(ctx, &watchdog.Event{Type: watchdog.EventMissing, Container: "c"}); err != nil {
			t.Fatal(err)
		}
	}
	rows, _ := db.Pending(ctx, "s", 100)
	at := time.Date(2026, 4, 20, 12, 0, 0, 0, time.UTC)
	steps := []notify.Outcome{
		{Delivered: []int64{rows[0].ID}, At: at},
		{Retry: []int64{rows[1].ID}, Attempts: 1, NextAttempt: at.Add(2 * time.Second), Failed: true, Error: "HTTP 500", At: at},
		{Dropped: []int64{rows[1].ID}, Failed: true, Error: "HTTP 404", At: at},
	}
	for _, o := range steps {
		if err := db.Settle(ctx, "s", o); err != nil {
			t.Fatal(err)
		}
	}
	st, err := db.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := notify.SinkStats{Sink: "s", Delivered: 1, Failed: 2, Dropped: 1, Queue: 2, LastError: "2026-04-20T12:00:00Z HTTP 404"}
	if len(st) != 1 || st[0] != want {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
	// Counters survive a reopen.
	db.Close()
	db = open(t, path)
	if st, _ := db.Stats(ctx); len(st) != 1 || st[0] != want {
		t.Fatalf("after reopen Stats = %+v, want %+v", st, want)
	}
	left, _ := db.Pending(ctx, "s", 100)
	if len(left) != 2 || left[0].ID != rows[2].ID {
		t.Fatalf("queue after settling = %+v, want rows %d and %d", left, rows[2].ID, rows[3].ID)
	}
	if n, err := db.RemoveSink(ctx, "s"); err != nil || n != 2 {
		t.Fatalf("RemoveSink = %d, %v; want 2 queued discarded", n, err)
	}
	if n := scalar(t, raw(t, path), `SELECT count(*) FROM outbox`); n != 0 {
		t.Fatalf("%d outbox rows outlived their sink", n)
	}
	if _, err := db.RemoveSink(ctx, "s"); !errors.Is(err, watchdog.ErrNotFound) {
		t.Fatalf("second RemoveSink = %v, want ErrNotFound", err)
	}
}

func TestAddSinkTwiceIsExists(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "r.db"))
	s := notify.Sink{Name: "s", URL: "https://a.example/h", MinPriority: 5, Events: []watchdog.EventType{watchdog.EventMissing}, Secret: "k"}
	if err := db.AddSink(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := db.AddSink(ctx, s); !errors.Is(err, watchdog.ErrExists) {
		t.Fatalf("second AddSink = %v, want ErrExists", err)
	}
	got, err := db.Sink(ctx, "s")
	if err != nil || got.URL != s.URL || got.Secret != "k" || len(got.Events) != 1 || got.Events[0] != watchdog.EventMissing || got.MinPriority != 5 {
		t.Fatalf("Sink = %+v, %v", got, err)
	}
}

// The registry holds credentials: a new folder is 0700 and the database,
// its -wal and its -shm are 0600, whatever the umask; an existing wider
// database file is narrowed.
func TestRegistryIsPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "state", "container-watchdog")
	path := filepath.Join(dir, "registry.db")
	db := open(t, path)
	if err := db.AddSink(ctx, notify.Sink{Name: "s", URL: "https://a.example/h", MinPriority: 5, Secret: "k"}); err != nil {
		t.Fatal(err)
	}
	mode := func(p string) os.FileMode {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	if m := mode(dir); m != 0o700 {
		t.Errorf("registry folder is %04o, want 0700", m)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if m := mode(p); m != 0o600 {
			t.Errorf("%s is %04o, want 0600", filepath.Base(p), m)
		}
	}
	// A crash leaves -wal and -shm behind; an older version made them 0644.
	leftovers := map[string][]byte{}
	for _, p := range []string{path + "-wal", path + "-shm"} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		leftovers[p] = b
	}
	db.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	for p, b := range leftovers {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	open(t, path)
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if m := mode(p); m != 0o600 {
			t.Errorf("reopened: %s is %04o, want 0600", filepath.Base(p), m)
		}
	}
}
