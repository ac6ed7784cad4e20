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
	// NextRepair is when pacing next allows a recreation (zero: at once).
	NextRepair time.Time
	// Orphan marks a managed container the registry does not list.
	Orphan bool
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
}

// deathGrace bounds how long a listing may disagree with a death docker
// announced before the watchdog believes the listing: past it, the event
// that would reconcile the two was missed (the event stream dropped).
const deathGrace = 5 * time.Second

// Judge applies the watchdog's rules to one look. It does no I/O.
//
// A condition is reported once, when it begins: the verdict stores (and
// reports) only a change of state, except a restart by docker, which is a
// change the listing alone cannot show.
func Judge(l Look) Verdict {
	if l.Orphan {
		return judgeOrphan(l)
	}
	state := classify(l.Docker)
	v := Verdict{Obs: Observation{Container: l.Container, Agent: l.Agent, Instance: l.Instance, State: state, Since: l.Now}}
	unchanged := l.Prev.State == state
	if unchanged {
		v.Obs.Since, v.Obs.Detail = l.Prev.Since, l.Prev.Detail
	}
	switch state {
	case StateRunning:
		judgeRunning(l, unchanged, &v)
	case StateStopped:
		judgeStopped(l, unchanged, &v)
	case StateMissing:
		judgeMissing(l, unchanged, &v)
	}
	return v
}

func judgeRunning(l Look, unchanged bool, v *Verdict) {
	switch {
	case l.Prev.State == StateStopped || l.Prev.State == StateMissing:
		v.report(l, EventRunning, fmt.Sprintf("was %s", l.Prev.State))
	case unchanged && deathPending(l.Evidence, l.Now):
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
	case l.Docker.State == "removing" && recentLoss(l.Evidence, l.Now):
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
		detail += fmt.Sprintf("; recreated too recently, next attempt at %s", l.NextRepair.UTC().Format(time.RFC3339))
	}
	v.Obs.Detail = ""
	v.report(l, EventMissing, detail)
}

func judgeOrphan(l Look) Verdict {
	v := Verdict{Obs: Observation{Container: l.Container, Agent: l.Agent, Instance: l.Instance, State: StateOrphaned, Since: l.Now}}
	if l.Prev.State == StateOrphaned {
		v.Obs.Since = l.Prev.Since
		return v
	}
	v.Store = true
	v.Events = []Event{{Time: l.Now, Type: EventOrphaned, Container: l.Container, Agent: l.Agent, Instance: l.Instance,
		Detail: "managed container not in the registry; left alone (reconcile --all --prune removes it)"}}
	return v
}

// report adds an event explained by the look's evidence, and stores it
// with the observation.
func (v *Verdict) report(l Look, t EventType, detail string) {
	e := Event{Time: l.Now, Type: t, Container: l.Container, Agent: l.Agent, Instance: l.Instance, Detail: detail}
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
// is worth another look rather than a report.
func recentLoss(ls []Lifecycle, now time.Time) bool {
	t := lastLoss(ls)
	return !t.IsZero() && now.Sub(t) < deathGrace
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
