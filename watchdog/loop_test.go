package watchdog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

type tickResult struct {
	rep watchdog.TickReport
	err error
	// waits is how many waits the loop had begun when the tick ended.
	waits int
}

// loopEnv runs a Loop over a tickEnv's Watcher, on the tickEnv's fake
// clock: the test sees each wait the loop begins (nextWait) and fires it
// by advancing the clock.
type loopEnv struct {
	*tickEnv
	fire   func()
	ticks  chan tickResult
	loop   *watchdog.Loop
	cancel context.CancelFunc
	done   chan error
	// seen is how many of the clock's waits the test has looked at.
	seen int
	// checks gets each check the loop runs (withAsks).
	checks chan watchdog.CheckReport
}

const (
	loopInterval = time.Minute
	loopSettle   = 2 * time.Second
)

func newLoopEnv(e *tickEnv) *loopEnv {
	trigger, fire := watchdog.NewTrigger()
	l := &loopEnv{tickEnv: e, fire: fire, ticks: make(chan tickResult, 100)}
	l.loop = &watchdog.Loop{
		Watcher: e.w, Interval: loopInterval, Clock: e.clock,
		Trigger: trigger, Settle: loopSettle,
		AfterTick: func(rep watchdog.TickReport, err error) {
			l.ticks <- tickResult{rep, err, len(e.clock.Waited())}
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

// nextWait waits for the loop to begin its next wait and returns how long
// it asked for.
func (l *loopEnv) nextWait() time.Duration {
	l.t.Helper()
	l.seen++
	if !l.clock.BlockUntilWaited(l.seen, 10*time.Second) {
		l.t.Fatal("the loop did not wait")
	}
	return l.clock.Waited()[l.seen-1]
}

// noWait wants the loop still in the wait it began last.
func (l *loopEnv) noWait() {
	l.t.Helper()
	if l.clock.BlockUntilWaited(l.seen+1, 30*time.Millisecond) {
		l.t.Fatalf("the loop waits %v, want it still waiting", l.clock.Waited()[l.seen])
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

func wantWait(t *testing.T, got, want time.Duration) {
	t.Helper()
	if got != want {
		t.Fatalf("waits %v, want %v", got, want)
	}
}

func TestLoopTicksAtOnceThenEveryInterval(t *testing.T) {
	l := newLoopEnv(newTickEnv(t, agent("dev")))
	l.start()
	if r := l.nextTick(); r.err != nil || r.waits != 0 || r.rep.Result != watchdog.TickCompleted {
		t.Fatalf("first tick %+v, want a completed one before any wait", r)
	}
	for range 3 {
		wantWait(t, l.nextWait(), loopInterval)
		l.clock.Advance(loopInterval - time.Second)
		l.noTick()
		l.clock.Advance(time.Second)
		l.nextTick()
	}
	l.stop()
}

func TestLoopTriggerBringsTheTickForwardOnceABurstSettles(t *testing.T) {
	l := newLoopEnv(newTickEnv(t, agent("dev")))
	l.start()
	l.nextTick()
	wantWait(t, l.nextWait(), loopInterval)

	l.fire()
	wantWait(t, l.nextWait(), loopSettle)
	// More of the burst arrives during the settle.
	for range 5 {
		l.fire()
	}
	l.noTick()
	l.clock.Advance(loopSettle)
	l.nextTick()
	// One tick covered the whole burst: the loop is back to the interval.
	wantWait(t, l.nextWait(), loopInterval)
	l.noTick()
	l.noWait()

	// With no settle the trigger ticks at once.
	l.stop()
	l.loop.Settle = 0
	l.start()
	l.nextTick()
	wantWait(t, l.nextWait(), loopInterval)
	l.fire()
	l.nextTick()
	wantWait(t, l.nextWait(), loopInterval)
	l.stop()
}

// tickSoon brings the loop's next tick forward with a trigger and its
// settle, as docker's event stream does.
func (l *loopEnv) tickSoon() tickResult {
	l.t.Helper()
	l.fire()
	wantWait(l.t, l.nextWait(), loopSettle)
	l.clock.Advance(loopSettle)
	return l.nextTick()
}

func TestLoopWakesForADeferredRepair(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	e.w.Backoff = pacedAfterOne
	name := cname("dev", "default")
	e.fake.remove(name)
	e.fake.setFailFor(name, "docker: Error response from daemon: pull access denied")
	l := newLoopEnv(e)
	l.start()

	l.nextTick() // the first attempt, which fails
	first := e.clock.Now()
	wantWait(t, l.nextWait(), loopInterval)
	e.w.Wait()
	wantRuns(t, e.fake, 1)

	// The next tick, 2 s on, defers the retry: the loop wakes when it is due.
	l.tickSoon()
	wantWait(t, l.nextWait(), 8*time.Second)
	wantNextWake(t, e.w, first.Add(10*time.Second))

	e.fake.runner.Reset()
	e.clock.Advance(8 * time.Second)
	if r := l.nextTick(); r.rep.Repairs != 1 {
		t.Errorf("repairs %d when due, want 1", r.rep.Repairs)
	}
	wantWait(t, l.nextWait(), loopInterval)
	e.w.Wait()
	wantRuns(t, e.fake, 1)
	l.stop()
}

func TestLoopDoesNotSpinOnARepairNoTickCanMake(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	e.w.Backoff = pacedAfterOne
	name := cname("dev", "default")
	e.fake.remove(name)
	e.fake.setFailFor(name, "docker: Error response from daemon: pull access denied")
	l := newLoopEnv(e)
	l.start()
	l.nextTick()
	l.nextWait()
	e.w.Wait()
	l.tickSoon()
	wantWait(t, l.nextWait(), 8*time.Second)

	// Docker goes away: ticks are skipped while the retry is due. Looking
	// again at once would only hammer a docker that is down.
	down := "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
	e.fake.setFail("ps", down)
	e.clock.Advance(8 * time.Second)
	if r := l.nextTick(); !errors.Is(r.err, watchdog.ErrSkipped) || r.rep.Result != watchdog.TickSkipped {
		t.Fatalf("tick %+v, want skipped", r)
	}
	if d := l.nextWait(); d <= 0 {
		l.noWait()
		t.Fatalf("after a skipped tick the loop waits %v, want a pause", d)
	} else {
		wantWait(t, d, loopInterval)
	}
	l.noTick()

	// Docker is back: the retry is made.
	e.fake.setFail("ps", "")
	e.fake.runner.Reset()
	e.clock.Advance(loopInterval)
	if r := l.nextTick(); r.err != nil || r.rep.Repairs != 1 {
		t.Errorf("tick %+v, want the retry", r)
	}
	wantWait(t, l.nextWait(), loopInterval)
	l.stop()
}

func TestLoopAfterTickSeesSkippedTicks(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	down := "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
	e.fake.setFail("ps", down)
	l := newLoopEnv(e)
	l.start()
	r := l.nextTick()
	if !errors.Is(r.err, watchdog.ErrSkipped) || r.rep.Result != watchdog.TickSkipped || r.rep.Error == "" {
		t.Fatalf("tick %+v, want a skipped one", r)
	}
	// Skipped is not the end: the loop goes on.
	wantWait(t, l.nextWait(), loopInterval)
	e.fake.setFail("ps", "")
	e.clock.Advance(loopInterval)
	if r := l.nextTick(); r.err != nil || r.rep.Result != watchdog.TickCompleted {
		t.Fatalf("tick %+v, want completed", r)
	}
	l.stop()
}

func TestLoopStopsWhenCtxEnds(t *testing.T) {
	t.Run("waiting", func(t *testing.T) {
		l := newLoopEnv(newTickEnv(t, agent("dev")))
		l.start()
		l.nextTick()
		l.nextWait()
		l.stop()
		l.noTick()
	})
	t.Run("settling", func(t *testing.T) {
		l := newLoopEnv(newTickEnv(t, agent("dev")))
		l.start()
		l.nextTick()
		l.nextWait()
		l.fire()
		wantWait(t, l.nextWait(), loopSettle)
		l.stop()
		l.noTick()
	})
	t.Run("ticking", func(t *testing.T) {
		e := newTickEnv(t, agent("dev"))
		l := newLoopEnv(e)
		l.start()
		l.nextTick()
		wantWait(t, l.nextWait(), loopInterval)
		listing := make(chan struct{}, 1)
		e.fake.setHook(func(args []string) {
			if args[0] == "ps" {
				select {
				case listing <- struct{}{}:
				default:
				}
			}
		})
		e.fake.hang("ps")
		e.clock.Advance(loopInterval)
		<-listing
		// A tick cut off by the stop means nothing: AfterTick never sees it.
		l.stop()
		l.noTick()
		l.noWait()
	})
}
