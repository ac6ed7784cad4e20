package watchdog

import (
	"maps"
	"slices"
	"testing"
	"time"
)

// The watchdog's own work is what docker stamped while a recreation or
// restart of that container was under way, seen within ownWindow of its
// end; nothing before it began, after it ended, or about another name.
func TestOwnIsWhatDockerStampedDuringTheWork(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := time.Second
	rs := newRepairs(1, DefaultBackoff, nil)
	if rs.own("a", t0, t0) {
		t.Fatal("own before any work")
	}
	if !rs.begin("a", t0) {
		t.Fatal("begin refused")
	}
	for _, c := range []struct {
		at   time.Time
		want bool
	}{{t0.Add(-time.Nanosecond), false}, {t0, true}, {t0.Add(time.Hour), true}} {
		if got := rs.own("a", c.at, t0.Add(s)); got != c.want {
			t.Errorf("in flight: own(at %v) = %v, want %v", c.at.Sub(t0), got, c.want)
		}
	}
	if rs.own("b", t0.Add(s), t0.Add(s)) {
		t.Error("another container's event taken as own")
	}
	rs.end("a", t0.Add(2*s))
	for _, c := range []struct {
		at, now time.Time
		want    bool
	}{
		{t0.Add(s), t0.Add(2 * s), true},                              // the run's start, delivered after it returned
		{t0.Add(2 * s), t0.Add(2*s + ownWindow), true},                // at the edge of the window
		{t0.Add(2*s + time.Nanosecond), t0.Add(3 * s), false},         // a crash after the run
		{t0.Add(-time.Nanosecond), t0.Add(3 * s), false},              // the removal that caused it
		{t0.Add(s), t0.Add(2*s + ownWindow + time.Nanosecond), false}, // long after
	} {
		if got := rs.own("a", c.at, c.now); got != c.want {
			t.Errorf("ended: own(at %v, now %v) = %v, want %v", c.at.Sub(t0), c.now.Sub(t0), got, c.want)
		}
	}
	// A restart is work too.
	if !rs.beginRestart("a", t0.Add(10*s)) || !rs.own("a", t0.Add(10*s), t0.Add(10*s)) {
		t.Error("a restart's events not taken as own")
	}
}

// The follower asks a check for a removal, a tick for the rest, and
// nothing for what the watchdog did itself or for events that end nothing.
func TestFollowerAsksCheckForRemovalAndNothingForItsOwn(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := NewAsks()
	f := &Follower{Asks: a, Own: func(c string, at time.Time) bool { return c == "mine" && !at.After(t0) },
		Trigger: func() { t.Error("Trigger called though Asks is set") }}
	for _, l := range []Lifecycle{
		{Container: "x", Action: "kill", Time: t0}, {Container: "x", Action: "create", Time: t0},
		{Container: "mine", Action: "die", Time: t0}, {Container: "mine", Action: "destroy", Time: t0},
		{Container: "mine", Action: "start", Time: t0},
	} {
		f.ask(l)
	}
	if a.wantsTick() || len(a.checks) != 0 {
		t.Fatalf("asks %v, checks %v after own and inert events, want none", a.ticks, a.checks)
	}
	f.ask(Lifecycle{Container: "mine", Action: "die", Time: t0.Add(time.Second)}) // not within the work
	f.ask(Lifecycle{Container: "y", Action: "oom", Time: t0})
	f.ask(Lifecycle{Container: "z", Action: "health_status", Time: t0})
	f.ask(Lifecycle{Container: "w", Action: "start", Time: t0})
	if want := map[string]bool{"y": true, "z": true, "w": true}; !maps.Equal(a.ticks, want) {
		t.Errorf("tick asks %v, want %v", a.ticks, want)
	}
	if got := a.takeDied(); !slices.Equal(got, []string{"mine"}) {
		t.Errorf("deaths %q, want mine", got)
	}
	// docker rm -f: kill, die, destroy; the destroy's check covers the die.
	f.ask(Lifecycle{Container: "v", Action: "die", Time: t0})
	f.ask(Lifecycle{Container: "v", Action: "destroy", Time: t0})
	f.ask(Lifecycle{Container: "v", Action: "destroy", Time: t0})
	if a.died["v"] {
		t.Error("the die still asks for a look after the destroy")
	}
	if got := a.takeChecks(); !slices.Equal(got, []string{"v"}) {
		t.Errorf("checks %q, want v once", got)
	}
	if !a.takeTick() || a.wantsTick() {
		t.Error("takeTick did not take the asks")
	}

	// Without Asks every look is a tick, as before.
	n := 0
	f = &Follower{Trigger: func() { n++ }}
	f.ask(Lifecycle{Container: "v", Action: "destroy"})
	f.ask(Lifecycle{Container: "v", Action: "die"})
	if n != 2 {
		t.Errorf("%d triggers without Asks, want 2", n)
	}
}
