package watchdog

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// TickResult says whether a tick looked at containers.
type TickResult string

const (
	// TickCompleted: docker was listed and every instance judged.
	TickCompleted TickResult = "completed"
	// TickSkipped: nothing was judged, because docker could not be listed
	// (ErrSkipped) or the registry could not be read.
	TickSkipped TickResult = "skipped"
)

// TickReport says what one tick saw and did.
type TickReport struct {
	Started  time.Time     `json:"time"`
	Duration time.Duration `json:"-"`
	Result   TickResult    `json:"result"`
	Error    string        `json:"error,omitempty"`
	// Degraded says why a completed tick could not use the registry as it
	// should (it went on from what it read last, or holds unsaved events).
	Degraded  string          `json:"degraded,omitempty"`
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

// Summary is one line of counts by state, as STATUS= and `status` say it.
func (r TickReport) Summary() string {
	n := r.Counts()
	s := fmt.Sprintf("%d running, %d stopped, %d missing", n[StateRunning], n[StateStopped], n[StateMissing])
	if o := n[StateOrphaned]; o > 0 {
		s += fmt.Sprintf(", %d orphaned", o)
	}
	return s
}

// LivenessStatus is the loop's health as /healthz names it.
type LivenessStatus string

const (
	LivenessOK LivenessStatus = "ok"
	// LivenessDegraded: the loop is alive but could not look at docker, or
	// could not read or write the registry.
	LivenessDegraded LivenessStatus = "degraded"
	// LivenessStuck: no tick has completed recently; the loop is stuck.
	LivenessStuck LivenessStatus = "unhealthy"
)

// LivenessVerdict is what Healthy says: the status, why, and when a tick last completed.
type LivenessVerdict struct {
	Status        LivenessStatus
	Reason        string
	LastCompleted time.Time
}

// Alive says a supervisor should leave the process running.
func (v LivenessVerdict) Alive() bool { return v.Status != LivenessStuck }

// Liveness remembers what the loop last did, for STATUS=, /healthz and
// /state. Every tick that ends proves the loop alive: one skipped because
// docker is unreachable, or degraded because the registry is, too. Neither
// would be mended by a restart, so the systemd watchdog is pinged; only a
// loop that stops ending its ticks goes stale.
type Liveness struct {
	// Interval is the time between ticks; two of them without a completed
	// tick make the loop unhealthy.
	Interval time.Duration

	mu            sync.Mutex
	last          TickReport
	ticked        bool
	lastCompleted time.Time
	lastProblem   string
}

// Record takes a tick that ended at now. A skipped tick saw no
// instances: the last ones seen stand until a tick sees them again.
func (h *Liveness) Record(rep TickReport, err error, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if rep.Result == TickSkipped {
		rep.Instances = h.last.Instances
	}
	h.last, h.ticked, h.lastCompleted = rep, true, now
	switch {
	case err != nil:
		h.lastProblem = stamp(now) + " " + err.Error()
	case rep.Error != "":
		h.lastProblem = stamp(now) + " " + rep.Error
	}
	for _, ev := range rep.Events {
		if ev.Type == EventRecreateFailed {
			h.lastProblem = stamp(ev.Time) + " " + ev.Container + ": " + ev.Detail
		}
	}
}

// Last returns the last tick's report; ok is false before the first.
func (h *Liveness) Last() (rep TickReport, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last, h.ticked
}

// Healthy judges the loop at now.
func (h *Liveness) Healthy(now time.Time) LivenessVerdict {
	h.mu.Lock()
	defer h.mu.Unlock()
	v := LivenessVerdict{LastCompleted: h.lastCompleted}
	switch age := now.Sub(h.lastCompleted); {
	case h.lastCompleted.IsZero():
		v.Status, v.Reason = LivenessStuck, "no tick has completed yet"
	case age > 2*h.Interval:
		v.Status, v.Reason = LivenessStuck, fmt.Sprintf("last completed tick was %s ago, more than two intervals (%s)", age.Round(time.Millisecond), 2*h.Interval)
	case h.last.Result == TickSkipped:
		v.Status, v.Reason = LivenessDegraded, h.last.Error
	case h.last.Degraded != "":
		v.Status, v.Reason = LivenessDegraded, h.last.Degraded
	default:
		v.Status = LivenessOK
	}
	return v
}

// Status is the one-line STATUS= text: counts by state and the last
// problem, or why the last tick was skipped.
func (h *Liveness) Status() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var s string
	switch {
	case h.last.Result == TickSkipped:
		s = "degraded: " + h.last.Error // the skip is the problem
	case h.last.Degraded != "":
		s = "degraded: " + h.last.Degraded + "; " + h.last.Summary()
	default:
		s = h.last.Summary()
		if h.lastProblem != "" {
			s += "; last problem: " + h.lastProblem
		}
	}
	return strings.Join(strings.Fields(s), " ")
}
