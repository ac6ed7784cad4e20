package watchdog_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/exec"
	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/docker"
)

// withAsks gives the loop an Asks and returns it; each check the loop
// runs goes to l.checks.
func (l *loopEnv) withAsks() *watchdog.Asks {
	a := watchdog.NewAsks()
	l.checks = make(chan watchdog.CheckReport, 100)
	l.loop.Asks = a
	l.loop.AfterCheck = func(rep watchdog.CheckReport, _ error) { l.checks <- rep }
	return a
}

func (l *loopEnv) nextCheck() watchdog.CheckReport {
	l.t.Helper()
	select {
	case r := <-l.checks:
		return r
	case <-time.After(10 * time.Second):
		l.t.Fatal("no check")
	}
	return watchdog.CheckReport{}
}

// A removal is checked at once, between ticks, with no settle and no
// tick; the periodic tick keeps its time.
func TestLoopChecksARemovalAtOnceWithoutATick(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	name := cname("dev", "default")
	l := newLoopEnv(e)
	a := l.withAsks()
	l.start()
	l.nextTick()
	wantWait(t, l.nextWait(), loopInterval)
	l.clock.Advance(loopInterval / 2)

	e.fake.remove(name)
	a.Check(name)
	if r := l.nextCheck(); r.Result != watchdog.CheckJudged || r.Instance.State != watchdog.StateMissing || r.Repairs != 1 {
		t.Fatalf("check %+v, want judged missing with a repair", r)
	}
	l.noWait()
	l.noTick()
	e.w.Wait()
	wantEvents(t, e.pub.take(), "container_missing "+name, "container_recreated "+name)
	l.clock.Advance(loopInterval / 2)
	l.nextTick()
	wantWait(t, l.nextWait(), loopInterval)
	l.stop()
}

// docker rm -f sends die, then destroy: the die asks for a tick and the
// loop settles; the destroy's check covers the die, and no tick follows.
// A death of a container still there is a tick after the settle, as is a
// check that cannot judge (an orphan's removal).
func TestLoopTickAskedForADeathIsCoveredByTheRemovalsCheck(t *testing.T) {
	e := newTickEnv(t, agent("dev"), agent("web"))
	dev, web := cname("dev", "default"), cname("web", "default")
	l := newLoopEnv(e)
	a := l.withAsks()
	l.start()
	l.nextTick()
	wantWait(t, l.nextWait(), loopInterval)

	e.fake.remove(dev)
	a.Tick(dev)
	wantWait(t, l.nextWait(), loopSettle)
	a.Check(dev)
	l.nextCheck()
	l.clock.Advance(loopSettle)
	l.noTick()
	l.noWait() // still the interval's wait

	e.fake.setState(web, "exited")
	a.Tick(web)
	wantWait(t, l.nextWait(), loopSettle)
	l.clock.Advance(loopSettle)
	if r := l.nextTick(); stateOf(t, r.rep, web) != watchdog.StateStopped {
		t.Errorf("tick %+v, want %s stopped", r.rep, web)
	}
	wantWait(t, l.nextWait(), loopInterval)

	a.Check(cname("orphan", "default"))
	if r := l.nextCheck(); r.Result != watchdog.CheckUnregistered {
		t.Errorf("check %+v, want unregistered", r)
	}
	wantWait(t, l.nextWait(), loopSettle)
	l.clock.Advance(loopSettle)
	l.nextTick()
	l.stop()
}

// followLoop is a loop and docker's event follower wired as the daemon
// wires them, over one Watcher on the fake docker: the follower's asks
// go to the loop, and the watcher says what is its own doing. delivered
// logs each event's "action container" as the follower gets it.
type followLoop struct {
	*loopEnv
	mu        sync.Mutex
	delivered []string
}

func newFollowLoop(t *testing.T, e *tickEnv) *followLoop {
	fl := &followLoop{loopEnv: newLoopEnv(e)}
	asks := fl.withAsks()
	e.w.Evidence = watchdog.NewEvidence(16, 10*time.Minute)
	opened := make(chan struct{}, 10)
	e.fake.docker.OnFollow = func() { opened <- struct{}{} }
	e.fake.intercept(func(ctx context.Context, args []string, emit func(string), next nextCall) (exec.Result, error) {
		switch args[0] {
		case "run", "restart":
			// A call takes time: docker stamps its events (the fake, a
			// nanosecond apart from the call's start) before it returns.
			defer e.clock.Advance(time.Millisecond)
			return next(ctx, emit)
		case "events":
		default:
			return next(ctx, emit)
		}
		return next(ctx, func(line string) {
			emit(line) // the follower first: what is logged was handled
			if ev, err := docker.ParseEvent([]byte(line)); err == nil {
				fl.mu.Lock()
				fl.delivered = append(fl.delivered, ev.Action+" "+ev.Container)
				fl.mu.Unlock()
			}
		})
	})
	f := &watchdog.Follower{Source: e.fake.client, Prefix: prefix, Evidence: e.w.Evidence, Trigger: fl.fire,
		Asks: asks, Own: e.w.Own, Clock: e.clock, Log: discardLog(),
		Backoff: watchdog.Backoff{Initial: time.Second, Max: time.Second, Reset: time.Second, Burst: 1}}
	fl.start()
	fl.nextTick()
	wantWait(t, fl.nextWait(), loopInterval)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-opened
	// The stream's start asks for a tick (events may have been missed).
	wantWait(t, fl.nextWait(), loopSettle)
	fl.clock.Advance(loopSettle)
	fl.nextTick()
	wantWait(t, fl.nextWait(), loopInterval)
	return fl
}

// waitDelivered waits until the follower has handled event ("action
// container").
func (fl *followLoop) waitDelivered(event string) {
	fl.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		fl.mu.Lock()
		ok := slices.Contains(fl.delivered, event)
		fl.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			fl.t.Fatalf("the follower never got %q; got %q", event, fl.delivered)
		}
	}
}

// End to end in-process: docker rm -f of one of many containers is one
// exact-name lookup, reported with docker's evidence and repaired, with
// no listing; the repair's own create and start ask for nothing. Another
// container's death still brings a tick.
func TestRemovalIsOneLookupAndOwnEventsAskNoTick(t *testing.T) {
	e := newTickEnv(t, agent("dev"), agent("web", "a", "b", "c"), agent("db"))
	fl := newFollowLoop(t, e)
	name, other := cname("web", "b"), cname("db", "default")
	e.fake.runner.Reset()
	waits := len(e.clock.Waited())

	e.fake.remove(name)
	if r := fl.nextCheck(); r.Result != watchdog.CheckJudged || r.Instance.State != watchdog.StateMissing {
		t.Fatalf("check %+v, want judged missing", r)
	}
	// The die may have begun a settle before the destroy came: let it end.
	if len(e.clock.Waited()) > waits {
		wantWait(t, fl.nextWait(), loopSettle)
		e.clock.Advance(loopSettle)
	}
	e.w.Wait()
	fl.waitDelivered("start " + name) // the repair's own
	fl.noTick()
	fl.noWait()
	evs := e.pub.take()
	wantEvents(t, evs, "container_missing "+name, "container_recreated "+name)
	if evs[0].Evidence["CONTAINER_LIFECYCLE"] != "kill,die,destroy" {
		t.Errorf("missing report evidence %v, want docker's kill, die, destroy", evs[0].Evidence)
	}
	if got := listings(e.fake); len(got) != 0 {
		t.Errorf("listings %q for one removal, want none", got)
	}
	// One lookup is the check's; the other is the repair's own look
	// before its docker run.
	if got := e.fake.calls("ps"); len(got) != 2 {
		t.Errorf("lookups %q, want the check's and the repair's", got)
	}
	wantRuns(t, e.fake, 1)

	e.fake.setState(other, "exited")
	wantWait(t, fl.nextWait(), loopSettle)
	e.clock.Advance(loopSettle)
	if r := fl.nextTick(); stateOf(t, r.rep, other) != watchdog.StateStopped {
		t.Errorf("tick %+v, want %s stopped", r.rep, other)
	}
	fl.stop()
}

// The watchdog's own unhealthy restart (kill, die, stop, start) asks for
// no tick either.
func TestOwnRestartAsksNoTick(t *testing.T) {
	e := newTickEnv(t, healthAgent(watchdog.OnUnhealthyRestart, 0))
	name := cname("dev", "default")
	fl := newFollowLoop(t, e)
	e.probe(name, "unhealthy", 1, "down")
	wantWait(t, fl.nextWait(), loopSettle) // health_status asks for a tick
	e.clock.Advance(loopSettle)
	fl.nextTick()
	wantWait(t, fl.nextWait(), loopInterval)
	e.w.Wait()
	if c := e.fake.calls("restart"); len(c) != 1 {
		t.Fatalf("restart calls %q, want one", c)
	}
	fl.waitDelivered("start " + name)
	fl.noTick()
	fl.noWait()
	fl.stop()
}

// A death is looked at after the settle with one call about the
// container: gone (docker rm -f whose destroy comes late), it is judged
// there, with no tick; being removed, its destroy's check will judge it;
// still there, a tick judges it.
func TestLoopDeathIsOneLookupThenATickOnlyIfStillThere(t *testing.T) {
	e := newTickEnv(t, agent("dev"), agent("web"), agent("db"))
	dev, web, db := cname("dev", "default"), cname("web", "default"), cname("db", "default")
	l := newLoopEnv(e)
	a := l.withAsks()
	l.start()
	l.nextTick()
	wantWait(t, l.nextWait(), loopInterval)

	e.fake.remove(dev)
	e.fake.runner.Reset()
	a.Died(dev)
	wantWait(t, l.nextWait(), loopSettle)
	l.clock.Advance(loopSettle)
	if r := l.nextCheck(); r.Result != watchdog.CheckJudged || r.Instance.State != watchdog.StateMissing {
		t.Fatalf("check %+v, want judged missing", r)
	}
	l.noTick()
	l.noWait()
	e.w.Wait()
	wantEvents(t, e.pub.take(), "container_missing "+dev, "container_recreated "+dev)
	if got := listings(e.fake); len(got) != 0 {
		t.Errorf("listings %q, want none", got)
	}

	e.fake.setState(web, "removing")
	a.Died(web)
	wantWait(t, l.nextWait(), loopSettle)
	l.clock.Advance(loopSettle)
	if r := l.nextCheck(); r.Result != watchdog.CheckRemoving {
		t.Fatalf("check %+v, want removing", r)
	}
	l.noTick()
	l.noWait()
	e.fake.remove(web)
	a.Check(web)
	if r := l.nextCheck(); r.Result != watchdog.CheckJudged || r.Instance.State != watchdog.StateMissing {
		t.Fatalf("check %+v, want judged missing", r)
	}
	e.w.Wait()
	wantEvents(t, e.pub.take(), "container_missing "+web, "container_recreated "+web)

	e.fake.setState(db, "exited")
	a.Died(db)
	wantWait(t, l.nextWait(), loopSettle)
	l.clock.Advance(loopSettle)
	if r := l.nextCheck(); r.Result != watchdog.CheckPresent {
		t.Fatalf("check %+v, want present", r)
	}
	if r := l.nextTick(); stateOf(t, r.rep, db) != watchdog.StateStopped {
		t.Errorf("tick %+v, want %s stopped", r.rep, db)
	}
	wantEvents(t, e.pub.take(), "container_stopped "+db)
	l.stop()
}

// A check that defers a repair (the fourth removal of a streak is paced)
// brings the loop's wake forward to the deferral's end: the repair does
// not wait for the periodic tick.
func TestLoopWakesForARepairACheckDeferred(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	name := cname("dev", "default")
	l := newLoopEnv(e)
	a := l.withAsks()
	l.start()
	l.nextTick()
	wantWait(t, l.nextWait(), loopInterval)
	for i := range watchdog.DefaultBackoff.Burst { // the burst: recreated at once
		e.fake.remove(name)
		a.Check(name)
		if r := l.nextCheck(); r.Repairs != 1 {
			t.Fatalf("removal %d: check %+v, want a repair at once", i+1, r)
		}
		e.w.Wait()
	}
	e.pub.take()

	e.fake.remove(name)
	a.Check(name)
	if r := l.nextCheck(); r.Result != watchdog.CheckJudged || r.Repairs != 0 {
		t.Fatalf("check %+v, want judged with the repair deferred", r)
	}
	wantWait(t, l.nextWait(), watchdog.DefaultBackoff.Initial)
	l.clock.Advance(watchdog.DefaultBackoff.Initial)
	l.nextTick()
	e.w.Wait()
	got := e.pub.take()
	if len(got) == 0 || got[len(got)-1].Type != watchdog.EventRecreated {
		t.Fatalf("events %v, want the deferred recreation once it fell due", got)
	}
	l.stop()
}
