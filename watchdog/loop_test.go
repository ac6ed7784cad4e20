package watchdog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// timer is one call of the fake After: the duration asked for and the
// channel the test fires.
type timer struct {
	d  time.Duration
	ch chan time.Time
}

func (tm timer) fire() { tm.ch <- time.Time{} }

// timers is a fake time.After: every call is handed to the test.
type timers struct{ reqs chan timer }

func newTimers() *timers { return &timers{reqs: make(chan timer, 1000)} }

func (ts *timers) After(d time.Duration) <-chan time.Time {
	tm := timer{d: d, ch: make(chan time.Time, 1)}
	ts.reqs <- tm
	return tm.ch
}

// next returns the loop's next wait.
func (ts *timers) next(t *testing.T) timer {
	t.Helper()
	select {
	case tm := <-ts.reqs:
		return tm
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not wait")
	}
	return timer{}
}

func (ts *timers) none(t *testing.T) {
	t.Helper()
	select {
	case tm := <-ts.reqs:
		t.Fatalf("the loop waits %v, want it still waiting", tm.d)
	case <-time.After(30 * time.Millisecond):
	}
}

type tickResult struct {
	rep watchdog.TickReport
	err error
	// waits is how many timers the loop had asked for when the tick ended.
	waits int
}

// loopEnv runs a Loop over a tickEnv's Watcher, with fake timers.
type loopEnv struct {
	*tickEnv
	timers *timers
	fire   func()
	ticks  chan tickResult
	loop   *watchdog.Loop
	cancel context.CancelFunc
	done   chan error
}

const (
	loopInterval = time.Minute
	loopSettle   = 2 * time.Second
)

func newLoopEnv(e *tickEnv) *loopEnv {
	trigger, fire := watchdog.NewTrigger()
	l := &loopEnv{tickEnv: e, timers: newTimers(), fire: fire, ticks: make(chan tickResult, 100)}
	l.loop = &watchdog.Loop{
		Watcher: e.w, Interval: loopInterval, Clock: testClock{Clock: e.clock, after: l.timers.After},
		Trigger: trigger, Settle: loopSettle,
		AfterTick: func(rep watchdog.TickReport, err error) {
			l.ticks <- tickResult{rep, err, len(l.timers.reqs)}
		},
	}
	return l
}

func (l *loopEnv) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	l.cancel, l.done = cancel, done
	go func() { done <- l.loop.Run(ctx) }()
	l.t.Cleanup(func() {
		cancel()
		<-done
		l.w.Wait()
	})
}

func (l *loopEnv) nextTick() tickResult {
	l.t.Helper()
	select {
	case r := <-l.ticks:
		return r
	case <-time.After(10 * time.Second):
		l.t.Fatal("no tick")
	}
	return tickResult{}
}

func (l *loopEnv) noTick() {
	l.t.Helper()
	select {
	case r := <-l.ticks:
		l.t.Fatalf("unexpected tick %+v", r.rep)
	case <-time.After(30 * time.Millisecond):
	}
}

// stop cancels the loop and wants Run to return nil promptly.
func (l *loopEnv) stop() {
	l.t.Helper()
	l.cancel()
	select {
	case err := <-l.done:
		if err != nil {
			l.t.Errorf("Run = %v, want nil when ctx ends", err)
		}
		l.done <- nil // for the cleanup
	case <-time.After(10 * time.Second):
		l.t.Fatal("Run did not return after cancel")
	}
}

func wantWait(t *testing.T, tm timer, d time.Duration) {
	t.Helper()
	if tm.d != d {
		t.Fatalf("the loop waits %v, want %v", tm.d, d)
	}
}

func TestLoopTicksAtOnceThenEveryInterval(t *testing.T) {
	l := newLoopEnv(newTickEnv(t, agent("dev")))
	l.start()
	if r := l.nextTick(); r.err != nil || r.waits != 0 || r.rep.Result != "completed" {
		t.Fatalf("first tick %+v, want a completed one before any wait", r)
	}
	for range 3 {
		tm := l.timers.next(t)
		wantWait(t, tm, loopInterval)
		l.noTick()
		tm.fire()
		l.nextTick()
	}
	l.stop()
}

func TestLoopTriggerBringsTheTickForwardOnceABurstSettles(t *testing.T) {
	l := newLoopEnv(newTickEnv(t, agent("dev")))
	l.start()
	l.nextTick()
	wantWait(t, l.timers.next(t), loopInterval)

	l.fire()
	settle := l.timers.next(t)
	wantWait(t, settle, loopSettle)
	// More of the burst arrives during the settle.
	for range 5 {
		l.fire()
	}
	l.noTick()
	settle.fire()
	l.nextTick()
	// One tick covered the whole burst: the loop is back to the interval.
	wantWait(t, l.timers.next(t), loopInterval)
	l.noTick()
	l.timers.none(t)

	// With no settle the trigger ticks at once.
	l.stop()
	l.loop.Settle = 0
	l.start()
	l.nextTick()
	wantWait(t, l.timers.next(t), loopInterval)
	l.fire()
	l.nextTick()
	wantWait(t, l.timers.next(t), loopInterval)
	l.stop()
}

func TestLoopWakesForADeferredRepair(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	name := cname("dev", "default")
	e.fake.remove(name)
	e.fake.setFailFor(name, "docker: Error response from daemon: pull access denied")
	l := newLoopEnv(e)
	l.start()

	l.nextTick() // the first attempt, which fails
	first := e.clock.Now()
	tm := l.timers.next(t)
	wantWait(t, tm, loopInterval)
	e.w.Wait()
	wantRuns(t, e.fake, 1)

	// The next tick defers the retry: the loop wakes when it is due.
	e.clock.Advance(2 * time.Second)
	tm.fire()
	l.nextTick()
	tm = l.timers.next(t)
	wantWait(t, tm, 8*time.Second)
	wantNextWake(t, e.w, first.Add(10*time.Second))

	e.clock.Advance(8 * time.Second)
	e.fake.runner.Reset()
	tm.fire()
	if r := l.nextTick(); r.rep.Repairs != 1 {
		t.Errorf("repairs %d when due, want 1", r.rep.Repairs)
	}
	wantWait(t, l.timers.next(t), loopInterval)
	e.w.Wait()
	wantRuns(t, e.fake, 1)
	l.stop()
}

func TestLoopDoesNotSpinOnARepairNoTickCanMake(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	name := cname("dev", "default")
	e.fake.remove(name)
	e.fake.setFailFor(name, "docker: Error response from daemon: pull access denied")
	l := newLoopEnv(e)
	l.start()
	l.nextTick()
	tm := l.timers.next(t)
	e.w.Wait()
	e.clock.Advance(2 * time.Second)
	tm.fire()
	l.nextTick()
	tm = l.timers.next(t)
	wantWait(t, tm, 8*time.Second)

	// Docker goes away: ticks are skipped while the retry is due. Looking
	// again at once would only hammer a docker that is down.
	down := "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
	e.fake.setFail("ps", down)
	e.clock.Advance(8 * time.Second)
	tm.fire()
	if r := l.nextTick(); !errors.Is(r.err, watchdog.ErrSkipped) || r.rep.Result != "skipped" {
		t.Fatalf("tick %+v, want skipped", r)
	}
	tm = l.timers.next(t)
	if tm.d <= 0 {
		l.timers.none(t)
		t.Fatalf("after a skipped tick the loop waits %v, want a pause", tm.d)
	}
	wantWait(t, tm, loopInterval)
	l.noTick()

	// Docker is back: the retry is made.
	e.fake.setFail("ps", "")
	e.fake.runner.Reset()
	e.clock.Advance(time.Minute)
	tm.fire()
	if r := l.nextTick(); r.err != nil || r.rep.Repairs != 1 {
		t.Errorf("tick %+v, want the retry", r)
	}
	wantWait(t, l.timers.next(t), loopInterval)
	l.stop()
}

func TestLoopAfterTickSeesSkippedTicks(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	down := "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
	e.fake.setFail("ps", down)
	l := newLoopEnv(e)
	l.start()
	r := l.nextTick()
	if !errors.Is(r.err, watchdog.ErrSkipped) || r.rep.Result != "skipped" || r.rep.Error == "" {
		t.Fatalf("tick %+v, want a skipped one", r)
	}
	// Skipped is not the end: the loop goes on.
	tm := l.timers.next(t)
	wantWait(t, tm, loopInterval)
	e.fake.setFail("ps", "")
	tm.fire()
	if r := l.nextTick(); r.err != nil || r.rep.Result != "completed" {
		t.Fatalf("tick %+v, want completed", r)
	}
	l.stop()
}

func TestLoopStopsWhenCtxEnds(t *testing.T) {
	t.Run("waiting", func(t *testing.T) {
		l := newLoopEnv(newTickEnv(t, agent("dev")))
		l.start()
		l.nextTick()
		l.timers.next(t)
		l.stop()
		l.noTick()
	})
	t.Run("settling", func(t *testing.T) {
		l := newLoopEnv(newTickEnv(t, agent("dev")))
		l.start()
		l.nextTick()
		l.timers.next(t)
		l.fire()
		wantWait(t, l.timers.next(t), loopSettle)
		l.stop()
		l.noTick()
	})
	t.Run("ticking", func(t *testing.T) {
		e := newTickEnv(t, agent("dev"))
		l := newLoopEnv(e)
		l.start()
		l.nextTick()
		tm := l.timers.next(t)
		listing := make(chan struct{}, 1)
		e.fake.setHook(func(args []string) {
			if args[0] == "ps" {
				select {
				case listing <- struct{}{}:
				default:
				}
			}
		})
		e.fake.setBlock("ps", 0)
		tm.fire()
		<-listing
		// A tick cut off by the stop means nothing: AfterTick never sees it.
		l.stop()
		l.noTick()
		l.timers.none(t)
	})
}
