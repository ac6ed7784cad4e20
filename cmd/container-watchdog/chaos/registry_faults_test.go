package chaos

// Registry faults against the real binary and real SQLite: the registry
// on a tiny tmpfs filled to the brim, and the registry locked by another
// process (BEGIN EXCLUSIVE) past the daemon's busy timeout. Throughout,
// the daemon must keep ticking, repairing and pinging, say so in STATUS=,
// /healthz and its log, and never exit; afterwards the events it held
// must be stored in order, with their original times, once each.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

const (
	faultInterval = 2 * time.Second
	// minOutage is the shortest a registry fault lasts: well past the
	// busy timeouts (the daemon's 2 s, the CLI's 10 s).
	minOutage = 25 * time.Second
)

// registryRig is one daemon on a registry the scenario can break.
type registryRig struct {
	*scenario
	names []string
	sink  *notifySink
	d     *daemon
	sse   *stream
	reg   eventLog
	truth *truth
	row   *figureRow
}

// testRegistryFull: the registry on a 1 MiB tmpfs, in a mount namespace
// of the daemon's own, filled to the last byte while containers go.
func testRegistryFull(t *testing.T, s *scenario) {
	names := s.instances(t, 3)
	mnt := filepath.Join(s.dir, "tmpfs")
	must(t, os.Mkdir(mnt, 0o700))
	db := filepath.Join(mnt, "registry.db")
	// The daemon's namespace mounts the tmpfs and gets a copy of the
	// registry there; the mount dies with it.
	wrap := []string{"unshare", "--mount", "--propagation", "private", "sh", "-c",
		`set -e; mount -t tmpfs -o size=1m cwchaos "$1"; cp "$2" "$1/registry.db"; shift 2; exec "$@"`, "sh", mnt, s.db}
	r := s.registryRig(t, names, db, wrap)
	r.reg = nsEvents{w: s.world, pid: r.d.pid, globals: []string{"--db", db}}
	r.settle(t)

	// Plain file access through /proc/PID/root reaches the daemon's tmpfs.
	filler := fmt.Sprintf("/proc/%d/root%s", r.d.pid, filepath.Join(mnt, "filler"))
	r.outage(t, "disk full", func() {
		n := fill(t, filler)
		t.Logf("filled the registry's tmpfs with %d KiB", n/1024)
	}, func() {
		must(t, os.Remove(filler))
	})
}

// testRegistryLocked: another process holds BEGIN EXCLUSIVE on the
// registry for 25 s, well past the daemon's busy timeout (10 s).
func testRegistryLocked(t *testing.T, s *scenario) {
	names := s.instances(t, 3)
	r := s.registryRig(t, names, s.db, nil)
	reg := openRegistry(t, s.db)
	r.reg = reg
	r.settle(t)

	locker := openRegistry(t, s.db)
	conn, err := locker.db.Conn(context.Background())
	must(t, err)
	defer conn.Close()
	r.outage(t, "registry locked", func() {
		_, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE")
		must(t, err)
	}, func() {
		_, err := conn.ExecContext(context.Background(), "ROLLBACK")
		must(t, err)
	})
	checkIntegrity(t, reg)
}

// registryRig creates the instances' containers with the CLI (so the
// daemon's repair pacing starts afresh with the faults) and starts a
// daemon on db, wrapped in wrap.
func (s *scenario) registryRig(t *testing.T, names []string, db string, wrap []string) *registryRig {
	s.cli(t, s.globals(s.docker, 30*time.Second), "reconcile", "--all")
	r := &registryRig{scenario: s, names: names, sink: newNotifySink(t), truth: newTruth(names, false), row: s.row()}
	r.d = start(t, s.world, daemonSpec{
		globals:  []string{"--db", db, "--prefix", s.prefix, "--docker", s.docker, "--docker-timeout", "30s"},
		interval: faultInterval, wrap: wrap, sink: r.sink, wdog: 2 * time.Minute, dir: s.dir,
	})
	r.sse = r.d.subscribe(t, 0)
	return r
}

// settle waits until every instance runs and was reported so.
func (r *registryRig) settle(t *testing.T) {
	t.Helper()
	var cs []ctr
	waitUntil(t, time.Minute, "every instance created and reported", func() (bool, string) {
		r.truth.absorb(r.reg.events(t))
		cs = r.containers(t, r.prefix, nil)
		why := r.truth.disagreements(cs)
		return len(why) == 0, strings.Join(why, "; ")
	})
	r.truth.rest(cs)
}

// outage breaks the registry (begin), removes two containers one after
// the other while it is broken, checks that each comes back and that the
// daemon says it is degraded and goes on pinging, then mends it (end) and
// checks that the held events are stored as they happened.
func (r *registryRig) outage(t *testing.T, what string, begin, end func()) {
	pings0 := len(r.sink.from(r.d.pid, "WATCHDOG=1"))
	stored := len(r.truth.known)
	began := time.Now()
	begin()
	var backs []string
	for _, name := range r.names[:2] {
		at := time.Now()
		_, err := r.run(context.Background(), "rm", "-f", name)
		must(t, err)
		r.truth.removed(name, at)
		back := waitUntil(t, time.Minute, name+" recreated during the "+what, func() (bool, string) {
			c, ok := byName(r.containers(t, r.prefix, nil))[name]
			return ok && c.State == "running", fmt.Sprintf("%+v", c)
		})
		backs = append(backs, back.Round(100*time.Millisecond).String())
	}
	// Degraded, and said so everywhere; still ticking and pinging.
	var reason string
	waitUntil(t, time.Minute, "/healthz degraded", func() (bool, string) {
		code, body := r.d.health(t)
		reason = body["reason"]
		return code == 200 && body["status"] == string(watchdog.LivenessDegraded), fmt.Sprintf("%d %v", code, body)
	})
	t.Logf("%s: /healthz degraded: %s", what, reason)
	if !strings.Contains(reason, "registry") {
		t.Errorf("/healthz reason %q does not name the registry", reason)
	}
	waitUntil(t, time.Minute, "STATUS= degraded", func() (bool, string) {
		st := r.sink.from(r.d.pid, "STATUS=")
		return len(st) > 0 && strings.Contains(st[len(st)-1].text, "degraded"), fmt.Sprintf("%v", st[max(0, len(st)-1):])
	})
	if !strings.Contains(r.d.logText(), "registry unwritable") {
		t.Errorf("the log does not say the registry is unwritable:\n%s", tail(r.d.logText(), 10))
	}
	// The outage goes on, past every busy timeout.
	time.Sleep(max(3*faultInterval, minOutage-time.Since(began)))
	if r.d.exited() {
		t.Fatalf("the daemon exited during the %s: %v\n%s", what, r.d.cmd.ProcessState, tail(r.d.logText(), 20))
	}
	if n := len(r.truth.absorb(r.reg.events(t))); n != 0 {
		t.Errorf("%d events stored while the registry could not be written", n)
	}
	pings := r.sink.from(r.d.pid, "WATCHDOG=1")[pings0:]
	gap := maxGap(pings, time.Now())
	lasted := time.Since(began)
	if len(pings) < 2 {
		t.Errorf("%d pings in %s of %s: want the daemon to go on pinging", len(pings), lasted.Round(time.Millisecond), what)
	}
	t.Logf("%s for %s: %d pings, longest gap %s", what, lasted.Round(time.Millisecond), len(pings), gap.Round(time.Millisecond))

	end()
	ended := time.Now()
	converged := waitUntil(t, time.Minute, "held events stored and /healthz ok", func() (bool, string) {
		code, body := r.d.health(t)
		return code == 200 && body["status"] == string(watchdog.LivenessOK) && len(r.reg.events(t)) >= stored+4, fmt.Sprintf("%v, %d events", body, len(r.reg.events(t)))
	})
	r.checkHeld(t, stored, began, ended)
	// Published once stored, under the ids stored.
	waitUntil(t, 10*time.Second, "the held events on the SSE stream", func() (bool, string) {
		frames, _ := r.sse.events()
		return len(frames) == len(r.truth.known), fmt.Sprintf("%d frames, %d events", len(frames), len(r.truth.known))
	})
	frames, bad := r.sse.events()
	r.truth.frames(frames)
	if len(bad) > 0 {
		t.Errorf("malformed SSE frames: %v", bad)
	}
	st := r.sink.from(r.d.pid, "STATUS=")
	waitUntil(t, 10*time.Second, "STATUS= no longer degraded", func() (bool, string) {
		st = r.sink.from(r.d.pid, "STATUS=")
		return !strings.Contains(st[len(st)-1].text, "degraded"), st[len(st)-1].text
	})
	r.row.faults = fmt.Sprintf("%s for %s, 2 containers removed during it", what, lasted.Round(time.Second))
	r.row.converge = append(r.row.converge, converged)
	r.row.convergeWhat = "from the fault's end to the held events stored and /healthz ok"
	r.row.note("%d pings during it, longest gap %s; the removed containers back after %s", len(pings), gap.Round(100*time.Millisecond), strings.Join(backs, " and "))
	r.row.lost, r.row.falseReports = len(r.truth.lostEvents), len(r.truth.falseReports)
	if v := r.truth.verdict(); v != "" {
		t.Errorf("the %s broke the invariants:\n%s", what, v)
	}
}

// checkHeld checks the events stored after the outage: exactly a missing
// and a recreated for each removed container, in that order, stamped
// with when they happened (during the outage), ids following on.
func (r *registryRig) checkHeld(t *testing.T, stored int, began, ended time.Time) {
	fresh := r.truth.absorb(r.reg.events(t))
	var got []string
	for _, e := range fresh {
		got = append(got, string(e.Type)+" "+e.Container)
		if e.Time.Before(began) || e.Time.After(ended) {
			t.Errorf("held event %s is stamped %s, outside the outage %s..%s: want the time it happened",
				show(e), e.Time.Format(time.StampMilli), began.Format(time.StampMilli), ended.Format(time.StampMilli))
		}
	}
	var want []string
	for _, n := range r.names[:2] {
		want = append(want, string(watchdog.EventMissing)+" "+n, string(watchdog.EventRecreated)+" "+n)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events stored after the outage:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := 1; i < len(fresh); i++ {
		if fresh[i].Time.Before(fresh[i-1].Time) {
			t.Errorf("held events out of order: %s before %s", show(fresh[i-1]), show(fresh[i]))
		}
	}
}

// checkIntegrity asks SQLite whether the registry survived intact.
func checkIntegrity(t *testing.T, reg *registry) {
	var res string
	must(t, reg.db.QueryRow("PRAGMA integrity_check").Scan(&res))
	if res != "ok" {
		t.Errorf("registry integrity_check: %s", res)
	}
}

// fill writes zeros to path until the file system is full; it returns the
// bytes written.
func fill(t *testing.T, path string) int64 {
	f, err := os.Create(path)
	must(t, err)
	defer f.Close()
	n, err := io.Copy(f, zeros{})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling %s: %v after %d bytes, want ENOSPC", path, err, n)
	}
	return n
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
