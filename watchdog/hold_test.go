package watchdog_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/exec"
	"github.com/container-watchdog/container-watchdog/watchdog"
)

// Holds at the Watcher level, and the moments a container is "created"
// because someone is starting it.

// hold places a hold on name, as `hold` does.
func (e *tickEnv) hold(name, reason string, until time.Time) {
	e.t.Helper()
	h := watchdog.Hold{Container: name, Reason: reason, Since: e.clock.Now(), Until: until}
	if err := e.db.AddHolds(e.ctx, h); err != nil {
		e.t.Fatal(err)
	}
}

// release ends name's hold, as `release` does.
func (e *tickEnv) release(name string) {
	e.t.Helper()
	if _, err := e.db.RemoveHolds(e.ctx, name); err != nil {
		e.t.Fatal(err)
	}
}

func (e *tickEnv) holds() map[string]watchdog.Hold {
	e.t.Helper()
	hs, err := e.db.Holds(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return hs
}

func TestHeldContainerRemovedStaysGoneUntilReleased(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	name := cname("dev", "default")
	e.tick()
	e.hold(name, "restore volume", time.Time{})
	_, evs := e.tick()
	wantEvents(t, evs, "container_held "+name)
	if evs[0].Detail != "held: restore volume" {
		t.Errorf("detail %q", evs[0].Detail)
	}
	e.fake.remove(name)
	for range 3 {
		rep, evs := e.tick()
		wantEvents(t, evs)
		if s := stateOf(t, rep, name); s != watchdog.StateHeld {
			t.Errorf("state %q, want held", s)
		}
	}
	wantRuns(t, e.fake, 0)
	wantNextWake(t, e.w, time.Time{})

	e.release(name)
	_, evs = e.tick()
	wantEvents(t, evs, "container_released "+name, "container_missing "+name, "container_recreated "+name)
	if evs[0].Detail != "released (was held: restore volume)" {
		t.Errorf("released detail %q", evs[0].Detail)
	}
}

// holdAfterSurvey places a hold right after the tick has read the holds:
// the tick judges without it, and what it starts must look again.
type holdAfterSurvey struct {
	watchdog.Registry
	once  sync.Once
	place func()
}

func (r *holdAfterSurvey) Holds(ctx context.Context) (map[string]watchdog.Hold, error) {
	hs, err := r.Registry.Holds(ctx)
	r.once.Do(r.place)
	return hs, err
}

// A hold placed after the tick looked but before its repair runs wins: the
// repair looks at the holds again and does nothing.
func TestHoldPlacedBeforeTheRepairRunsPreventsIt(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	name := cname("dev", "default")
	e.tick()
	e.fake.remove(name)
	e.w.Registry = &holdAfterSurvey{Registry: e.db, place: func() { e.hold(name, "maintenance", time.Time{}) }}
	_, evs := e.tick()
	wantEvents(t, evs, "container_missing "+name)
	wantRuns(t, e.fake, 0)
	_, evs = e.tick()
	wantEvents(t, evs, "container_held "+name)
	wantRuns(t, e.fake, 0)
}

// The same for an unhealthy restart.
func TestHoldPlacedBeforeTheRestartRunsPreventsIt(t *testing.T) {
	e := newTickEnv(t, healthAgent(watchdog.OnUnhealthyRestart, 0))
	name := cname("dev", "default")
	e.tick()
	e.probe(name, "unhealthy", 1, "down")
	e.w.Registry = &holdAfterSurvey{Registry: e.db, place: func() { e.hold(name, "", time.Time{}) }}
	_, evs := e.tick()
	wantEvents(t, evs, "container_unhealthy "+name)
	wantNoCalls(t, e.fake, "restart")
}

func TestExpiredHoldIsReleasedAndDeletedByTheWatcher(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	name := cname("dev", "default")
	e.tick()
	until := e.clock.Now().Add(90 * time.Second)
	e.hold(name, "upgrade", until)
	_, evs := e.tick()
	wantEvents(t, evs, "container_held "+name)
	if want := "held: upgrade (until " + until.UTC().Format(time.RFC3339) + ")"; evs[0].Detail != want {
		t.Errorf("detail %q, want %q", evs[0].Detail, want)
	}
	// The loop is told to look when it expires.
	wantNextWake(t, e.w, until)
	e.fake.remove(name)
	_, evs = e.tickAfter(29 * time.Second)
	wantEvents(t, evs)

	_, evs = e.tickAfter(time.Second)
	wantEvents(t, evs, "container_released "+name, "container_missing "+name, "container_recreated "+name)
	if want := "hold expired at " + until.UTC().Format(time.RFC3339) + " (was held: upgrade)"; evs[0].Detail != want {
		t.Errorf("detail %q, want %q", evs[0].Detail, want)
	}
	if hs := e.holds(); len(hs) != 0 {
		t.Errorf("holds %+v after expiry, want none", hs)
	}
	wantNextWake(t, e.w, time.Time{})
}

func TestHoldSurvivesADaemonRestart(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	name := cname("dev", "default")
	e.tick()
	e.hold(name, "", time.Time{})
	_, evs := e.tick()
	wantEvents(t, evs, "container_held "+name)
	e.fake.remove(name)
	e.restart()
	_, evs = e.tick()
	wantEvents(t, evs)
	wantRuns(t, e.fake, 0)
}

// A container in docker's "created" state because `docker run` is under
// way (it creates, then starts) is no stop: not while the watchdog's own
// repair runs it, nor while a CLI holding a lease does. Without either, it
// is reported stopped with docker's state.
func TestCreatedContainerBeingStartedIsNotReported(t *testing.T) {
	a := agent("dev")
	e := newTickEnv(t, a)
	name := cname("dev", "default")
	e.tick()
	e.fake.remove(name)

	// The repair's docker run: create, then a tick looks, then start.
	var mid watchdog.TickReport
	e.fake.intercept(func(ctx context.Context, args []string, emit func(string), next nextCall) (exec.Result, error) {
		if args[0] != "run" {
			return next(ctx, emit)
		}
		e.fake.put(name, "created", managedLabels(a, "default"))
		var err error
		if mid, err = e.w.Tick(ctx); err != nil {
			t.Errorf("tick during the run: %v", err)
		}
		e.fake.remove(name)
		return next(ctx, emit)
	})
	_, evs := e.tick()
	wantEvents(t, evs, "container_missing "+name, "container_recreated "+name)
	if len(mid.Events) != 0 || stateOf(t, mid, name) == watchdog.StateStopped {
		t.Errorf("the tick during the repair's run: events %v, state %q", summary(mid.Events), stateOf(t, mid, name))
	}
	e.fake.intercept(nil)

	// A CLI replacing it under a lease: created, not yet started.
	if err := e.db.Lease(e.ctx, name, e.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	e.fake.remove(name)
	e.fake.put(name, "created", managedLabels(a, "default"))
	rep, evs := e.tick()
	wantEvents(t, evs)
	if s := stateOf(t, rep, name); s == watchdog.StateStopped {
		t.Errorf("state %q under a lease", s)
	}

	// Nobody is starting it: a stop, with docker's state.
	if err := e.db.Release(e.ctx, name); err != nil {
		t.Fatal(err)
	}
	_, evs = e.tick()
	wantEvents(t, evs, "container_stopped "+name)
	if evs[0].Detail != "docker state created (Created)" {
		t.Errorf("detail %q", evs[0].Detail)
	}
}
