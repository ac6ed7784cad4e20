package watchdog_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

func wantNextWake(t *testing.T, w *watchdog.Watcher, want time.Time) {
	t.Helper()
	if got := w.NextWake(); !got.Equal(want) {
		t.Errorf("NextWake = %v, want %v", got, want)
	}
}

func wantRuns(t *testing.T, f *fakeDocker, n int) {
	t.Helper()
	if got := f.calls("run"); len(got) != n {
		t.Errorf("run calls %q, want %d", got, n)
	}
}

// gate holds every `docker run` until released, counting those in flight.
type gate struct {
	release chan struct{}

	mu                    sync.Mutex
	inflight, most, total int
}

func newGate() *gate { return &gate{release: make(chan struct{})} }

func (g *gate) hook(args []string) {
	if args[0] != "run" {
		return
	}
	g.mu.Lock()
	g.inflight++
	g.total++
	g.most = max(g.most, g.inflight)
	g.mu.Unlock()
	<-g.release
	g.mu.Lock()
	g.inflight--
	g.mu.Unlock()
}

func (g *gate) counts() (inflight, most, total int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inflight, g.most, g.total
}

// waitInflight waits until n runs are held.
func (g *gate) waitInflight(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if in, _, _ := g.counts(); in == n {
			return
		}
		if time.Now().After(deadline) {
			in, most, total := g.counts()
			t.Fatalf("runs in flight %d (most %d, total %d), want %d", in, most, total, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// tickAsync runs a tick that must return within a few seconds whatever its
// repairs do.
func (e *tickEnv) tickAsync() watchdog.TickReport {
	e.t.Helper()
	type result struct {
		rep watchdog.TickReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := e.w.Tick(e.ctx)
		done <- result{rep, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			e.t.Fatalf("Tick: %v", r.err)
		}
		return r.rep
	case <-time.After(5 * time.Second):
		e.t.Fatal("Tick waited for its repairs")
	}
	return watchdog.TickReport{}
}

func TestRepairsRunOnABoundedPool(t *testing.T) {
	instances := []string{"a", "b", "c", "d", "e", "f"}
	e := newTickEnv(t, agent("dev", instances...))
	e.w.Parallelism = 2
	e.tick()
	for _, i := range instances {
		e.fake.remove(cname("dev", i))
	}
	g := newGate()
	e.fake.setHook(g.hook)
	t.Cleanup(func() {
		select {
		case <-g.release:
		default:
			close(g.release)
		}
		e.w.Wait()
	})

	e.clock.Advance(time.Minute)
	e.fake.runner.Reset()
	rep := e.tickAsync()
	if rep.Repairs != len(instances) {
		t.Errorf("repairs started %d, want %d", rep.Repairs, len(instances))
	}
	if got := e.published(rep); len(got) != len(instances) {
		t.Errorf("published %v before the repairs ended, want the %d missing events", summary(got), len(instances))
	}

	// Two runs go, the others queue behind them.
	g.waitInflight(t, 2)
	time.Sleep(50 * time.Millisecond)
	if in, most, total := g.counts(); in != 2 || most != 2 || total != 2 {
		t.Errorf("in flight %d, most %d, started %d: want 2 at a time", in, most, total)
	}

	close(g.release)
	e.w.Wait()
	if _, most, total := g.counts(); most != 2 || total != len(instances) {
		t.Errorf("most in flight %d, runs %d: want at most 2 at a time, %d in all", most, total, len(instances))
	}
	evs := e.published(watchdog.TickReport{})
	if len(evs) != len(instances) {
		t.Fatalf("events %v, want a recreation each", summary(evs))
	}
	for i, in := range instances {
		name := cname("dev", in)
		if evs[i].Type != watchdog.EventRecreated || evs[i].Container != name || e.fake.get(name) == nil {
			t.Errorf("event %+v, container %v: want %s recreated", evs[i], e.fake.get(name), name)
		}
	}
	_, evs = e.tick()
	wantEvents(t, evs)
}

func TestTickLeavesAnInstanceUnderRepairAlone(t *testing.T) {
	e := newTickEnv(t, agent("dev"), agent("ops"))
	e.tick()
	name, other := cname("dev", "default"), cname("ops", "default")
	e.fake.remove(name)
	g := newGate()
	e.fake.setHook(g.hook)
	t.Cleanup(func() {
		select {
		case <-g.release:
		default:
			close(g.release)
		}
		e.w.Wait()
	})

	e.clock.Advance(time.Minute)
	rep := e.tickAsync()
	wantEvents(t, e.published(rep), "container_missing "+name)
	g.waitInflight(t, 1)

	// A tick while the repair is under way judges the others only.
	e.fake.setState(other, "exited")
	e.clock.Advance(time.Minute)
	e.fake.runner.Reset()
	rep = e.tickAsync()
	wantEvents(t, e.published(rep), "container_stopped "+other)
	if rep.Repairs != 0 || stateOf(t, rep, name) != watchdog.StateMissing {
		t.Errorf("repairs %d, state %q: want no second repair, the last state seen", rep.Repairs, stateOf(t, rep, name))
	}
	if c := e.fake.runner.Calls(); len(c) != 1 || len(e.fake.calls("ps")) != 1 {
		t.Errorf("calls %q, want the listing only", c)
	}
	if _, _, total := g.counts(); total != 1 {
		t.Errorf("runs %d, want 1", total)
	}

	close(g.release)
	e.w.Wait()
	wantEvents(t, e.published(watchdog.TickReport{}), "container_recreated "+name)
	_, evs := e.tick()
	wantEvents(t, evs)
}

// hookedRegistry runs a hook when a tick reads the observations, which it
// does right after listing docker.
type hookedRegistry struct {
	watchdog.Registry
	onObservations func()
}

func (r *hookedRegistry) Observations(ctx context.Context) (map[string]watchdog.Observation, error) {
	if f := r.onObservations; f != nil {
		r.onObservations = nil
		f()
	}
	return r.Registry.Observations(ctx)
}

func TestTickSkipsAnInstanceRepairedAfterTheListing(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	reg := &hookedRegistry{Registry: e.db}
	e.w.Registry = reg
	e.tick()
	name := cname("dev", "default")
	e.fake.remove(name)
	g := newGate()
	e.fake.setHook(g.hook)

	e.clock.Advance(time.Minute)
	rep := e.tickAsync()
	wantEvents(t, e.published(rep), "container_missing "+name)
	g.waitInflight(t, 1)

	// The repair ends after the next listing has seen the container missing:
	// that listing is stale for it.
	reg.onObservations = func() {
		e.clock.Advance(time.Second)
		close(g.release)
		e.w.Wait()
	}
	e.clock.Advance(time.Minute)
	e.fake.runner.Reset()
	rep = e.tickAsync()
	if rep.Repairs != 0 || len(rep.Events) != 0 || stateOf(t, rep, name) != watchdog.StateRunning {
		t.Errorf("repairs %d, events %v, state %q: want the instance left alone, as the repair recorded it",
			rep.Repairs, summary(rep.Events), stateOf(t, rep, name))
	}
	wantEvents(t, e.published(rep), "container_recreated "+name)
	if c := e.fake.runner.Calls(); len(c) != 1 {
		t.Errorf("calls %q, want the listing only", c)
	}

	_, evs := e.tick()
	wantEvents(t, evs)
	wantRuns(t, e.fake, 0)
}

func TestWakeComesAfterTheRepairIsDone(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	e.w.Backoff = pacedAfterOne
	e.tick()
	name := cname("dev", "default")
	e.fake.remove(name)
	e.fake.setFailFor(name, "docker: Error response from daemon: pull access denied")

	// The loop, with no settle, ticks the moment it is woken.
	woke, ticked := make(chan struct{}, 1), make(chan struct{})
	e.w.Wake = func() {
		woke <- struct{}{}
		<-ticked
	}
	e.clock.Advance(time.Minute)
	first := e.clock.Now()
	rep := e.tickAsync()
	select {
	case <-woke:
	case <-time.After(10 * time.Second):
		t.Fatal("a failed repair did not wake the loop")
	}
	wantEvents(t, e.published(rep), "container_missing "+name, "container_recreate_failed "+name)
	e.clock.Advance(time.Second)
	rep = e.tickAsync()
	close(ticked)
	e.w.Wait()
	// The woken tick must see the failed attempt, and time the next.
	if rep.Repairs != 0 {
		t.Errorf("repairs %d, want the retry deferred", rep.Repairs)
	}
	wantNextWake(t, e.w, first.Add(10*time.Second))
}

// Concurrent repairs must publish in event-log order: an SSE client skips
// any id at or below the last it got, so an id published late is lost.
func TestConcurrentRepairsPublishInIDOrder(t *testing.T) {
	var instances []string
	for i := 0; i < 24; i++ {
		instances = append(instances, fmt.Sprintf("i%02d", i))
	}
	e := newTickEnv(t, agent("dev", instances...))
	e.w.Parallelism = 8
	// A short pause in every publish widens the window between storing an
	// event and publishing it, where an unordered repair would overtake.
	e.w.Publisher = watchdog.PublisherFunc(func(ev watchdog.Event) {
		time.Sleep(time.Millisecond)
		e.pub.Publish(ev)
	})
	e.tick()
	for _, i := range instances {
		e.fake.remove(cname("dev", i))
	}
	e.pub.take()
	e.clock.Advance(time.Minute)
	if _, err := e.w.Tick(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.w.Wait()
	evs := e.pub.take()
	if len(evs) != 2*len(instances) {
		t.Fatalf("published %d events, want %d", len(evs), 2*len(instances))
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].ID <= evs[i-1].ID {
			t.Fatalf("published id %d after id %d: %v", evs[i].ID, evs[i-1].ID, summary(evs))
		}
	}
}
