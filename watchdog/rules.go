package watchdog

import (
	"fmt"
	"time"
)

// Look is everything the rules need to judge one instance at one moment:
// what was last recorded, what docker shows now, what docker's event stream
// said recently. It holds values only, so Judge needs no fakes.
type Look struct {
	Container, Agent, Instance string
	// Prev is the last stored observation; its State is "" when none is.
	Prev Observation
	// Docker is the container as listed, nil when docker does not know it.
	Docker *Container
	// Evidence is the container's recent lifecycle, oldest first.
	Evidence []Lifecycle
	Now      time.Time
	// Listed is when the docker listing that Docker comes from began (zero:
	// at Now). On a loaded engine it can be seconds before Now, and a
	// listing cannot show what happened after it began.
	Listed time.Time
	// NextRepair is when pacing next allows a recreation (zero: at once).
	NextRepair time.Time
	// Orphan marks a managed container the registry does not list.
	Orphan bool
	// Hold is the container's hold, if any; it may have expired.
	Hold *Hold
	// OnUnhealthy and UnhealthyGrace are the agent's health policy.
	OnUnhealthy    UnhealthyAction
	UnhealthyGrace time.Duration
	// Restarts counts the watchdog's unhealthy restarts within
	// RestartWindow; GaveUp says it stopped restarting until healthy.
	Restarts int
	GaveUp   bool
	// Intent says a recreation was recorded as started and its outcome
	// never was: the daemon stopped in the middle of it.
	Intent bool
	// FirstLook says this is the daemon's first completed look since it
	// started.
	FirstLook bool
}

// Verdict is what a Look means: the observation to keep, the events to
// report with it, and what to do next. Judge fills it; Watcher.judge
// applies it.
type Verdict struct {
	// Obs is the instance's observation after this look.
	Obs Observation
	// Store says Obs changed (or Events is not empty): persist both in one
	// transaction.
	Store  bool
	Events []Event
	// Repair asks for a recreation (pacing and in-flight checks still apply).
	Repair bool
	// Wake asks for another look soon: docker is mid-change.
	Wake bool
	// UsedEvidence says the evidence explained (or was made moot by) this
	// look, so it must not explain a later one.
	UsedEvidence bool
	// Probe asks for the last health probe's result in the unhealthy
	// report (AddProbe).
	Probe bool
	// Restart asks for `docker restart` of an unhealthy container; GiveUp
	// records that restarts stop until it has been healthy.
	Restart, GiveUp bool
	// RecheckAt asks for a look at that time (an unhealthy grace ends).
	RecheckAt time.Time
	// EndHold is an expired hold to delete.
	EndHold *Hold
}

// Limits of restarts for health: at most MaxRestarts in RestartWindow.
const (
	MaxRestarts   = 5
	RestartWindow = 10 * time.Minute
)

// deathGrace bounds how long after a death docker announced a listing
// may still disagree with it before the watchdog believes the listing:
// past it, the event that would reconcile the two was missed (the event
// stream dropped). It counts from the death to when the listing began.
const deathGrace = 5 * time.Second

// Judge applies the watchdog's rules to one look. It does no I/O.
//
// A condition is reported once, when it begins: the verdict stores (and
// reports) only a change of state, except a restart by docker, which is a
// change the listing alone cannot show.
func Judge(l Look) Verdict {
	switch {
	case l.Orphan:
		return judgeOrphan(l)
	case l.Hold != nil && l.Hold.Active(l.Now):
		return judgeHeld(l)
	case l.Prev.State == StateHeld:
		// Released (or expired): say so, then judge it afresh, so a
		// missing one is reported and recreated.
		released := releasedEvent(l)
		l.Prev = Observation{}
		v := judgeState(l)
		v.Events = append([]Event{released}, v.Events...)
		v.Store = true
		v.EndHold = l.Hold
		return v
	}
	v := judgeState(l)
	v.EndHold = l.Hold // expired unseen
	return v
}

// judgeState judges an instance no hold covers by docker's state.
func judgeState(l Look) Verdict {
	state := classify(l.Docker)
	v := Verdict{Obs: Observation{Container: l.Container, Agent: l.Agent, Instance: l.Instance, State: state, Since: l.Now}}
	unchanged := l.Prev.State == state
	if unchanged {
		v.Obs.Since, v.Obs.Detail = l.Prev.Since, l.Prev.Detail
	}
	switch state {
	case StateRunning:
		if unchanged {
			v.Obs.Health, v.Obs.HealthSince = l.Prev.Health, l.Prev.HealthSince
		}
		judgeRunning(l, unchanged, &v)
		judgeHealth(l, &v)
	case StateStopped:
		judgeStopped(l, unchanged, &v)
	case StateMissing:
		judgeMissing(l, unchanged, &v)
	}
	return v
}

func judgeRunning(l Look, unchanged bool, v *Verdict) {
	switch {
	case l.Prev.State == StateMissing && l.Intent:
		// The daemon stopped between its docker run and recording it.
		v.report(l, EventRecreated, "found running after the watchdog restarted; its own recreation had started before it stopped")
	case l.Prev.State == StateStopped || l.Prev.State == StateMissing:
		detail := fmt.Sprintf("was %s", l.Prev.State)
		if l.FirstLook {
			detail += "; found running after the watchdog restarted"
		}
		v.report(l, EventRunning, detail)
	case unchanged && deathPending(l.Evidence, l.listed()):
		// Docker announced a death this listing does not show: dockerd
		// publishes "die" before `docker ps` stops saying running. Not a
		// restart: keep the evidence for the next look, and look soon.
		v.Wake = true
	case unchanged && restartedByDocker(l.Evidence):
		// Died and restarted between two looks: the restart policy did its
		// job, but the operator should know.
		v.report(l, EventRestarted, "restarted by docker's restart policy")
	default:
		// First sight, or an orphan registered again: nothing ended. A
		// destroy here was a replacement (reconcile, agent set) and
		// explains nothing to come.
		v.UsedEvidence = replaced(l.Evidence)
		// Store only a change: a write per running instance per tick
		// costs more than the docker listing at 500 containers.
		v.Store = !unchanged
	}
}

func judgeStopped(l Look, unchanged bool, v *Verdict) {
	switch {
	case l.Docker.State == "created" && (l.Intent || l.Prev.State == StateMissing && l.Docker.Managed):
		// The watchdog's own recreation cut off between docker's create
		// and start: it was killed (its intent survives), or its docker
		// run failed after the create (reported, and the report cleared
		// the intent; the instance is still the missing one it was
		// repairing). No restart policy starts a container never started:
		// finish the repair; its outcome is the report. (Anyone else's
		// created container is a stop, as the contract says.)
		v.Obs = l.Prev
		v.Repair = true
	case l.Docker.State == "removing" && recentLoss(l.Evidence, l.listed()):
		// docker rm under way: not a stop for the restart policy. The
		// destroy that follows makes it missing, and that report gets the
		// evidence.
		v.Wake = true
	case !unchanged:
		v.report(l, EventStopped, stoppedDetail(l.Docker))
	}
}

func judgeMissing(l Look, unchanged bool, v *Verdict) {
	v.Repair = true
	if unchanged {
		return // reported when it began; the repair goes on
	}
	detail := "not known to docker"
	if l.NextRepair.After(l.Now) {
		detail += fmt.Sprintf("; recreated too recently, next attempt at %s", stamp(l.NextRepair))
	}
	v.Obs.Detail = ""
	v.report(l, EventMissing, detail)
}

// judgeHealth reports docker's health verdict of a running container once
// when it turns unhealthy and once when it is healthy again, and with
// --on-unhealthy restart asks for a restart once the grace has passed,
// within the restart limit.
func judgeHealth(l Look, v *Verdict) {
	h := l.Docker.Health
	switch {
	case h == HealthUnhealthy && v.Obs.Health != HealthUnhealthy:
		v.Obs.Health, v.Obs.HealthSince = HealthUnhealthy, l.Now
		v.Events = append(v.Events, newEvent(l, EventUnhealthy, "docker's health check fails"))
		v.Store, v.Probe = true, true
	case h == HealthHealthy && v.Obs.Health == HealthUnhealthy:
		v.Obs.Health, v.Obs.HealthSince = HealthNone, time.Time{}
		v.Events = append(v.Events, newEvent(l, EventHealthy, fmt.Sprintf("unhealthy since %s", stamp(l.Prev.HealthSince))))
		v.Store = true
	case h == HealthNone && v.Obs.Health == HealthUnhealthy:
		// The health check is gone (the agent's was removed): nothing to report.
		v.Obs.Health, v.Obs.HealthSince = HealthNone, time.Time{}
		v.Store = true
	}
	if h != HealthUnhealthy || l.OnUnhealthy != OnUnhealthyRestart || l.GaveUp {
		return // "starting" after a restart is not unhealthy yet
	}
	switch due := v.Obs.HealthSince.Add(l.UnhealthyGrace); {
	case l.Restarts >= MaxRestarts:
		v.Events = append(v.Events, newEvent(l, EventUnhealthyGaveUp,
			fmt.Sprintf("restarted %d times in %s; leaving it alone until it has been healthy again", l.Restarts, RestartWindow)))
		v.Store, v.GiveUp = true, true
	case l.Now.Before(due):
		v.RecheckAt = due
	default:
		v.Restart = true
	}
}

// AddProbe adds the last probe's result to the unhealthy report.
func (v *Verdict) AddProbe(p Probe) {
	for i := range v.Events {
		if v.Events[i].Type == EventUnhealthy {
			v.Events[i].Detail += "; " + p.String()
		}
	}
}

func judgeHeld(l Look) Verdict {
	h := l.Hold
	v := Verdict{Obs: Observation{Container: l.Container, Agent: l.Agent, Instance: l.Instance, State: StateHeld, Since: l.Now, Detail: h.Reason},
		UsedEvidence: true} // what happens to a held container explains nothing later
	v.RecheckAt = h.Until // zero without an end: look when it expires
	switch {
	case l.Prev.State != StateHeld:
		v.Events = []Event{newEvent(l, EventHeld, holdDetail(*h))}
		v.Store = true
	case l.Prev.Detail != h.Reason:
		v.Obs.Since, v.Store = l.Prev.Since, true // held again for another reason
	default:
		v.Obs.Since = l.Prev.Since
	}
	return v
}

func holdDetail(h Hold) string {
	d := "held"
	if h.Reason != "" {
		d += ": " + h.Reason
	}
	if !h.Until.IsZero() {
		d += fmt.Sprintf(" (until %s)", stamp(h.Until))
	}
	return d
}

func releasedEvent(l Look) Event {
	d := "released"
	if l.Hold != nil {
		d = fmt.Sprintf("hold expired at %s", stamp(l.Hold.Until))
	}
	if l.Prev.Detail != "" {
		d += " (was held: " + l.Prev.Detail + ")"
	}
	return newEvent(l, EventReleased, d)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// newEvent is an event of type t about the look's instance, at its time.
func newEvent(l Look, t EventType, detail string) Event {
	return Event{Time: l.Now, Type: t, Container: l.Container, Agent: l.Agent, Instance: l.Instance, Detail: detail}
}

func judgeOrphan(l Look) Verdict {
	v := Verdict{Obs: Observation{Container: l.Container, Agent: l.Agent, Instance: l.Instance, State: StateOrphaned, Since: l.Now}}
	if l.Prev.State == StateOrphaned {
		v.Obs.Since = l.Prev.Since
		return v
	}
	v.Store = true
	v.Events = []Event{newEvent(l, EventOrphaned, "managed container not in the registry; left alone (reconcile --all --prune removes it)")}
	return v
}

// report adds an event explained by the look's evidence, and stores it
// with the observation.
func (v *Verdict) report(l Look, t EventType, detail string) {
	e := newEvent(l, t, detail)
	if why, fields := Explain(l.Evidence); why != "" {
		e.Detail += "; " + why
		e.Evidence = fields
		e.DockerTime = lastLoss(l.Evidence)
	}
	v.Events = append(v.Events, e)
	v.Store, v.UsedEvidence = true, true
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
	return !replaced(ls) && hasAction(ls, "die")
}

// replaced says the lifecycle holds a destroy.
func replaced(ls []Lifecycle) bool { return hasAction(ls, "destroy") }

func hasAction(ls []Lifecycle, action string) bool {
	for _, l := range ls {
		if l.Action == action {
			return true
		}
	}
	return false
}

// listed is when the look's listing began.
func (l Look) listed() time.Time {
	if l.Listed.IsZero() {
		return l.Now
	}
	return l.Listed
}

// deathPending says the lifecycle's last die has no start after it and a
// listing begun at listed may not show it yet: the death came after the
// listing began, or within deathGrace before. The container died and
// docker has not restarted it (yet), so a listing that shows it running
// is stale.
func deathPending(ls []Lifecycle, listed time.Time) bool {
	for i := len(ls) - 1; i >= 0; i-- {
		switch ls[i].Action {
		case "start":
			return false
		case "die":
			return listed.Sub(ls[i].Time) < deathGrace
		}
	}
	return false
}

// recentLoss says docker announced the container's end (kill, die or
// destroy) after a listing begun at listed, or within deathGrace before:
// a transient listing (removal in progress) is worth another look rather
// than a report.
func recentLoss(ls []Lifecycle, listed time.Time) bool {
	t := lastLoss(ls)
	return !t.IsZero() && listed.Sub(t) < deathGrace
}

// lastLoss is when docker last announced an end of the container (kill,
// die, oom, stop or destroy), or zero.
func lastLoss(ls []Lifecycle) time.Time {
	for i := len(ls) - 1; i >= 0; i-- {
		switch ls[i].Action {
		case "kill", "die", "oom", "stop", "destroy":
			return ls[i].Time
		}
	}
	return time.Time{}
}
