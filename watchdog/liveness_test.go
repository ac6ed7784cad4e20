package watchdog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

func TestHealthy(t *testing.T) {
	h := &watchdog.Liveness{Interval: 10 * time.Second}
	check := func(at time.Duration, want watchdog.LivenessStatus, reason string) {
		t.Helper()
		v := h.Healthy(now.Add(at))
		if v.Status != want || v.Reason != reason {
			t.Errorf("at +%s: %s %q, want %s %q", at, v.Status, v.Reason, want, reason)
		}
		if v.Alive() != (want != watchdog.LivenessStuck) {
			t.Errorf("at +%s: Alive() = %v for %s", at, v.Alive(), v.Status)
		}
	}
	check(0, watchdog.LivenessStuck, "no tick has completed yet")

	h.Record(watchdog.TickReport{Result: watchdog.TickCompleted}, nil, now)
	check(0, watchdog.LivenessOK, "")
	check(20*time.Second, watchdog.LivenessOK, "")
	check(20*time.Second+time.Millisecond, watchdog.LivenessStuck, "last completed tick was 20.001s ago, more than two intervals (20s)")

	// docker unreachable: the loop is alive (ping, 200) but degraded.
	skip := fmt.Errorf("%w: docker ps: timed out", watchdog.ErrSkipped)
	h.Record(watchdog.TickReport{Result: watchdog.TickSkipped, Error: skip.Error()}, skip, now.Add(time.Minute))
	check(time.Minute, watchdog.LivenessDegraded, "tick skipped: docker ps: timed out")
	if got, want := h.Status(), "degraded: tick skipped: docker ps: timed out"; got != want {
		t.Errorf("Status() = %q, want %q", got, want)
	}

	// The registry failing degrades a completed tick: alive, degraded.
	full := "registry unwritable, 2 writes held: database or disk is full"
	h.Record(watchdog.TickReport{Result: watchdog.TickCompleted, Degraded: full, Instances: []watchdog.InstanceState{{State: watchdog.StateRunning}}}, nil, now.Add(2*time.Minute))
	check(2*time.Minute, watchdog.LivenessDegraded, full)
	if got, want := h.Status(), "degraded: "+full+"; 1 running, 0 stopped, 0 missing"; got != want {
		t.Errorf("Status() = %q, want %q", got, want)
	}
	// Healthy again once a tick is not degraded; stale when none ends.
	h.Record(watchdog.TickReport{Result: watchdog.TickCompleted}, nil, now.Add(3*time.Minute))
	check(3*time.Minute, watchdog.LivenessOK, "")
	check(4*time.Minute, watchdog.LivenessStuck, "last completed tick was 1m0s ago, more than two intervals (20s)")
}

func TestHealthStatusLine(t *testing.T) {
	h := &watchdog.Liveness{Interval: time.Minute}
	rep := watchdog.TickReport{Result: watchdog.TickCompleted, Instances: []watchdog.InstanceState{
		{State: watchdog.StateRunning}, {State: watchdog.StateRunning}, {State: watchdog.StateStopped}, {State: watchdog.StateMissing}}}
	h.Record(rep, nil, now)
	if got, want := h.Status(), "2 running, 1 stopped, 1 missing"; got != want {
		t.Errorf("Status() = %q, want %q", got, want)
	}
	failed := watchdog.Event{Time: now, Type: watchdog.EventRecreateFailed, Container: "claude-hooks-dev-a", Detail: "no such image"}
	rep.Instances = append(rep.Instances, watchdog.InstanceState{State: watchdog.StateOrphaned})
	rep.Events = []watchdog.Event{failed}
	h.Record(rep, nil, now)
	if got, want := h.Status(), "2 running, 1 stopped, 1 missing, 1 orphaned; last problem: 2026-04-20T12:00:00Z claude-hooks-dev-a: no such image"; got != want {
		t.Errorf("Status() = %q, want %q", got, want)
	}
	if last, ok := h.Last(); !ok || len(last.Instances) != 5 {
		t.Errorf("Last() = %+v, %v; want the last report", last, ok)
	}
	// A skipped tick saw no instance: the last ones seen stand.
	h.Record(watchdog.TickReport{Result: watchdog.TickSkipped, Error: "tick skipped: docker ps: timed out"}, watchdog.ErrSkipped, now)
	if last, _ := h.Last(); last.Result != watchdog.TickSkipped || len(last.Instances) != 5 {
		t.Errorf("after a skipped tick Last() = %+v; want it skipped, with the 5 instances seen before", last)
	}
}
