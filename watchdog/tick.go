package watchdog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"sync"
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
	Since     time.Time `json:"since,omitzero"`
	Docker    string    `json:"docker_state,omitempty"`
	// Health is docker's health of the container (healthy, unhealthy,
	// starting), empty without a health check; health checks (issue 8) set it.
	Health string `json:"health,omitempty"`
}

// TickReport says what one tick saw and did.
type TickReport struct {
	Started   time.Time       `json:"time"`
	Duration  time.Duration   `json:"-"`
	Result    string          `json:"result"` // completed or skipped
	Error     string          `json:"error,omitempty"`
	Instances []InstanceState `json:"instances"`
	Events    []Event         `json:"-"`
	// Repairs counts the recreations this tick started; they finish later.
	Repairs int `json:"repairs_started"`
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
// every missing container through the Reconciler. Repairs run on a bounded
// pool after the tick has reported, paced per instance by Backoff.
type Watcher struct {
	Docker     Docker
	Registry   Registry
	Reconciler *Reconciler
	Publisher  Publisher
	Prefix     string
	Now        func() time.Time
	Log        *slog.Logger
	// Evidence, when set, explains missing and stopped containers.
	Evidence *Evidence
	// Parallelism bounds concurrent repairs (0: DefaultParallelism).
	Parallelism int
	// Backoff paces recreations (zero: DefaultBackoff).
	Backoff Backoff
	// Wake, when set, asks the loop for a tick soon.
	Wake func()

	once sync.Once
	rs   *repairs
	// logMu keeps the event log's id order and the publish order one and
	// the same while repairs report concurrently: an SSE client skips ids
	// at or below the last it got.
	logMu sync.Mutex
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
	listed := w.Now()
	cs, err := w.Docker.List(ctx, w.Prefix)
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrSkipped, err))
	}
	// Read after listing: a repair that ended before the listing began is
	// in both; one that ended after is skipped below as busy.
	prev, err := w.Registry.Observations(ctx)
	if err != nil {
		return fail(fmt.Errorf("read observations: %w", err))
	}
	// Likewise leases: one taken before a removal the listing saw is here.
	leased, err := w.Registry.Leased(ctx, w.Now())
	if err != nil {
		return fail(fmt.Errorf("read leases: %w", err))
	}
	seen := make(map[string]*Container, len(cs))
	for i := range cs {
		seen[cs[i].Name] = &cs[i]
	}

	watched := map[string]bool{}
	// Judge under logMu, publishing the tick's events together at the end:
	// repairs (which report from their own goroutines) cannot interleave
	// ids, and the SSE fan-out of these events does not compete with the
	// judging for the CPU.
	func() {
		w.logMu.Lock()
		defer w.logMu.Unlock()
		defer func() { w.publish(rep.Events) }()
		for _, in := range ExpectedInstances(agents) {
			name := ContainerName(w.Prefix, in.Agent, in.Instance)
			watched[name] = true
			if w.busy(name, listed) || leased[name] {
				p := prev[name]
				rep.Instances = append(rep.Instances, InstanceState{Container: name, Agent: in.Agent, Instance: in.Instance, State: orState(p.State, StateMissing), Since: p.Since})
				continue
			}
			st := w.guard(&rep, name, func() InstanceState {
				return w.judge(ctx, &rep, in, seen[name], prev[name])
			})
			rep.Instances = append(rep.Instances, st)
		}
		for _, c := range orphans(w.Prefix, cs, agents) {
			watched[c.Name] = true
			st := w.guard(&rep, c.Name, func() InstanceState {
				return w.orphan(ctx, &rep, c, prev[c.Name])
			})
			rep.Instances = append(rep.Instances, st)
		}
	}()
	for name := range prev {
		if !watched[name] {
			w.forgetRepairs(name)
			w.Evidence.Consume(name)
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
		return &Event{Time: w.Now(), Type: t, Container: name, Agent: in.Agent, Instance: in.Instance, Detail: detail}
	}
	// explained adds what docker's event stream saw to a report, once.
	explained := func(t EventType, detail string) *Event {
		e := ev(t, detail)
		ls := w.Evidence.Recent(name, now)
		if why, fields := Explain(ls); why != "" {
			e.Detail += "; " + why
			e.Evidence = fields
			e.DockerTime = ls[len(ls)-1].Time // Explain says nothing of an empty ls
		}
		w.Evidence.Consume(name)
		return e
	}
	switch obs.State {
	case StateRunning:
		w.settle(name, now)
		switch {
		case prev.State == StateStopped || prev.State == StateMissing:
			w.observe(ctx, rep, obs, explained(EventRunning, fmt.Sprintf("was %s", prev.State)))
		case prev.State == StateRunning && deathPending(w.Evidence.Recent(name, now), now):
			// Docker announced a death this listing does not show: dockerd
			// publishes "die" before `docker ps` stops saying running, and a
			// listing may predate the death. Not a restart: keep the
			// evidence for the report the next look makes, and look soon.
			w.wake()
		case prev.State == StateRunning && restartedByDocker(w.Evidence.Recent(name, now)):
			// Stopped and restarted between two looks: docker's restart
			// policy did its job, but the operator should know.
			w.observe(ctx, rep, obs, explained(EventRestarted, "restarted by docker's restart policy"))
		default:
			// Nothing ended: first sight, or an orphan re-registered. A
			// destroy here was a replacement (reconcile, agent set): its
			// lifecycle explains nothing to come, so drop it.
			if replaced(w.Evidence.Recent(name, now)) {
				w.Evidence.Consume(name)
			}
			// Store only a change: one write per running instance per
			// tick cost more than the docker listing at 500 containers.
			if !unchanged {
				w.observe(ctx, rep, obs)
			}
		}
	case StateStopped:
		w.undefer(name)
		if c.State == "removing" && recentLoss(w.Evidence.Recent(name, now), now) {
			// docker rm under way: not a stop for the restart policy. The
			// destroy that follows makes it missing, and that report gets
			// the evidence; look again soon.
			w.wake()
			break
		}
		if unchanged {
			break
		}
		w.observe(ctx, rep, obs, explained(EventStopped, stoppedDetail(c)))
	case StateMissing:
		if !unchanged {
			detail := "not known to docker"
			if next := w.nextTry(name); next.After(now) {
				detail += fmt.Sprintf("; recreated too recently, next attempt at %s", next.UTC().Format(time.RFC3339))
			}
			obs.Detail = ""
			w.observe(ctx, rep, obs, explained(EventMissing, detail))
		}
		if w.startRepair(ctx, obs, ev) {
			rep.Repairs++
		}
	}
	st.State, st.Since = obs.State, obs.Since
	return st
}

func stoppedDetail(c *Container) string {
	if c.Status != "" {
		return fmt.Sprintf("docker state %s (%s)", c.State, c.Status)
	}
	return "docker state " + c.State
}

// restartedByDocker says the lifecycle holds a die but no destroy: the
// container stopped and docker's restart policy started the same one again.
// A destroy means it was replaced (reconcile, agent set), not restarted.
func restartedByDocker(ls []Lifecycle) bool {
	if replaced(ls) {
		return false
	}
	for _, l := range ls {
		if l.Action == "die" {
			return true
		}
	}
	return false
}

// replaced says the lifecycle holds a destroy.
func replaced(ls []Lifecycle) bool {
	for _, l := range ls {
		if l.Action == "destroy" {
			return true
		}
	}
	return false
}

// deathGrace bounds how long a running listing may disagree with a die
// docker announced before the watchdog believes the listing: past it, the
// start that would show a restart was missed (the event stream dropped).
const deathGrace = 5 * time.Second

// deathPending says the lifecycle's last die has no start after it and is
// recent: the container died and docker has not restarted it (yet), so a
// listing that shows it running is stale.
func deathPending(ls []Lifecycle, now time.Time) bool {
	for i := len(ls) - 1; i >= 0; i-- {
		switch ls[i].Action {
		case "start":
			return false
		case "die":
			return now.Sub(ls[i].Time) < deathGrace
		}
	}
	return false
}

// recentLoss says docker announced the container's end (kill, die or
// destroy) within deathGrace: a transient listing (removal in progress)
// is worth another look rather than a report. Past the grace, or without
// docker events, the listing is reported as it stands.
func recentLoss(ls []Lifecycle, now time.Time) bool {
	for i := len(ls) - 1; i >= 0; i-- {
		switch ls[i].Action {
		case "kill", "die", "destroy":
			return now.Sub(ls[i].Time) < deathGrace
		}
	}
	return false
}

func orState(s, def State) State {
	if s == "" {
		return def
	}
	return s
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

// observe persists the observation with its events. From a tick (rep set),
// whose caller holds logMu, the events join the report and are published
// when the tick has judged everything; from a repair (rep nil), which
// reports after its tick, they are published at once.
func (w *Watcher) observe(ctx context.Context, rep *TickReport, o Observation, evs ...*Event) {
	if rep == nil {
		w.logMu.Lock()
		defer w.logMu.Unlock()
	}
	if err := w.Registry.Observe(ctx, o, evs...); err != nil {
		w.Log.Error("record observation", "container", o.Container, "state", o.State, "err", err)
		if rep != nil && rep.Error == "" {
			rep.Error = err.Error()
		}
		return
	}
	if rep != nil {
		for _, e := range evs {
			rep.Events = append(rep.Events, *e)
		}
		return
	}
	var out []Event
	for _, e := range evs {
		out = append(out, *e)
	}
	w.publish(out)
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
func orphans(prefix string, cs []Container, agents []Agent) []Container {
	listed := map[Instance]bool{}
	for _, a := range agents {
		for _, i := range a.Instances {
			listed[Instance{a.Name, i}] = true
		}
	}
	var out []Container
	for _, c := range cs {
		if Ours(prefix, c) && !listed[Instance{c.Agent, c.Instance}] {
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
