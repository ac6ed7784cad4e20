package watchdog_test

import (
	"strings"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// The contract's repair pacing, with the default Backoff: the first three
// recreations of an instance start at once, however close together; the
// fourth within the streak waits Initial (10 s), doubling to Max (5 min),
// and the event names the next attempt.

// pacedAfterOne is DefaultBackoff without the burst: every recreation
// after the first waits. Tests of how a deferred repair is timed (by the
// loop, after a failure) use it to get one in a single step.
var pacedAfterOne = watchdog.Backoff{Initial: 10 * time.Second, Max: 5 * time.Minute, Reset: 10 * time.Minute, Burst: 1}

func nextAttempt(t time.Time) string { return "next attempt at " + t.UTC().Format(time.RFC3339) }

func TestBackoffPacesAFailingRecreation(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	var wakes int
	e.w.Wake = func() { wakes++ }
	e.tick()
	name := cname("dev", "default")
	e.fake.remove(name)
	denied := "docker: Error response from daemon: pull access denied for example.com/agents/dev"
	e.fake.setFailFor(name, denied)

	// The first three attempts are at once; the failure is reported once,
	// with no wait to name.
	_, evs := e.tick()
	wantEvents(t, evs, "container_missing "+name, "container_recreate_failed "+name)
	wantRuns(t, e.fake, 1)
	if evs[1].Detail != denied {
		t.Errorf("detail %q, want docker's stderr alone (the next attempt is at once)", evs[1].Detail)
	}
	for range 2 {
		_, evs = e.tickAfter(time.Second)
		wantEvents(t, evs)
		wantRuns(t, e.fake, 1)
	}
	third := e.clock.Now()
	if wakes != 3 {
		t.Errorf("three failed repairs woke the loop %d times, want 3", wakes)
	}

	// The fourth waits 10 s after the third, and the loop is told when.
	rep, evs := e.tickAfter(5 * time.Second)
	wantEvents(t, evs)
	wantRuns(t, e.fake, 0)
	if rep.Repairs != 0 || stateOf(t, rep, name) != watchdog.StateMissing {
		t.Errorf("repairs %d, state %q: want a deferred repair of a missing container", rep.Repairs, stateOf(t, rep, name))
	}
	wantNextWake(t, e.w, third.Add(10*time.Second))
	rep, evs = e.tickAfter(5 * time.Second)
	fourth := e.clock.Now()
	wantEvents(t, evs)
	wantRuns(t, e.fake, 1)
	if rep.Repairs != 1 {
		t.Errorf("repairs %d, want 1", rep.Repairs)
	}
	wantNextWake(t, e.w, time.Time{})

	// The wait doubles; a new failure is reported with the next attempt.
	_, evs = e.tickAfter(19 * time.Second)
	wantEvents(t, evs)
	wantRuns(t, e.fake, 0)
	wantNextWake(t, e.w, fourth.Add(20*time.Second))
	full := "docker: Error response from daemon: no space left on device"
	e.fake.setFailFor(name, full)
	_, evs = e.tickAfter(time.Second)
	wantEvents(t, evs, "container_recreate_failed "+name)
	wantRuns(t, e.fake, 1)
	if want := failedDetail(full, e.clock.Now().Add(40*time.Second)); evs[0].Detail != want {
		t.Errorf("detail %q, want the fifth attempt's failure and the sixth's time %q", evs[0].Detail, want)
	}

	// Up to Max and no further.
	for _, d := range []time.Duration{40 * time.Second, 80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute} {
		last := e.clock.Now()
		_, evs = e.tickAfter(d - time.Second)
		wantEvents(t, evs)
		wantRuns(t, e.fake, 0)
		wantNextWake(t, e.w, last.Add(d))
		_, evs = e.tickAfter(time.Second)
		wantEvents(t, evs)
		wantRuns(t, e.fake, 1)
	}

	e.fake.setFailFor(name, "")
	_, evs = e.tickAfter(5 * time.Minute)
	wantEvents(t, evs, "container_recreated "+name)
	wantNextWake(t, e.w, time.Time{})
}

// An operator repeating `docker rm -f` gets the container back at once
// three times; only the fourth removal within the streak waits.
func TestBackoffRepairsThreeQuickRemovalsAtOnce(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	e.tick()
	name := cname("dev", "default")
	for i := range 3 {
		e.fake.remove(name)
		_, evs := e.tickAfter(2 * time.Second)
		wantEvents(t, evs, "container_missing "+name, "container_recreated "+name)
		wantRuns(t, e.fake, 1)
		if strings.Contains(evs[0].Detail, "next attempt") {
			t.Errorf("removal %d: detail %q names a wait", i+1, evs[0].Detail)
		}
	}
	third := e.clock.Now()

	e.fake.remove(name)
	rep, evs := e.tickAfter(2 * time.Second)
	wantEvents(t, evs, "container_missing "+name)
	due := third.Add(10 * time.Second)
	if d := evs[0].Detail; !strings.Contains(d, nextAttempt(due)) {
		t.Errorf("detail %q, want it to name the %s", d, nextAttempt(due))
	}
	wantRuns(t, e.fake, 0)
	wantNextWake(t, e.w, due)
	if rep.Repairs != 0 || e.fake.get(name) != nil {
		t.Errorf("repairs %d, container %v: want none yet", rep.Repairs, e.fake.get(name))
	}
	_, evs = e.tickAfter(8 * time.Second)
	wantEvents(t, evs, "container_recreated "+name)
	wantRuns(t, e.fake, 1)
	if e.fake.get(name) == nil {
		t.Fatal("not recreated once due")
	}
}

func TestBackoffStreakResetsAfterRunningForReset(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	e.tick()
	name := cname("dev", "default")
	// recreate removes the container, ticks after d and wants it recreated.
	recreate := func(d time.Duration) {
		t.Helper()
		e.fake.remove(name)
		_, evs := e.tickAfter(d)
		wantEvents(t, evs, "container_missing "+name, "container_recreated "+name)
		wantRuns(t, e.fake, 1)
	}
	// deferred removes the container, ticks after a second and wants the
	// recreation deferred until due.
	deferred := func(due time.Time) {
		t.Helper()
		e.fake.remove(name)
		_, evs := e.tickAfter(time.Second)
		wantEvents(t, evs, "container_missing "+name)
		wantRuns(t, e.fake, 0)
		wantNextWake(t, e.w, due)
		if !strings.Contains(evs[0].Detail, nextAttempt(due)) {
			t.Errorf("detail %q, want the %s", evs[0].Detail, nextAttempt(due))
		}
		_, evs = e.tickAfter(due.Sub(e.clock.Now()))
		wantEvents(t, evs, "container_recreated "+name)
		wantRuns(t, e.fake, 1)
	}

	// A streak: three at once, then 10 s after the third.
	recreate(time.Minute)
	recreate(time.Second)
	recreate(time.Second)
	deferred(e.clock.Now().Add(10 * time.Second))

	// Running for less than Reset keeps the streak: the fifth recreation
	// is long due, but the sixth waits the fifth's 40 s.
	_, evs := e.tickAfter(9 * time.Minute)
	wantEvents(t, evs)
	recreate(time.Second)
	deferred(e.clock.Now().Add(40 * time.Second))

	// Running for Reset ends it: three at once again, then Initial.
	_, evs = e.tickAfter(watchdog.DefaultBackoff.Reset)
	wantEvents(t, evs)
	recreate(time.Second)
	recreate(time.Second)
	recreate(time.Second)
	deferred(e.clock.Now().Add(10 * time.Second))
}

// exhaustBurst removes and recreates name at once as often as the burst
// allows, a second apart, so its next removal is paced.
func (e *tickEnv) exhaustBurst(name string) {
	e.t.Helper()
	for range watchdog.DefaultBackoff.Burst {
		e.fake.remove(name)
		_, evs := e.tickAfter(time.Second)
		wantEvents(e.t, evs, "container_missing "+name, "container_recreated "+name)
	}
}

func TestDeferredRepairDroppedWhenTheContainerComesBackStopped(t *testing.T) {
	a := agent("dev")
	e := newTickEnv(t, a)
	e.tick()
	name := cname("dev", "default")
	e.exhaustBurst(name)
	e.fake.remove(name)
	_, evs := e.tickAfter(time.Second)
	wantEvents(t, evs, "container_missing "+name)
	wantNextWake(t, e.w, e.clock.Now().Add(9*time.Second))

	// Someone else creates it, and it does not run: nothing is left to
	// repair, so nothing may stay due (the loop would spin on a due time
	// no tick can act on).
	e.fake.put(name, "exited", managedLabels(a, "default"))
	_, evs = e.tickAfter(time.Second)
	wantEvents(t, evs, "container_stopped "+name)
	wantNextWake(t, e.w, time.Time{})
	_, evs = e.tickAfter(time.Minute)
	wantEvents(t, evs)
	wantNextWake(t, e.w, time.Time{})
	wantRuns(t, e.fake, 0)
}

func TestDeferredRepairDroppedWhenTheInstanceIsUnregistered(t *testing.T) {
	e := newTickEnv(t, agent("dev"), agent("ops"))
	e.tick()
	name := cname("dev", "default")
	e.exhaustBurst(name)
	e.fake.remove(name)
	e.tickAfter(time.Second)
	wantNextWake(t, e.w, e.clock.Now().Add(9*time.Second))
	if _, err := e.db.DeleteAgent(e.ctx, "dev"); err != nil {
		t.Fatal(err)
	}
	_, evs := e.tickAfter(time.Second)
	wantEvents(t, evs)
	wantNextWake(t, e.w, time.Time{})
	wantRuns(t, e.fake, 0)
}
