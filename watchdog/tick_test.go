package watchdog_test

import (
	"cmp"
	"context"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/docker"
	"github.com/container-watchdog/container-watchdog/watchdog/sqlite"
)

// tickEnv is a Watcher over the real docker.Client (on the fake docker) and
// the real SQLite registry, with a fake clock.
type tickEnv struct {
	t      *testing.T
	ctx    context.Context
	fake   *fakeDocker
	path   string
	db     *sqlite.DB
	clock  *clock
	pub    *recorder
	w      *watchdog.Watcher
	lastID int64
}

// newTickEnv registers agents and creates their containers through the
// reconciler, as `agent add` would, then forgets those calls.
func newTickEnv(t *testing.T, agents ...watchdog.Agent) *tickEnv {
	t.Helper()
	clk := newClock()
	e := &tickEnv{t: t, ctx: context.Background(), fake: newFakeDocker(t, clk),
		path: filepath.Join(t.TempDir(), "registry.db"), clock: clk, pub: &recorder{}}
	e.open()
	t.Cleanup(func() { e.db.Close() })
	for _, a := range agents {
		if _, err := e.db.AddAgent(e.ctx, a); err != nil {
			t.Fatalf("AddAgent(%s): %v", a.Name, err)
		}
	}
	rs, err := e.w.Reconciler.Converge(e.ctx, e.agents(), nil, watchdog.ConvergeOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := watchdog.Failures(rs); err != nil {
		t.Fatal(err)
	}
	e.fake.runner.Reset()
	return e
}

func (e *tickEnv) open() {
	e.t.Helper()
	db, err := sqlite.Open(e.ctx, e.path)
	if err != nil {
		e.t.Fatal(err)
	}
	db.Clock = e.clock
	e.db = db
	e.w = &watchdog.Watcher{
		Docker:     e.fake.client,
		Registry:   db,
		Reconciler: &watchdog.Reconciler{Docker: e.fake.client, Prefix: prefix},
		Publisher:  e.pub,
		Prefix:     prefix,
		Clock:      e.clock,
		Log:        discardLog(),
	}
}

// restart closes the registry and starts a new Watcher on the same file,
// as a daemon restart would.
func (e *tickEnv) restart() {
	e.t.Helper()
	if err := e.db.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

func (e *tickEnv) agents() []watchdog.Agent {
	e.t.Helper()
	as, err := e.db.Agents(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return as
}

// tick advances the clock by a minute and runs one tick with tickAfter.
func (e *tickEnv) tick() (watchdog.TickReport, []watchdog.Event) {
	e.t.Helper()
	return e.tickAfter(time.Minute)
}

// tickAfter advances the clock by d, runs one tick that must complete,
// waits for the repairs it started, and returns its report and every event
// published by the tick and its repairs, ordered by container, then id (the
// repairs of different containers run concurrently, so only the order per
// container is fixed). It checks that every published event was stored
// first, with increasing ids, that nothing else was stored, that the report
// holds exactly the tick's own events and that the rest are repair outcomes.
func (e *tickEnv) tickAfter(d time.Duration) (watchdog.TickReport, []watchdog.Event) {
	e.t.Helper()
	e.clock.Advance(d)
	e.fake.runner.Reset()
	rep, err := e.w.Tick(e.ctx)
	if err != nil {
		e.t.Fatalf("Tick: %v", err)
	}
	if rep.Result != "completed" {
		e.t.Errorf("Result = %q, want completed", rep.Result)
	}
	e.w.Wait()
	return rep, e.published(rep)
}

// published takes the events published since the last look and checks
// them against the event log and rep (the tick they followed).
func (e *tickEnv) published(rep watchdog.TickReport) []watchdog.Event {
	e.t.Helper()
	pub := e.pub.take()
	slices.SortStableFunc(pub, func(a, b watchdog.Event) int { return cmp.Compare(a.ID, b.ID) })
	stored, err := e.db.Events(e.ctx, e.lastID, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(stored) != len(pub) {
		e.t.Fatalf("stored %v, published %v: want the same events", summary(stored), summary(pub))
	}
	reported := map[int64]watchdog.Event{}
	for _, ev := range rep.Events {
		reported[ev.ID] = ev
	}
	for i := range pub {
		if pub[i].ID <= e.lastID || pub[i].ID != stored[i].ID ||
			pub[i].Type != stored[i].Type || pub[i].Detail != stored[i].Detail || pub[i].Container != stored[i].Container ||
			!maps.Equal(pub[i].Evidence, stored[i].Evidence) {
			e.t.Fatalf("event %d: published %+v, stored %+v", i, pub[i], stored[i])
		}
		if r, ok := reported[pub[i].ID]; ok {
			if r.Type != pub[i].Type || r.Detail != pub[i].Detail || r.Container != pub[i].Container {
				e.t.Fatalf("event %d: published %+v, reported %+v", i, pub[i], r)
			}
			// (A recreation the daemon started before it restarted is the
			// tick's to report: no repair of this tick made it.)
			if poolOutcome(pub[i].Type) && !strings.Contains(pub[i].Detail, "after the watchdog restarted") {
				e.t.Errorf("repair outcome %+v in the tick's report: repairs report after the tick", pub[i])
			}
			delete(reported, pub[i].ID)
		} else if !poolOutcome(pub[i].Type) {
			e.t.Errorf("tick event %+v published but not in the report", pub[i])
		}
		if !pub[i].Time.Equal(e.clock.Now()) {
			e.t.Errorf("event %d time %v, want the fake clock's %v", i, pub[i].Time, e.clock.Now())
		}
		e.lastID = pub[i].ID
	}
	if len(reported) != 0 {
		e.t.Fatalf("reported %v, published %v: want the tick's events published", summary(rep.Events), summary(pub))
	}
	slices.SortStableFunc(pub, func(a, b watchdog.Event) int { return strings.Compare(a.Container, b.Container) })
	return pub
}

// poolOutcome says events of type t come from the repair pool (a
// recreation or an unhealthy restart), after the tick that started it.
func poolOutcome(t watchdog.EventType) bool {
	switch t {
	case watchdog.EventRecreated, watchdog.EventRecreateFailed, watchdog.EventUnhealthyRestarted, watchdog.EventUnhealthyRestartFailed:
		return true
	}
	return false
}

func wantEvents(t *testing.T, got []watchdog.Event, want ...string) {
	t.Helper()
	if g := summary(got); !slices.Equal(g, want) {
		t.Fatalf("events:\n got %q\nwant %q", g, want)
	}
}

func wantNoCalls(t *testing.T, f *fakeDocker, verbs ...string) {
	t.Helper()
	for _, v := range verbs {
		if c := f.calls(v); len(c) > 0 {
			t.Errorf("unexpected %s calls: %q", v, c)
		}
	}
}

// observed is the state the registry holds for container (repairs record
// theirs after the tick that started them has reported).
func (e *tickEnv) observed(container string) watchdog.State {
	e.t.Helper()
	obs, err := e.db.Observations(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return obs[container].State
}

// failedDetail is a recreate_failed detail: docker's stderr, then when the
// backoff allows the next attempt.
func failedDetail(stderr string, next time.Time) string {
	return stderr + "; next attempt at " + next.UTC().Format(time.RFC3339)
}

func stateOf(t *testing.T, rep watchdog.TickReport, container string) watchdog.State {
	t.Helper()
	for _, in := range rep.Instances {
		if in.Container == container {
			return in.State
		}
	}
	t.Fatalf("%s not in report %+v", container, rep.Instances)
	return ""
}

func TestTickHealthyEmitsNothing(t *testing.T) {
	e := newTickEnv(t, agent("dev"), agent("ops", "a", "b"))
	for range 2 {
		rep, evs := e.tick()
		wantEvents(t, evs)
		want := []string{cname("dev", "default"), cname("ops", "a"), cname("ops", "b")}
		var got []string
		for _, in := range rep.Instances {
			got = append(got, in.Container)
			if in.State != watchdog.StateRunning || in.Docker != "running" {
				t.Errorf("%s: state %q docker %q", in.Container, in.State, in.Docker)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("instances %q, want %q", got, want)
		}
		// One listing, exactly the contract's, and nothing else.
		wantCall := append([]string{"docker"}, docker.PSArgs("^"+regexp.QuoteMeta(prefix))...)
		if c := e.fake.runner.Calls(); len(c) != 1 || !slices.Equal(c[0], wantCall) {
			t.Errorf("calls %q, want only %q", c, wantCall)
		}
	}
}

func TestTickStoppedReportedOnceAcrossRestart(t *testing.T) {
	e := newTickEnv(t, agent("dev"), agent("ops"))
	e.tick()
	e.fake.setState(cname("dev", "default"), "exited")

	rep, evs := e.tick()
	wantEvents(t, evs, "container_stopped "+cname("dev", "default"))
	if evs[0].Agent != "dev" || evs[0].Instance != "default" || !strings.Contains(evs[0].Detail, "exited") {
		t.Errorf("event %+v", evs[0])
	}
	if s := stateOf(t, rep, cname("dev", "default")); s != watchdog.StateStopped {
		t.Errorf("state %q, want stopped", s)
	}
	since := rep.Instances[0].Since
	wantNoCalls(t, e.fake, "run", "rm")

	_, evs = e.tick()
	wantEvents(t, evs)

	// A new Watcher on the reopened registry must not report it again.
	e.restart()
	rep, evs = e.tick()
	wantEvents(t, evs)
	wantNoCalls(t, e.fake, "run", "rm")
	if got := rep.Instances[0].Since; !got.Equal(since) {
		t.Errorf("since moved from %v to %v while the condition persisted", since, got)
	}

	e.fake.setState(cname("dev", "default"), "running")
	_, evs = e.tick()
	wantEvents(t, evs, "container_running "+cname("dev", "default"))
	_, evs = e.tick()
	wantEvents(t, evs)
}

func TestTickMissingIsRecreatedWithItsVolume(t *testing.T) {
	e := newTickEnv(t, agent("dev"), agent("ops"))
	e.tick()
	name := cname("dev", "default")
	old := e.fake.get(name)
	e.fake.remove(name)

	rep, evs := e.tick()
	wantEvents(t, evs, "container_missing "+name, "container_recreated "+name)
	// The tick reports what it saw; the repair it started records the recreation.
	if s := stateOf(t, rep, name); s != watchdog.StateMissing || rep.Repairs != 1 {
		t.Errorf("tick saw %q and started %d repairs, want missing and 1", s, rep.Repairs)
	}
	if s := e.observed(name); s != watchdog.StateRunning {
		t.Errorf("state after recreation %q, want running", s)
	}
	runs := e.fake.calls("run")
	if len(runs) != 1 || !hasSeq(runs[0], "--name", name) ||
		!hasSeq(runs[0], "--mount", "type=volume,source="+watchdog.VolumeName(name)+",target=/state") {
		t.Fatalf("run calls %q", runs)
	}
	wantNoCalls(t, e.fake, "rm", "volume")
	now := e.fake.get(name)
	if now == nil || now.ID == old.ID || !slices.Equal(now.Mounts, old.Mounts) || now.State != "running" ||
		now.Labels[watchdog.LabelConfig] != old.Labels[watchdog.LabelConfig] || now.Image != old.Image {
		t.Fatalf("recreated %+v, was %+v", now, old)
	}

	_, evs = e.tick()
	wantEvents(t, evs)
	wantNoCalls(t, e.fake, "run")
	e.restart()
	_, evs = e.tick()
	wantEvents(t, evs)
}

func TestTickRecreateFailureReportedOncePerCause(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	e.tick()
	name := cname("dev", "default")
	e.fake.remove(name)
	denied := "docker: Error response from daemon: pull access denied for example.com/agents/dev"
	e.fake.setFailFor(name, denied)

	rep, evs := e.tick()
	wantEvents(t, evs, "container_missing "+name, "container_recreate_failed "+name)
	if evs[1].Detail != denied {
		t.Errorf("detail %q, want docker's stderr %q (the burst retries at once)", evs[1].Detail, denied)
	}
	if s := stateOf(t, rep, name); s != watchdog.StateMissing || e.observed(name) != watchdog.StateMissing {
		t.Errorf("state %q, observed %q, want missing", s, e.observed(name))
	}

	// Same failure: retried, not reported, also after a restart.
	for _, restart := range []bool{false, true} {
		if restart {
			e.restart()
		}
		_, evs = e.tick()
		wantEvents(t, evs)
		if n := len(e.fake.calls("run")); n != 1 {
			t.Errorf("run attempts %d, want a retry every tick", n)
		}
	}

	full := "docker: Error response from daemon: no space left on device"
	e.fake.setFailFor(name, full)
	_, evs = e.tick()
	wantEvents(t, evs, "container_recreate_failed "+name)
	// The second attempt since the restart (pacing lives in memory): the
	// burst retries at once, so the detail names no wait.
	if evs[0].Detail != full {
		t.Errorf("detail %q, want %q", evs[0].Detail, full)
	}

	e.fake.setFailFor(name, "")
	_, evs = e.tick()
	wantEvents(t, evs, "container_recreated "+name)
	if s := e.observed(name); s != watchdog.StateRunning || e.fake.get(name) == nil {
		t.Errorf("state %q, container %v", s, e.fake.get(name))
	}
	rep, evs = e.tick()
	wantEvents(t, evs)
	if s := stateOf(t, rep, name); s != watchdog.StateRunning {
		t.Errorf("state %q after the recreation, want running", s)
	}
	// The old failure no longer counts: a new disappearance with the same cause is news.
	e.fake.remove(name)
	e.fake.setFailFor(name, denied)
	_, evs = e.tick()
	wantEvents(t, evs, "container_missing "+name, "container_recreate_failed "+name)
}

func TestTickRepairFindsContainerAlreadyBack(t *testing.T) {
	a := agent("dev")
	e := newTickEnv(t, a)
	e.tick()
	name := cname("dev", "default")
	e.fake.remove(name)
	// Someone recreates it between the listing and the repair.
	e.fake.setHook(func(args []string) {
		if isGet(args) && e.fake.get(name) == nil {
			e.fake.put(name, "running", managedLabels(a, "default"))
		}
	})

	// Nothing failed, and the watchdog recreated nothing: no report from
	// the repair, and the next tick says the container runs again.
	_, evs := e.tick()
	wantEvents(t, evs, "container_missing "+name)
	wantNoCalls(t, e.fake, "run", "rm")
	if len(e.fake.calls("ps")) != 2 {
		t.Errorf("ps calls %q, want the listing and a fresh lookup", e.fake.calls("ps"))
	}
	if in, err := e.db.Intents(e.ctx); err != nil || len(in) != 0 {
		t.Errorf("intents %v, %v: a repair that created nothing must not leave one", in, err)
	}

	e.fake.setHook(nil)
	_, evs = e.tick()
	wantEvents(t, evs, "container_running "+name)
	if evs[0].Detail != "was missing" {
		t.Errorf("detail %q", evs[0].Detail)
	}
}

func TestTickRepairAfterAgentRemoved(t *testing.T) {
	e := newTickEnv(t, agent("dev"), agent("ops"))
	e.tick()
	name := cname("dev", "default")
	e.fake.remove(name)
	// `agent rm dev` lands after the tick read the registry and listed docker.
	e.fake.setHook(func(args []string) {
		if args[0] == "ps" && !isGet(args) {
			if _, err := e.db.DeleteAgent(e.ctx, "dev"); err != nil {
				t.Errorf("DeleteAgent: %v", err)
			}
		}
	})

	_, evs := e.tick()
	e.fake.setHook(nil)
	wantEvents(t, evs, "container_missing "+name, "container_recreate_failed "+name)
	if d := evs[1].Detail; !strings.Contains(d, "changed under the watchdog") || !strings.Contains(d, "unregistered") {
		t.Errorf("detail %q should say the reconcile found nothing to do", d)
	}
	wantNoCalls(t, e.fake, "run", "rm")
	if e.fake.get(name) != nil {
		t.Fatal("the container of an unregistered agent was recreated")
	}

	_, evs = e.tick()
	wantEvents(t, evs)
	obs, err := e.db.Observations(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := obs[name]; ok || len(obs) != 1 {
		t.Errorf("observations %v: want only ops's, dev's forgotten", obs)
	}
}

func TestTickOnlyTouchesTheMissingInstance(t *testing.T) {
	e := newTickEnv(t, agent("dev"), agent("ops", "a", "b"))
	e.tick()
	missing := cname("ops", "b")
	e.fake.remove(missing)

	_, evs := e.tick()
	wantEvents(t, evs, "container_missing "+missing, "container_recreated "+missing)
	calls := e.fake.runner.Calls()
	if len(calls) != 3 {
		t.Fatalf("calls %q, want list, lookup and run", calls)
	}
	for _, c := range calls[1:] {
		if !mentions(c, regexp.QuoteMeta(missing)) && !hasSeq(c, "--name", missing) {
			t.Errorf("call %q touches something other than %s", c, missing)
		}
		for _, other := range []string{cname("dev", "default"), cname("ops", "a")} {
			if mentions(c, other) || mentions(c, regexp.QuoteMeta(other)) {
				t.Errorf("call %q touches %s", c, other)
			}
		}
	}
	wantNoCalls(t, e.fake, "rm", "volume")
}

func TestTickIgnoresHostModeAgents(t *testing.T) {
	host := agent("host", "default", "leftover")
	host.HostMode = true
	e := newTickEnv(t, host, agent("dev"))
	// A leftover container of the host-mode agent is neither expected nor an orphan.
	e.fake.put(cname("host", "leftover"), "exited", managedLabels(host, "leftover"))

	for range 2 {
		rep, evs := e.tick()
		wantEvents(t, evs)
		wantNoCalls(t, e.fake, "run", "rm")
		for _, in := range rep.Instances {
			if in.Agent == "host" || strings.Contains(in.Container, "host") {
				t.Errorf("host-mode agent in report: %+v", in)
			}
		}
		if e.fake.get(cname("host", "default")) != nil {
			t.Fatal("a container was created for a host-mode agent")
		}
	}
}

func TestTickReportsOrphanOnceAndNeverRemovesIt(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	ghost := agent("ghost")
	orphan := cname("ghost", "default")
	e.fake.put(orphan, "running", managedLabels(ghost, "default"))
	// An unmanaged container under the prefix is not ours to report.
	e.fake.put(cname("stranger", "x"), "running", map[string]string{})

	rep, evs := e.tick()
	wantEvents(t, evs, "container_orphaned "+orphan)
	if evs[0].Agent != "ghost" || evs[0].Instance != "default" {
		t.Errorf("event %+v", evs[0])
	}
	if s := stateOf(t, rep, orphan); s != watchdog.StateOrphaned {
		t.Errorf("state %q", s)
	}
	for _, restart := range []bool{false, true} {
		if restart {
			e.restart()
		}
		_, evs = e.tick()
		wantEvents(t, evs)
	}
	wantNoCalls(t, e.fake, "rm", "run", "volume")
	if e.fake.get(orphan) == nil {
		t.Fatal("orphan removed")
	}
}

func TestTickLostRegistryKeepsContainers(t *testing.T) {
	e := newTickEnv(t, agent("dev"), agent("ops"))
	// The registry file is lost: a fresh one knows no agents.
	e.db.Close()
	e.path = filepath.Join(t.TempDir(), "fresh.db")
	e.open()
	e.lastID = 0

	_, evs := e.tick()
	wantEvents(t, evs, "container_orphaned "+cname("dev", "default"), "container_orphaned "+cname("ops", "default"))
	wantNoCalls(t, e.fake, "rm", "run", "volume")
	if e.fake.get(cname("dev", "default")) == nil || e.fake.get(cname("ops", "default")) == nil {
		t.Fatal("a container was removed")
	}
}

// A container the CLI is replacing (leased between its rm and run) is not
// judged: no container_missing, and no race to recreate it.
func TestTickLeavesALeasedContainerAlone(t *testing.T) {
	e := newTickEnv(t, agent("dev", "a", "b"))
	e.tick()
	leased, other := cname("dev", "a"), cname("dev", "b")
	if err := e.db.Lease(e.ctx, leased, e.clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	e.fake.remove(leased)
	e.fake.remove(other)
	e.fake.runner.Reset()

	_, evs := e.tickAfter(time.Second)
	wantEvents(t, evs, "container_missing "+other, "container_recreated "+other)
	for _, c := range e.fake.calls("run") {
		if mentions(c, leased) {
			t.Errorf("recreated the leased container: %s", c)
		}
	}
	// Once the lease has lapsed (its holder died), the loss is reported.
	_, evs = e.tickAfter(2 * time.Minute)
	wantEvents(t, evs, "container_missing "+leased, "container_recreated "+leased)
}
