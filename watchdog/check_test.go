package watchdog_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/exec"
	"github.com/container-watchdog/container-watchdog/watchdog"
)

// check advances the clock by d, checks name, waits for the repair it
// started, and returns its report and every event published, checked as
// tickAfter checks a tick's.
func (e *tickEnv) checkAfter(d time.Duration, name string) (watchdog.CheckReport, []watchdog.Event) {
	e.t.Helper()
	e.clock.Advance(d)
	rep, err := e.w.Check(e.ctx, name)
	if err != nil {
		e.t.Fatalf("Check(%s): %v", name, err)
	}
	e.w.Wait()
	return rep, e.published(watchdog.TickReport{Events: rep.Events})
}

// listings are the tick's `docker ps` calls: every ps but the exact-name
// lookups (docker.Client.Get).
func listings(f *fakeDocker) [][]string {
	var out [][]string
	for _, c := range f.calls("ps") {
		if !isGet(c[1:]) {
			out = append(out, c)
		}
	}
	return out
}

// A removal is checked with one docker call about that name, reported at
// once with docker's evidence, persisted, and repaired; the next tick
// finds nothing new to report. Several agents: the check looks at one.
func TestCheckReportsARemovalWithOneCallAndRepairsIt(t *testing.T) {
	e := newTickEnv(t, agent("dev"), agent("web", "a", "b"), agent("db"))
	e.w.Evidence = watchdog.NewEvidence(16, 10*time.Minute)
	name := cname("web", "b")
	e.tick()
	e.fake.remove(name)
	e.w.Evidence.Record(watchdog.Lifecycle{Time: e.clock.Now(), Container: name, Action: "kill", Signal: "9"})
	e.w.Evidence.Record(watchdog.Lifecycle{Time: e.clock.Now(), Container: name, Action: "destroy"})

	// The repair's own look waits, so the calls answered meanwhile are
	// the check's alone (the runner records a call before it is answered).
	repairLooks := make(chan struct{})
	var mu sync.Mutex
	var answered [][]string
	gets := 0
	e.fake.intercept(func(ctx context.Context, args []string, emit func(string), next nextCall) (exec.Result, error) {
		mu.Lock()
		if isGet(args) {
			gets++
		}
		wait := isGet(args) && gets > 1
		mu.Unlock()
		if wait {
			<-repairLooks
		}
		mu.Lock()
		answered = append(answered, args)
		mu.Unlock()
		return next(ctx, emit)
	})
	e.fake.runner.Reset()
	rep, err := e.w.Check(e.ctx, name)
	if err != nil || rep.Result != watchdog.CheckJudged || rep.Repairs != 1 || rep.Instance.State != watchdog.StateMissing {
		t.Fatalf("Check = %+v, %v; want judged missing, one repair", rep, err)
	}
	mu.Lock()
	calls := slices.Clone(answered)
	mu.Unlock()
	if len(calls) != 1 || !isGet(calls[0]) || !mentions(calls[0], "name=^/?"+name+"$") {
		t.Fatalf("check made docker calls %q, want one exact-name lookup of %s", calls, name)
	}
	close(repairLooks)
	e.w.Wait()
	evs := e.published(watchdog.TickReport{Events: rep.Events})
	wantEvents(t, evs, "container_missing "+name, "container_recreated "+name)
	if !strings.Contains(evs[0].Detail, "likely removed by force") || evs[0].Evidence["CONTAINER_LIFECYCLE"] != "kill,destroy" {
		t.Errorf("missing report %+v, want docker's evidence", evs[0])
	}
	if got := listings(e.fake); len(got) != 0 {
		t.Errorf("listings %q, want none", got)
	}
	wantRuns(t, e.fake, 1)
	if s := e.observed(name); s != watchdog.StateRunning {
		t.Errorf("observed %q after the repair, want running", s)
	}
	// Edge-triggered as a tick: the next tick has nothing to say.
	_, evs = e.tick()
	wantEvents(t, evs)
	wantRuns(t, e.fake, 0)
}

// A check that finds the container still there judges it as a tick would
// (nothing new), and a second check of a loss reported already says
// nothing again.
func TestCheckIsEdgeTriggered(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	name := cname("dev", "default")
	e.w.Backoff = pacedAfterOne
	e.tick()
	rep, evs := e.checkAfter(time.Second, name)
	wantEvents(t, evs)
	if rep.Instance.State != watchdog.StateRunning {
		t.Errorf("state %q, want running", rep.Instance.State)
	}
	e.fake.remove(name)
	_, evs = e.checkAfter(time.Second, name)
	wantEvents(t, evs, "container_missing "+name, "container_recreated "+name)
	e.fake.remove(name)
	_, evs = e.checkAfter(time.Second, name)
	wantEvents(t, evs, "container_missing "+name) // paced: deferred
	e.fake.runner.Reset()
	_, evs = e.checkAfter(time.Second, name)
	wantEvents(t, evs)
	wantRuns(t, e.fake, 0)
}

// Holds and leases apply to the check exactly as to the tick.
func TestCheckHonoursHoldsAndLeases(t *testing.T) {
	e := newTickEnv(t, agent("dev"), agent("web"))
	held, leased := cname("dev", "default"), cname("web", "default")
	e.tick()
	e.hold(held, "maintenance", time.Time{})
	_, evs := e.tick()
	wantEvents(t, evs, "container_held "+held)
	if err := e.db.Lease(e.ctx, leased, e.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	e.fake.remove(held)
	e.fake.remove(leased)
	for _, n := range []string{held, leased} {
		rep, evs := e.checkAfter(time.Second, n)
		wantEvents(t, evs)
		if rep.Result != watchdog.CheckJudged {
			t.Errorf("%s: %+v, want judged", n, rep)
		}
	}
	wantRuns(t, e.fake, 0)
}

// A container that is not a registered instance is the tick's: the check
// makes no docker call and says so.
func TestCheckLeavesUnregisteredToTheTick(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	e.tick()
	e.fake.runner.Reset()
	rep, err := e.w.Check(e.ctx, cname("gone", "default"))
	if err != nil || rep.Result != watchdog.CheckUnregistered {
		t.Fatalf("Check = %+v, %v; want unregistered", rep, err)
	}
	if c := e.fake.runner.Calls(); len(c) != 0 {
		t.Errorf("docker calls %v, want none", c)
	}
	e.fake.setFail("ps", "Cannot connect to the Docker daemon")
	rep, err = e.w.Check(e.ctx, cname("dev", "default"))
	if err == nil || rep.Result != watchdog.CheckFailed || !strings.Contains(rep.Error, "Cannot connect") {
		t.Errorf("Check with docker down = %+v, %v; want failed", rep, err)
	}
	wantEvents(t, e.pub.take())
}

// The tick is the backstop: a check that judged wrongly (its lookup said
// gone while docker lists it running) is corrected by the next tick.
func TestTickCorrectsAWrongCheck(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	name := cname("dev", "default")
	e.w.Backoff = pacedAfterOne
	e.tick()
	e.fake.remove(name)
	e.tick() // missing, recreated: pacing now defers another attempt
	lied := false
	e.fake.intercept(func(ctx context.Context, args []string, emit func(string), next nextCall) (exec.Result, error) {
		if isGet(args) && !lied {
			lied = true
			return exec.Result{}, nil // nothing by that name
		}
		return next(ctx, emit)
	})
	rep, evs := e.checkAfter(time.Second, name)
	wantEvents(t, evs, "container_missing "+name)
	if rep.Instance.State != watchdog.StateMissing {
		t.Fatalf("check judged %q, want the wrong missing", rep.Instance.State)
	}
	_, evs = e.tick()
	wantEvents(t, evs, "container_running "+name)
	if s := e.observed(name); s != watchdog.StateRunning {
		t.Errorf("observed %q, want running", s)
	}
	wantRuns(t, e.fake, 0)
}

// intentsGate blocks the first tick's registry read (its last, Intents)
// until released: the tick has listed docker and read the state, and has
// not judged yet.
type intentsGate struct {
	watchdog.Registry
	once            sync.Once
	reached, resume chan struct{}
}

func (g *intentsGate) Intents(ctx context.Context) (map[string]bool, error) {
	m, err := g.Registry.Intents(ctx)
	g.once.Do(func() {
		close(g.reached)
		<-g.resume
	})
	return m, err
}

// A check racing a tick: the tick has read the state (the container
// running) and not judged; a check of the removal then must not report
// and store the loss in between, or the tick reports it a second time
// from what it read. Looks are one at a time: one report, and pacing
// (which holds the repair back here) decided once.
func TestCheckRacingATickReportsOnce(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	name := cname("dev", "default")
	e.w.Backoff = pacedAfterOne
	e.tick()
	e.fake.remove(name)
	e.tick() // the first recreation: another now waits 10 s
	e.fake.remove(name)
	e.fake.runner.Reset()
	g := &intentsGate{Registry: e.db, reached: make(chan struct{}), resume: make(chan struct{})}
	e.w.Registry = g
	e.clock.Advance(time.Second)
	ticked := make(chan watchdog.TickReport, 1)
	go func() {
		rep, err := e.w.Tick(e.ctx)
		if err != nil {
			t.Errorf("Tick: %v", err)
		}
		ticked <- rep
	}()
	<-g.reached
	checked := make(chan watchdog.CheckReport, 1)
	go func() {
		rep, _ := e.w.Check(e.ctx, name)
		checked <- rep
	}()
	// The check must wait for the tick. Give it the chance to be wrong
	// (not a timed assertion: with the rule kept, this always waits).
	var early *watchdog.CheckReport
	select {
	case rep := <-checked:
		early = &rep
	case <-time.After(200 * time.Millisecond):
	}
	close(g.resume)
	tr := <-ticked
	cr := func() watchdog.CheckReport {
		if early != nil {
			return *early
		}
		return <-checked
	}()
	e.w.Wait()
	evs := e.pub.take()
	if got := summary(evs); !slices.Equal(got, []string{"container_missing " + name}) {
		t.Errorf("events %q (tick reported %q, check %q), want one container_missing", got, summary(tr.Events), summary(cr.Events))
	}
	if early != nil {
		t.Error("the check ran while the tick was looking")
	}
	wantRuns(t, e.fake, 0)
}
