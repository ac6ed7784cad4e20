package watchdog_test

// What survives a crash of the daemon and an outage of the registry: the
// contract's invariants "nothing goes unreported, even across a crash" and
// "nothing is lost to a full disk or a locked registry".

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// outage is the registry with every call failing while down is set, as
// SQLite does past its busy timeout, or only writes failing while
// readOnly is set, as on a full disk.
type outage struct {
	watchdog.Registry
	down, readOnly atomic.Bool
}

var errFull = errors.New("database or disk is full")

func (o *outage) Agents(ctx context.Context) ([]watchdog.Agent, error) {
	if o.down.Load() {
		return nil, errFull
	}
	return o.Registry.Agents(ctx)
}

func (o *outage) Observations(ctx context.Context) (map[string]watchdog.Observation, error) {
	if o.down.Load() {
		return nil, errFull
	}
	return o.Registry.Observations(ctx)
}

func (o *outage) Observe(ctx context.Context, obs watchdog.Observation, evs ...*watchdog.Event) error {
	if o.down.Load() || o.readOnly.Load() {
		return errFull
	}
	return o.Registry.Observe(ctx, obs, evs...)
}

func (o *outage) Holds(ctx context.Context) (map[string]watchdog.Hold, error) {
	if o.down.Load() {
		return nil, errFull
	}
	return o.Registry.Holds(ctx)
}

func (o *outage) Intend(ctx context.Context, c string, at time.Time) error {
	if o.down.Load() || o.readOnly.Load() {
		return errFull
	}
	return o.Registry.Intend(ctx, c, at)
}

func TestRegistryOutageLosesNothing(t *testing.T) {
	e := newTickEnv(t, agent("aa"), agent("bb"))
	reg := &outage{Registry: e.db}
	e.w.Registry = reg
	e.tick()

	// The registry fails. The tick goes on from what it read last: it
	// reports the loss and the repair recreates the container, but the
	// events are held, not published (they have no id yet).
	reg.down.Store(true)
	e.fake.remove(cname("aa", "default"))
	e.clock.Advance(time.Minute)
	lost := e.clock.Now()
	rep, err := e.w.Tick(e.ctx)
	if err != nil || rep.Result != watchdog.TickCompleted {
		t.Fatalf("Tick = %+v, %v; want it completed from the last state read", rep, err)
	}
	if !strings.Contains(rep.Degraded, "database or disk is full") {
		t.Errorf("Degraded = %q, want why", rep.Degraded)
	}
	e.w.Wait()
	if e.fake.get(cname("aa", "default")) == nil {
		t.Fatal("not recreated while the registry was down")
	}
	if evs := e.pub.take(); len(evs) != 0 {
		t.Errorf("published %v before storing them", summary(evs))
	}

	// Still down: nothing is reported twice, nothing recreated twice.
	e.fake.runner.Reset()
	e.clock.Advance(time.Minute)
	if rep, err = e.w.Tick(e.ctx); err != nil || rep.Degraded == "" {
		t.Fatalf("second tick down: %+v, %v", rep, err)
	}
	e.w.Wait()
	wantNoCalls(t, e.fake, "run", "rm")

	// Back: the held events are stored in order with their original
	// times, then published, before the tick's own.
	reg.down.Store(false)
	e.fake.setState(cname("bb", "default"), "exited")
	e.clock.Advance(time.Minute)
	if rep, err = e.w.Tick(e.ctx); err != nil || rep.Degraded != "" {
		t.Fatalf("tick after the outage: %+v, %v; want it not degraded", rep, err)
	}
	stored, err := e.db.Events(e.ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantEvents(t, stored, "container_missing "+cname("aa", "default"), "container_recreated "+cname("aa", "default"),
		"container_stopped "+cname("bb", "default"))
	if !stored[0].Time.Equal(lost) || !stored[1].Time.Equal(lost) || stored[2].Time.Equal(lost) {
		t.Errorf("times %v, %v, %v: want the held ones at %v, when they happened", stored[0].Time, stored[1].Time, stored[2].Time, lost)
	}
	pub := e.pub.take()
	if !slices.EqualFunc(pub, stored, func(a, b watchdog.Event) bool { return a.ID == b.ID }) {
		t.Errorf("published %v, want the stored events in id order %v", summary(pub), summary(stored))
	}
	if got := e.observed(cname("aa", "default")); got != watchdog.StateRunning {
		t.Errorf("stored state of aa %q, want running", got)
	}
}

func TestRegistryFullReportsEachChangeOnce(t *testing.T) {
	e := newTickEnv(t, agent("aa"))
	reg := &outage{Registry: e.db}
	e.w.Registry = reg
	e.tick()
	name := cname("aa", "default")

	// Reads work, writes fail: the registry still says running, but the
	// stop reported and held is what the next ticks take as the last state.
	reg.readOnly.Store(true)
	e.fake.setState(name, "exited")
	for range 3 {
		e.clock.Advance(time.Minute)
		if rep, err := e.w.Tick(e.ctx); err != nil || !strings.Contains(rep.Degraded, "registry unwritable, 1 writes held") {
			t.Fatalf("tick with the disk full: %+v, %v; want one write held", rep, err)
		}
	}
	reg.readOnly.Store(false)
	e.clock.Advance(time.Minute)
	if _, err := e.w.Tick(e.ctx); err != nil {
		t.Fatal(err)
	}
	stored, err := e.db.Events(e.ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantEvents(t, stored, "container_stopped "+name)
	wantEvents(t, e.pub.take(), "container_stopped "+name)
}

func TestRegistryUnreadableFromTheStartSkipsTicks(t *testing.T) {
	e := newTickEnv(t, agent("aa"))
	reg := &outage{Registry: e.db}
	reg.down.Store(true)
	e.w.Registry = reg
	rep, err := e.w.Tick(e.ctx)
	if err == nil || rep.Result != watchdog.TickSkipped || !strings.Contains(rep.Error, "read registry") {
		t.Fatalf("Tick = %+v, %v; want it skipped: no expected set was ever read", rep, err)
	}
	wantNoCalls(t, e.fake, "ps", "run")
}

func TestRestartReportsTheRecreationItStarted(t *testing.T) {
	e := newTickEnv(t, agent("aa"), agent("bb"))
	e.tick()
	// The daemon reported both missing, had started recreating aa (its
	// intent recorded) and was killed before recording either outcome;
	// both containers run now.
	for _, n := range []string{"aa", "bb"} {
		o := watchdog.Observation{Container: cname(n, "default"), Agent: n, Instance: "default", State: watchdog.StateMissing, Since: e.clock.Now()}
		if err := e.db.Observe(e.ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.db.Intend(e.ctx, cname("aa", "default"), e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.restart()
	_, evs := e.tick()
	wantEvents(t, evs, "container_recreated "+cname("aa", "default"), "container_running "+cname("bb", "default"))
	if !strings.Contains(evs[0].Detail, "found running after the watchdog restarted; its own recreation had started") {
		t.Errorf("recreated detail %q", evs[0].Detail)
	}
	if evs[1].Detail != "was missing; found running after the watchdog restarted" {
		t.Errorf("running detail %q", evs[1].Detail)
	}
	if in, err := e.db.Intents(e.ctx); err != nil || len(in) != 0 {
		t.Errorf("intents %v, %v: want the outcome to clear it", in, err)
	}
	// Only the first look after a start says so.
	e.fake.setState(cname("bb", "default"), "exited")
	e.tick()
	e.fake.setState(cname("bb", "default"), "running")
	_, evs = e.tick()
	wantEvents(t, evs, "container_running "+cname("bb", "default"))
	if evs[0].Detail != "was stopped" {
		t.Errorf("detail %q on a later tick", evs[0].Detail)
	}
}

func TestRestartFinishesARecreationCutOffAfterCreate(t *testing.T) {
	a := agent("aa")
	e := newTickEnv(t, a)
	e.tick()
	name := cname("aa", "default")
	o := watchdog.Observation{Container: name, Agent: "aa", Instance: "default", State: watchdog.StateMissing, Since: e.clock.Now()}
	if err := e.db.Observe(e.ctx, o); err != nil {
		t.Fatal(err)
	}
	if err := e.db.Intend(e.ctx, name, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	// docker created the container, then the daemon's docker run died.
	e.fake.remove(name)
	e.fake.put(name, "created", managedLabels(a, "default"))
	e.restart()
	_, evs := e.tick()
	wantEvents(t, evs, "container_recreated "+name)
	if c := e.fake.get(name); c == nil || c.State != "running" {
		t.Fatalf("container %+v, want it replaced and running", c)
	}
	if len(e.fake.calls("rm")) != 1 || len(e.fake.calls("run")) != 1 {
		t.Errorf("calls %q: want one rm of the created container, one run", e.fake.runner.Calls())
	}
}
