package watchdog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"time"
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
	Since     time.Time `json:"since"`
	Docker    string    `json:"docker_state,omitempty"`
}

// TickReport says what one tick saw and did.
type TickReport struct {
	Started   time.Time       `json:"time"`
	Duration  time.Duration   `json:"-"`
	Result    string          `json:"result"` // completed or skipped
	Error     string          `json:"error,omitempty"`
	Instances []InstanceState `json:"instances"`
	Events    []Event         `json:"-"`
}

// Counts returns how many instances are in each state.
func (r TickReport) Counts() map[State]int {
	m := map[State]int{}
	for _, i := range r.Instances {
		m[i.State]++
	}
	return m
}

// Watcher runs ticks: one docker listing, a partition into running, stopped
// and missing, events for every condition that begins, and a repair of
// every missing container through the Reconciler.
type Watcher struct {
	Docker     Docker
	Registry   Registry
	Reconciler *Reconciler
	Publisher  Publisher
	Prefix     string
	Now        func() time.Time
	Log        *slog.Logger
}

// Tick runs one round. Its error wraps ErrSkipped when docker could not be
// listed; other errors (the registry failing) also mean nothing was judged.
func (w *Watcher) Tick(ctx context.Context) (TickReport, error) {
	rep := TickReport{Started: w.Now(), Result: "completed"}
	defer func() { rep.Duration = w.Now().Sub(rep.Started) }()
	fail := func(err error) (TickReport, error) {
		rep.Result, rep.Error = "skipped", err.Error()
		rep.Duration = w.Now().Sub(rep.Started)
		return rep, err
	}
	agents, err := w.Registry.Agents(ctx)
	if err != nil {
		return fail(fmt.Errorf("read registry: %w", err))
	}
	prev, err := w.Registry.Observations(ctx)
	if err != nil {
		return fail(fmt.Errorf("read observations: %w", err))
	}
	cs, err := w.Docker.List(ctx, w.Prefix)
	if err != nil {
		return fail(fmt.Errorf("%w: docker ps: %w", ErrSkipped, err))
	}
	seen := make(map[string]*Container, len(cs))
	for i := range cs {
		seen[cs[i].Name] = &cs[i]
	}

	watched := map[string]bool{}
	for _, in := range ExpectedInstances(agents) {
		name := ContainerName(w.Prefix, in.Agent, in.Instance)
		watched[name] = true
		st := w.guard(&rep, name, func() InstanceState {
			return w.judge(ctx, &rep, in, seen[name], prev[name])
		})
		rep.Instances = append(rep.Instances, st)
	}
	for _, c := range orphans(cs, agents) {
		watched[c.Name] = true
		st := w.guard(&rep, c.Name, func() InstanceState {
			return w.orphan(ctx, &rep, c, prev[c.Name])
		})
		rep.Instances = append(rep.Instances, st)
	}
	for name := range prev {
		if !watched[name] {
			if err := w.Registry.Forget(ctx, name); err != nil {
				w.Log.Error("forget observation", "container", name, "err", err)
			}
		}
	}
	sort.Slice(rep.Instances, func(i, j int) bool { return rep.Instances[i].Container < rep.Instances[j].Container })
	rep.Duration = w.Now().Sub(rep.Started)
	return rep, nil
}

// guard runs one instance's work so that a panic in it is logged and never
// reaches the other instances or the loop.
func (w *Watcher) guard(rep *TickReport, name string, f func() InstanceState) (st InstanceState) {
	defer func() {
		if v := recover(); v != nil {
			w.Log.Error("panic while watching container", "container", name, "panic", v, "stack", string(debug.Stack()))
			st = InstanceState{Container: name, State: StateMissing}
			if rep.Error == "" {
				rep.Error = fmt.Sprintf("%s: panic: %v", name, v)
			}
		}
	}()
	return f()
}

// judge classifies one expected instance and acts on a change.
func (w *Watcher) judge(ctx context.Context, rep *TickReport, in Instance, c *Container, prev Observation) InstanceState {
	name := ContainerName(w.Prefix, in.Agent, in.Instance)
	now := w.Now()
	obs := Observation{Container: name, Agent: in.Agent, Instance: in.Instance, State: classify(c), Since: now}
	st := InstanceState{Container: name, Agent: in.Agent, Instance: in.Instance, State: obs.State}
	if c != nil {
		st.Docker = c.State
	}
	unchanged := prev.State == obs.State
	if unchanged {
		obs.Since, obs.Detail = prev.Since, prev.Detail
	}
	ev := func(t EventType, detail string) *Event {
		return &Event{Time: now, Type: t, Container: name, Agent: in.Agent, Instance: in.Instance, Detail: detail}
	}
	switch obs.State {
	case StateRunning:
		if prev.State != StateStopped && prev.State != StateMissing {
			// Nothing ended: first sight, or an orphan re-registered.
			w.observe(ctx, rep, obs)
			break
		}
		w.observe(ctx, rep, obs, ev(EventRunning, fmt.Sprintf("was %s", prev.State)))
	case StateStopped:
		if unchanged {
			break
		}
		w.observe(ctx, rep, obs, ev(EventStopped, "docker state "+c.State))
	case StateMissing:
		if !unchanged {
			w.observe(ctx, rep, obs, ev(EventMissing, "not known to docker"))
		}
		obs = w.repair(ctx, rep, obs, ev)
	}
	st.State, st.Since = obs.State, obs.Since
	return st
}

// repair recreates a missing container and reports how it went. A failure
// already reported with the same detail is not reported again.
func (w *Watcher) repair(ctx context.Context, rep *TickReport, obs Observation, ev func(EventType, string) *Event) Observation {
	// Re-read the registry too: an agent removed since the tick began must
	// not get its container back.
	out, err := Failed, error(nil)
	if fresh, rerr := w.Registry.Agents(ctx); rerr != nil {
		err = fmt.Errorf("read registry: %w", rerr)
	} else {
		out, err = w.Reconciler.Repair(ctx, fresh, obs.Container)
	}
	switch {
	case err == nil && (out == Created || out == Recreated):
		obs.State, obs.Since, obs.Detail = StateRunning, w.Now(), ""
		w.observe(ctx, rep, obs, ev(EventRecreated, string(out)))
		return obs
	case err == nil:
		// Someone else acted between the listing and the repair: say so
		// rather than claim a recreation that did not happen.
		err = fmt.Errorf("reconcile answered %q: the container changed under the watchdog (created or unregistered by someone else); the next tick will look again", out)
	}
	detail := err.Error()
	if detail == obs.Detail {
		return obs
	}
	obs.Detail = detail
	w.observe(ctx, rep, obs, ev(EventRecreateFailed, detail))
	return obs
}

func (w *Watcher) orphan(ctx context.Context, rep *TickReport, c Container, prev Observation) InstanceState {
	now := w.Now()
	obs := Observation{Container: c.Name, Agent: c.Agent, Instance: c.Instance, State: StateOrphaned, Since: now}
	if prev.State == StateOrphaned {
		obs.Since = prev.Since
	} else {
		w.observe(ctx, rep, obs, &Event{Time: now, Type: EventOrphaned, Container: c.Name, Agent: c.Agent, Instance: c.Instance,
			Detail: "managed container not in the registry; left alone (reconcile --all --prune removes it)"})
	}
	return InstanceState{Container: c.Name, Agent: c.Agent, Instance: c.Instance, State: StateOrphaned, Since: obs.Since, Docker: c.State}
}

// observe persists the observation with its events, then publishes them.
func (w *Watcher) observe(ctx context.Context, rep *TickReport, o Observation, evs ...*Event) {
	if err := w.Registry.Observe(ctx, o, evs...); err != nil {
		w.Log.Error("record observation", "container", o.Container, "state", o.State, "err", err)
		if rep.Error == "" {
			rep.Error = err.Error()
		}
		return
	}
	for _, e := range evs {
		rep.Events = append(rep.Events, *e)
		w.Publisher.Publish(*e)
	}
}

func classify(c *Container) State {
	switch {
	case c == nil:
		return StateMissing
	case c.State == "running":
		return StateRunning
	default:
		return StateStopped
	}
}

// orphans returns managed containers whose agent or instance the registry lacks.
func orphans(cs []Container, agents []Agent) []Container {
	listed := map[Instance]bool{}
	for _, a := range agents {
		for _, i := range a.Instances {
			listed[Instance{a.Name, i}] = true
		}
	}
	var out []Container
	for _, c := range cs {
		if c.Managed && !listed[Instance{c.Agent, c.Instance}] {
			out = append(out, c)
		}
	}
	return out
}

// Partition classifies every expected instance against a docker listing,
// without acting or reporting: what `status` shows.
func Partition(prefix string, agents []Agent, cs []Container) []InstanceState {
	seen := make(map[string]*Container, len(cs))
	for i := range cs {
		seen[cs[i].Name] = &cs[i]
	}
	var out []InstanceState
	for _, in := range ExpectedInstances(agents) {
		name := ContainerName(prefix, in.Agent, in.Instance)
		st := InstanceState{Container: name, Agent: in.Agent, Instance: in.Instance, State: classify(seen[name])}
		if c := seen[name]; c != nil {
			st.Docker = c.State
		}
		out = append(out, st)
	}
	return out
}
