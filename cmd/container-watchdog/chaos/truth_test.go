package chaos

// The invariants, judged against ground truth: the suite knows what it did
// to every instance, so it can tell a report that is false (nothing
// happened that it claims) from one that is missing (something happened
// that no event ever said), and it keeps every event it has seen, so a
// lost or reused id shows.

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// done is what the suite did to a container that no event has reported
// yet: when each removal, and the last stop and kill, began (zero: none
// pending). An event is explained only by a fault that began before it.
type done struct {
	removed         []time.Time
	stopped, killed time.Time
}

// before says a fault began (at) before t.
func before(at, t time.Time) bool { return !at.IsZero() && at.Before(t) }

// removedBefore says a removal pending began before t.
func (d *done) removedBefore(t time.Time) bool {
	return slices.ContainsFunc(d.removed, func(at time.Time) bool { return before(at, t) })
}

// truth is the suite's account of a set of instances.
type truth struct {
	names   []string
	pending map[string]*done
	known   []watchdog.Event          // the event log as last read, id order
	last    map[string]watchdog.Event // each container's last event
	// allowFailed says a container_recreate_failed is an honest report (an
	// engine that hangs or goes away makes recreations fail).
	allowFailed bool

	falseReports []string // events that claimed what did not happen
	lostEvents   []string // ids that vanished or changed, and gaps
	history      []string // what the suite did, and when
}

// newTruth starts the account of instances that exist (created, say, by
// the CLI) and were never reported; with uncreated, of instances never
// created, whose first report is a missing one.
func newTruth(names []string, uncreated bool) *truth {
	t := &truth{names: names, pending: map[string]*done{}, last: map[string]watchdog.Event{}}
	for _, n := range names {
		t.pending[n] = &done{}
		if uncreated {
			t.pending[n].removed = []time.Time{time.Unix(1, 0)}
		}
	}
	return t
}

// removed, stopped and killed record what the suite did, begun at at.
func (t *truth) removed(name string, at time.Time) {
	t.pending[name].removed = append(t.pending[name].removed, at)
	t.did(at, "rm -f", name)
}
func (t *truth) stopped(name string, at time.Time) {
	t.pending[name].stopped = at
	t.did(at, "stop", name)
}
func (t *truth) killed(name string, at time.Time) {
	t.pending[name].killed = at
	t.did(at, "kill", name)
}

// did notes an action begun at at in the history; name "" is one about
// the daemon.
func (t *truth) did(at time.Time, what, name string) {
	t.history = append(t.history, at.UTC().Format("15:04:05.000")+" "+what+" "+name)
}

// story is a container's history: what the suite did and every event,
// in time order, for a failure's message.
func (t *truth) story(name string) string {
	var lines []string
	for _, h := range t.history {
		if strings.HasSuffix(h, " "+name) || strings.HasSuffix(h, " ") {
			lines = append(lines, h)
		}
	}
	for _, e := range t.known {
		if e.Container == name {
			lines = append(lines, e.Time.UTC().Format("15:04:05.000")+" event "+show(e))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// absorb takes the whole event log as read now. Every event seen before
// must be there unchanged, ids must run 1, 2, 3... without a gap, and
// every new event is judged against what the suite did. It returns the
// new events.
func (t *truth) absorb(log []watchdog.Event) []watchdog.Event {
	for i, e := range log {
		if e.ID != int64(i+1) {
			t.lostEvents = append(t.lostEvents, fmt.Sprintf("event at position %d has id %d: ids must run without gaps", i+1, e.ID))
			break
		}
	}
	for i, k := range t.known {
		if i >= len(log) {
			t.lostEvents = append(t.lostEvents, fmt.Sprintf("event %d (%s %s) is gone from the log", k.ID, k.Type, k.Container))
			continue
		}
		if !sameEvent(log[i], k) {
			t.lostEvents = append(t.lostEvents, fmt.Sprintf("event id %d reused: was %s, now %s", k.ID, show(k), show(log[i])))
		}
	}
	if len(log) <= len(t.known) {
		return nil
	}
	fresh := log[len(t.known):]
	t.known = append(t.known, fresh...)
	for _, e := range fresh {
		t.judge(e)
	}
	return fresh
}

// frames checks that what a daemon published is what the log holds
// under the same ids (call it after absorbing a log read after frames).
func (t *truth) frames(frames []watchdog.Event) {
	for _, f := range frames {
		switch {
		case f.ID < 1 || f.ID > int64(len(t.known)):
			t.lostEvents = append(t.lostEvents, fmt.Sprintf("published %s, which the log does not hold", show(f)))
		case !sameEvent(f, t.known[f.ID-1]):
			t.lostEvents = append(t.lostEvents, fmt.Sprintf("published %s, but the log has %s under that id", show(f), show(t.known[f.ID-1])))
		}
	}
}

func sameEvent(a, b watchdog.Event) bool {
	return a.ID == b.ID && a.Type == b.Type && a.Container == b.Container && a.Time.Equal(b.Time) && a.Detail == b.Detail
}

func show(e watchdog.Event) string {
	return fmt.Sprintf("#%d %s %s %s %q", e.ID, e.Time.Format("15:04:05.000"), e.Type, e.Container, e.Detail)
}

// judge decides whether one new event reports something that happened.
func (t *truth) judge(e watchdog.Event) {
	p, ok := t.pending[e.Container]
	if !ok {
		t.falseReports = append(t.falseReports, "about a container the suite does not watch: "+show(e))
		return
	}
	prev, hadPrev := t.last[e.Container]
	t.last[e.Container] = e
	was := func(types ...watchdog.EventType) bool { return hadPrev && slices.Contains(types, prev.Type) }
	var why string
	at := e.Time
	switch e.Type {
	case watchdog.EventMissing:
		if !p.removedBefore(at) {
			why = "nothing removed it"
		}
		// It reports every removal before it.
		p.removed = slices.DeleteFunc(p.removed, func(r time.Time) bool { return before(r, at) })
	case watchdog.EventStopped:
		// docker rm -f kills first: a listing in between sees it exited.
		if !before(p.stopped, at) && !before(p.killed, at) && !p.removedBefore(at) {
			why = "nothing stopped, killed or removed it"
		}
		for _, f := range []*time.Time{&p.stopped, &p.killed} {
			if before(*f, at) {
				*f = time.Time{}
			}
		}
	case watchdog.EventRestarted:
		if !before(p.killed, at) {
			why = "nothing killed it"
		}
		if before(p.killed, at) {
			p.killed = time.Time{}
		}
	case watchdog.EventRecreated:
		if !was(watchdog.EventMissing, watchdog.EventRecreateFailed) {
			why = "it was not reported missing"
		}
	case watchdog.EventRunning:
		if !was(watchdog.EventStopped, watchdog.EventMissing, watchdog.EventRecreateFailed) {
			why = "it was not reported stopped or missing"
		}
	case watchdog.EventRecreateFailed:
		if !t.allowFailed {
			why = "the engine was healthy: a recreation that fails there is a race lost"
		}
	default:
		why = "no such thing happens in this scenario"
	}
	if why != "" {
		t.falseReports = append(t.falseReports, show(e)+": "+why+"; its story:\n"+t.story(e.Container))
	}
}

// reportHorizon is how long after a kill or stop its report may still
// come: a container docker restarted is reported restarted once docker's
// grace (5 s after the death) has passed, at a tick after that.
const reportHorizon = 30 * time.Second

// rest clears what the suite did that is history once the world is at
// rest, for a container that runs and was last reported running: a kill
// (docker restarted it) or stop the watchdog never saw, once older than
// reportHorizon, and removals that needed no report.
func (t *truth) rest(cs []ctr) {
	seen := byName(cs)
	old := time.Now().Add(-reportHorizon)
	for _, n := range t.names {
		if e, ok := t.last[n]; (!ok || slices.Contains(runningTypes, e.Type)) && seen[n].State == "running" {
			p := t.pending[n]
			for _, f := range []*time.Time{&p.stopped, &p.killed} {
				if f.Before(old) {
					*f = time.Time{}
				}
			}
			if !t.unreported(n) {
				p.removed = nil
			}
		}
	}
}

// unreported says a removal of name is pending that needed a report: the
// log said the container ran when it was removed. (A container removed
// while reported missing, one a killed daemon's repair had made and never
// reported, needs none.)
func (t *truth) unreported(name string) bool {
	for _, r := range t.pending[name].removed {
		var last *watchdog.Event
		for i := range t.known {
			if k := &t.known[i]; k.Container == name && k.Time.Before(r) {
				last = k
			}
		}
		if last == nil || !slices.Contains([]watchdog.EventType{watchdog.EventMissing, watchdog.EventRecreateFailed}, last.Type) {
			return true
		}
	}
	return false
}

// runningTypes are the reports after which a container runs.
var runningTypes = []watchdog.EventType{watchdog.EventRecreated, watchdog.EventRunning, watchdog.EventRestarted}

// disagreements says, for each instance, where its last event and docker's
// state (cs, listed after the log was read) tell different stories, with
// the world meant to be at rest: every removal reported and recreated,
// nothing created or in between.
func (t *truth) disagreements(cs []ctr) []string {
	seen := byName(cs)
	var out []string
	for _, n := range t.names {
		c, exists := seen[n]
		e, reported := t.last[n]
		var why string
		switch {
		case !exists:
			why = "missing"
		case c.State == "running" && reported && !slices.Contains(runningTypes, e.Type):
			why = "running, last reported otherwise"
		case c.State == "running" && t.unreported(n):
			why = "removed and back without a container_missing"
		case c.State == "running":
		case c.State == "exited" && (!reported || e.Type != watchdog.EventStopped):
			why = "stopped, not reported so"
		case c.State != "exited":
			why = "docker state " + c.State + " at rest"
		}
		if why != "" {
			last := "no event"
			if reported {
				last = show(e)
			}
			out = append(out, fmt.Sprintf("%s: %s (docker %q, last event %s)", n, why, c.State, last))
		}
	}
	return out
}

// tickDisagreements checks the first completed tick after a restart: each
// instance's last event up to the tick's end must agree with what the
// tick saw, or be the outcome of a repair the tick started.
func (t *truth) tickDisagreements(v tickView) []string {
	var out []string
	end := v.end()
	for _, in := range v.Instances {
		var e *watchdog.Event
		for i := len(t.known) - 1; i >= 0; i-- {
			if k := t.known[i]; k.Container == in.Container && !k.Time.After(end) {
				e = &k
				break
			}
		}
		ok := false
		switch {
		case e == nil:
		case in.State == watchdog.StateRunning:
			ok = slices.Contains(runningTypes, e.Type)
		case in.State == watchdog.StateStopped:
			// A created one with an intent is a cut-off recreation being
			// finished; a removing one is on its way to missing.
			ok = e.Type == watchdog.EventStopped || in.Docker == "removing" || in.Docker == "created"
		case in.State == watchdog.StateMissing:
			ok = slices.Contains([]watchdog.EventType{watchdog.EventMissing, watchdog.EventRecreateFailed}, e.Type) ||
				(e.Type == watchdog.EventRecreated && e.Time.After(v.Tick.Time))
		}
		if !ok {
			last := "no event"
			if e != nil {
				last = show(*e)
			}
			out = append(out, fmt.Sprintf("%s: the first tick saw %s (docker %q) but the last event by its end is %s", in.Container, in.State, in.Docker, last))
		}
	}
	return out
}

// verdict sums up the faults found, or "" when there are none.
func (t *truth) verdict() string {
	var b strings.Builder
	for _, s := range t.falseReports {
		b.WriteString("false report: " + s + "\n")
	}
	for _, s := range t.lostEvents {
		b.WriteString("lost event: " + s + "\n")
	}
	if b.Len() > 0 {
		b.WriteString("the event log's last events:\n")
		for _, e := range t.known[max(0, len(t.known)-40):] {
			b.WriteString(show(e) + "\n")
		}
	}
	return b.String()
}
