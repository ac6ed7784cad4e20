package watchdog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog/clock"
)

// ErrSkipped marks a tick that did not look at containers because docker
// could not be listed; the loop is still alive.
var ErrSkipped = errors.New("tick skipped")

// InstanceState is one expected instance (or orphan) as a tick saw it.
type InstanceState struct {
	Container string    `json:"container"`
	Agent     string    `json:"agent"`
	Instance  string    `json:"instance"`
	State     State     `json:"state"`
	Since     time.Time `json:"since,omitzero"`
	Docker    string    `json:"docker_state,omitempty"`
	// Health is docker's health state of the container, when it has a check.
	Health Health `json:"health,omitempty"`
	// Held, with its reason and end, while an operator holds it.
	Held       bool      `json:"held,omitempty"`
	HoldReason string    `json:"hold_reason,omitempty"`
	HoldUntil  time.Time `json:"hold_until,omitzero"`
}

// Watcher runs ticks: one docker listing, a partition into running, stopped
// and missing, events for every condition that begins, and a repair of
// every missing container through the Reconciler. Repairs run on a bounded
// pool after the tick has reported, paced per instance by Backoff.
//
// Zero optional fields get defaults on first use: the system clock, a
// discarding logger, a publisher that drops, DefaultBackoff, and an
// adaptive repair pool.
type Watcher struct {
	Docker     Docker
	Registry   Registry
	Reconciler *Reconciler
	Publisher  Publisher
	Prefix     string
	Clock      clock.Clock
	Log        *slog.Logger
	// Evidence, when set, explains missing and stopped containers.
	Evidence *Evidence
	// Parallelism bounds concurrent repairs (0: an adaptive pool, sized by
	// the engine's throughput; see TunePool).
	Parallelism int
	// Backoff paces recreations (zero: DefaultBackoff).
	Backoff Backoff
	// Wake asks the loop for a tick soon (nil: nobody to ask).
	Wake func()

	once    sync.Once
	repairs *repairs
	ledger  *ledger
	// ticked is set once a tick has completed: the first one after a
	// start says that what it finds was found after a restart.
	ticked bool
	// looking lets one look at docker run at a time, a tick or a check:
	// what one judged from docker is never judged again from an older
	// view by the other.
	looking sync.Mutex
	// logMu keeps the event log's id order and the publish order one and
	// the same while repairs report concurrently: an SSE client skips ids
	// at or below the last it got.
	logMu sync.Mutex
}

// setup fills the defaults; every entry point calls it.
func (w *Watcher) setup() {
	w.once.Do(func() {
		w.Clock = clock.Or(w.Clock)
		if w.Log == nil {
			w.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		if w.Publisher == nil {
			w.Publisher = Publishers(nil)
		}
		if w.Backoff == (Backoff{}) {
			w.Backoff = DefaultBackoff
		}
		if w.Wake == nil {
			w.Wake = func() {}
		}
		w.repairs = newRepairs(w.Parallelism, w.Backoff, w.Clock)
		w.ledger = newLedger(w.Log)
	})
}

// survey is what a tick reads before judging: the registry's agents, one
// docker listing, and the registry's state (observations, leases, holds,
// intents) as the ledger has it.
type survey struct {
	agents []Agent
	listed time.Time // when the listing began
	all    []Container
	seen   map[string]*Container
	snapshot
}

// Tick runs one round. Its error wraps ErrSkipped when docker could not be
// listed; it is also skipped when the registry could never be read. A
// registry that fails after it was read once only degrades the tick: it
// goes on from what was read last (TickReport.Degraded says so).
func (w *Watcher) Tick(ctx context.Context) (TickReport, error) {
	w.setup()
	w.looking.Lock()
	defer w.looking.Unlock()
	rep := TickReport{Started: w.Clock.Now(), Result: TickCompleted}
	s, err := w.survey(ctx)
	if err != nil {
		rep.Result, rep.Error = TickSkipped, err.Error()
		rep.Duration = w.Clock.Now().Sub(rep.Started)
		return rep, err
	}
	watched := w.judgeAll(ctx, &rep, s)
	for name := range s.observations {
		if !watched[name] {
			w.forget(ctx, name)
		}
	}
	w.ticked = true
	sort.Slice(rep.Instances, func(i, j int) bool { return rep.Instances[i].Container < rep.Instances[j].Container })
	rep.Degraded = w.ledger.health()
	rep.Duration = w.Clock.Now().Sub(rep.Started)
	return rep, nil
}

func (w *Watcher) survey(ctx context.Context) (survey, error) {
	var s survey
	var err error
	if s.agents, err = w.ledger.agents(ctx, w.Registry); err != nil {
		return s, err
	}
	s.listed = w.Clock.Now()
	if s.all, err = w.Docker.List(ctx, w.Prefix); err != nil {
		return s, fmt.Errorf("%w: %w", ErrSkipped, err)
	}
	// Read after listing: a repair that ended before the listing began is
	// in both; one that ended after is skipped as busy. Likewise leases:
	// one taken before a removal the listing saw is here.
	if s.snapshot, err = w.ledger.read(ctx, w.Registry, w.Clock.Now()); err != nil {
		return s, err
	}
	s.seen = make(map[string]*Container, len(s.all))
	for i := range s.all {
		s.seen[s.all[i].Name] = &s.all[i]
	}
	return s, nil
}

// judgeAll judges every expected instance and every orphan under logMu,
// publishing the tick's events together at the end: repairs (which report
// from their own goroutines) cannot interleave ids, and the fan-out of
// these events does not compete with the judging. It returns the names
// it watched.
func (w *Watcher) judgeAll(ctx context.Context, rep *TickReport, s survey) map[string]bool {
	watched := map[string]bool{}
	w.logMu.Lock()
	defer w.logMu.Unlock()
	defer func() { w.publish(rep.Events) }()
	// Writes held through a registry outage are retried once a tick, after
	// the judging, so that a locked registry delays no report and no
	// repair; the tick's own writes queue behind them, in order. A tick
	// that found the registry failing already does not wait on it again.
	failed := w.ledger.failed()
	defer func() {
		if w.ledger.failed() == failed {
			rep.Events = append(rep.Events, w.ledger.flush(ctx, w.Registry)...)
		}
	}()
	policy := make(map[string]Agent, len(s.agents))
	for _, a := range s.agents {
		policy[a.Name] = a
	}
	for _, in := range ExpectedInstances(s.agents) {
		name := ContainerName(w.Prefix, in.Agent, in.Instance)
		watched[name] = true
		rep.Instances = append(rep.Instances, w.judgeInstance(ctx, rep, &s, in, policy[in.Agent]))
	}
	for _, c := range orphans(w.Prefix, s.all, s.agents) {
		watched[c.Name] = true
		l := Look{Container: c.Name, Agent: c.Agent, Instance: c.Instance, Prev: s.observations[c.Name], Docker: &c, Orphan: true}
		rep.Instances = append(rep.Instances, w.guard(rep, l, func() InstanceState { return w.judge(ctx, rep, l) }))
	}
	return watched
}

// judgeInstance judges one expected instance of agent a from what s saw,
// unless the survey is stale for it (a repair under way or ended since
// the listing began) or a reconcile holds its lease: then it reports the
// instance as last recorded. Ticks and checks alike judge through it;
// the caller holds logMu.
func (w *Watcher) judgeInstance(ctx context.Context, rep *TickReport, s *survey, in Instance, a Agent) InstanceState {
	name := ContainerName(w.Prefix, in.Agent, in.Instance)
	if w.repairs.busy(name, s.listed) || s.leased[name] {
		p := s.observations[name]
		return InstanceState{Container: name, Agent: in.Agent, Instance: in.Instance, State: orState(p.State, StateMissing), Since: p.Since}
	}
	l := Look{Container: name, Agent: in.Agent, Instance: in.Instance, Prev: s.observations[name], Docker: s.seen[name], Listed: s.listed,
		OnUnhealthy: a.OnUnhealthy, UnhealthyGrace: a.UnhealthyGrace, Intent: s.intents[name], FirstLook: !w.ticked}
	if h, ok := s.holds[name]; ok {
		l.Hold = &h
	}
	return w.guard(rep, l, func() InstanceState { return w.judge(ctx, rep, l) })
}

// guard runs one instance's work so that a panic in it is logged and never
// reaches the other instances or the loop.
func (w *Watcher) guard(rep *TickReport, l Look, f func() InstanceState) (st InstanceState) {
	defer func() {
		if v := recover(); v != nil {
			w.Log.Error("panic while watching container", "container", l.Container, "panic", v, "stack", string(debug.Stack()))
			st = InstanceState{Container: l.Container, Agent: l.Agent, Instance: l.Instance, State: StateMissing}
			if rep.Error == "" {
				rep.Error = fmt.Sprintf("%s: panic: %v", l.Container, v)
			}
		}
	}()
	return f()
}

// judge completes one look with the clock, the evidence and the record,
// asks Judge what it means, and applies the verdict.
func (w *Watcher) judge(ctx context.Context, rep *TickReport, l Look) InstanceState {
	l.Now = w.Clock.Now()
	l.Evidence = w.Evidence.Recent(l.Container, l.Now)
	w.repairs.look(&l)
	v := Judge(l)
	w.repairs.apply(l.Container, v, l.Now)
	if v.UsedEvidence {
		w.Evidence.Consume(l.Container)
	}
	if v.Probe {
		w.addProbe(ctx, &v)
	}
	if v.EndHold != nil && !w.ledger.holding() { // no wait on a failing registry: the next tick tries again
		if err := w.Registry.EndHold(ctx, *v.EndHold); err != nil {
			w.Log.Warn("end expired hold (the next tick tries again)", "container", l.Container, "err", err)
		}
	}
	if v.Store {
		w.record(ctx, rep, v.Obs, v.Events...)
	}
	if v.Wake {
		w.Wake()
	}
	if v.Repair && w.startRepair(ctx, v.Obs, l.Intent) {
		rep.Repairs++
	}
	if v.Restart {
		w.startRestart(ctx, v.Obs)
	}
	return instanceState(l, v)
}

// addProbe asks docker for the last health probe of an unhealthy
// container; without it the report still goes out.
func (w *Watcher) addProbe(ctx context.Context, v *Verdict) {
	p, err := w.Docker.LastProbe(ctx, v.Obs.Container)
	if err != nil {
		w.Log.Warn("read last health probe", "container", v.Obs.Container, "err", err)
		return
	}
	v.AddProbe(p)
}

func instanceState(l Look, v Verdict) InstanceState {
	st := InstanceState{Container: l.Container, Agent: l.Agent, Instance: l.Instance, State: v.Obs.State, Since: v.Obs.Since}
	if l.Docker != nil {
		st.Docker, st.Health = l.Docker.State, l.Docker.Health
	}
	if v.Obs.State == StateHeld {
		st.Held, st.HoldReason, st.HoldUntil = true, l.Hold.Reason, l.Hold.Until
	}
	return st
}

// forget drops everything kept about a container no longer watched.
func (w *Watcher) forget(ctx context.Context, name string) {
	w.repairs.forget(name)
	w.Evidence.Consume(name)
	if w.ledger.holding() {
		return // no wait on a failing registry: the next tick forgets it
	}
	if err := w.Registry.Forget(ctx, name); err != nil {
		w.Log.Warn("forget observation (the next tick tries again)", "container", name, "err", err)
	}
}

func orState(s, def State) State {
	if s == "" {
		return def
	}
	return s
}

// record persists the observation with its events, through the ledger:
// behind any writes an outage holds, and held itself if the registry
// cannot take it. From a tick (rep set), whose caller holds logMu, the
// events stored join the report and are published when the tick has
// judged everything; from a repair (rep nil), which reports after its
// tick, they are published at once.
func (w *Watcher) record(ctx context.Context, rep *TickReport, o Observation, evs ...Event) {
	if rep == nil {
		w.logMu.Lock()
		defer w.logMu.Unlock()
	}
	stored := w.ledger.store(ctx, w.Registry, o, evs)
	if rep != nil {
		rep.Events = append(rep.Events, stored...)
		return
	}
	w.publish(stored)
}

// publish hands stored events to the Publisher in order; a panic in it for
// one event is logged and spares the others.
func (w *Watcher) publish(evs []Event) {
	for _, e := range evs {
		func() {
			defer func() {
				if v := recover(); v != nil {
					w.Log.Error("panic while publishing event", "id", e.ID, "container", e.Container, "panic", v)
				}
			}()
			w.Publisher.Publish(e)
		}()
	}
}

// orphans returns managed containers whose agent or instance the registry lacks.
func orphans(prefix string, cs []Container, agents []Agent) []Container {
	listed := map[Instance]bool{}
	for _, a := range agents {
		for _, i := range a.Instances {
			listed[Instance{a.Name, i}] = true
		}
	}
	var out []Container
	for _, c := range cs {
		if Manages(prefix, c) && !listed[Instance{c.Agent, c.Instance}] {
			out = append(out, c)
		}
	}
	return out
}

// Partition classifies every expected instance against a docker listing
// and the holds at now, without acting or reporting: what `status` shows.
func Partition(prefix string, agents []Agent, cs []Container, holds map[string]Hold, now time.Time) []InstanceState {
	seen := make(map[string]*Container, len(cs))
	for i := range cs {
		seen[cs[i].Name] = &cs[i]
	}
	var out []InstanceState
	for _, in := range ExpectedInstances(agents) {
		name := ContainerName(prefix, in.Agent, in.Instance)
		st := InstanceState{Container: name, Agent: in.Agent, Instance: in.Instance, State: classify(seen[name])}
		if c := seen[name]; c != nil {
			st.Docker, st.Health = c.State, c.Health
		}
		if h, ok := holds[name]; ok && h.Active(now) {
			st.State, st.Held, st.HoldReason, st.HoldUntil = StateHeld, true, h.Reason, h.Until
		}
		out = append(out, st)
	}
	return out
}

// Trouble says what is wrong with an instance as `status` judges it:
// stopped, missing, or running but unhealthy; "" when it is fine (running
// and not unhealthy, or held).
func (s InstanceState) Trouble() string {
	switch {
	case s.State == StateRunning && s.Health == HealthUnhealthy:
		return "unhealthy"
	case s.State == StateRunning, s.State == StateHeld:
		return ""
	}
	return string(s.State)
}
