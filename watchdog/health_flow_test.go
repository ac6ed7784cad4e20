package watchdog_test

import (
	"strings"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// The Watcher over the fake docker's health checks: what docker's health
// verdict turns into, with --on-unhealthy report and restart.

// healthAgent is agent dev with a health check and the policy given.
func healthAgent(on watchdog.UnhealthyAction, grace time.Duration) watchdog.Agent {
	a := agent("dev")
	a.Health = watchdog.HealthCheck{Cmd: "test -f /state/ok", Interval: time.Second, Retries: 2}
	a.OnUnhealthy, a.UnhealthyGrace = on, grace
	return a
}

// probe makes a probe of name say status, with its exit code and output.
func (e *tickEnv) probe(name, status string, exit int, output string) {
	e.t.Helper()
	e.fake.must(e.fake.docker.SetHealth(name, status, exit, output))
}

func TestUnhealthyReportedOnceWithTheProbeThenHealthy(t *testing.T) {
	e := newTickEnv(t, healthAgent(watchdog.OnUnhealthyReport, 0))
	name := cname("dev", "default")
	rep, evs := e.tick()
	wantEvents(t, evs)
	if in := rep.Instances[0]; in.Health != watchdog.HealthStarting {
		t.Errorf("health %q, want starting from docker's Status", in.Health)
	}

	long := "no /state/ok\n" + strings.Repeat("x", 2000)
	e.probe(name, "unhealthy", 1, long)
	rep, evs = e.tick()
	wantEvents(t, evs, "container_unhealthy "+name)
	d := evs[0].Detail
	if !strings.HasPrefix(d, "docker's health check fails; last probe exited 1: no /state/ok\n") || !strings.HasSuffix(d, "...") || len(d) > 1100 {
		t.Errorf("detail %q...: want the probe's exit code and output, cut to 1 KiB", d[:60])
	}
	// The probe is read for this container only, once.
	if c := e.fake.calls("inspect"); len(c) != 1 || c[0][len(c[0])-1] != name || !hasSeq(c[0], "--format", "{{json .State.Health}}") {
		t.Errorf("inspect calls %q, want one of %s's health", c, name)
	}
	if in := rep.Instances[0]; in.State != watchdog.StateRunning || in.Health != watchdog.HealthUnhealthy || in.Trouble() != "unhealthy" {
		t.Errorf("instance %+v, want running and unhealthy", in)
	}

	// Still unhealthy, across a restart of the daemon: said once.
	e.probe(name, "unhealthy", 1, "still")
	_, evs = e.tick()
	wantEvents(t, evs)
	e.restart()
	_, evs = e.tick()
	wantEvents(t, evs)
	wantNoCalls(t, e.fake, "restart", "inspect", "run", "rm")

	e.probe(name, "healthy", 0, "")
	_, evs = e.tick()
	wantEvents(t, evs, "container_healthy "+name)
	_, evs = e.tick()
	wantEvents(t, evs)
}

func TestUnhealthyRestartedAfterTheGrace(t *testing.T) {
	e := newTickEnv(t, healthAgent(watchdog.OnUnhealthyRestart, 30*time.Second))
	e.w.Evidence = watchdog.NewEvidence(16, 10*time.Minute)
	name := cname("dev", "default")
	e.tick()
	e.probe(name, "unhealthy", 1, "no /state/ok")
	_, evs := e.tick()
	began := e.clock.Now()
	wantEvents(t, evs, "container_unhealthy "+name)
	wantNoCalls(t, e.fake, "restart")
	// Within the grace: the loop is told when it ends.
	wantNextWake(t, e.w, began.Add(30*time.Second))
	_, evs = e.tickAfter(20 * time.Second)
	wantEvents(t, evs)
	wantNoCalls(t, e.fake, "restart")

	_, evs = e.tickAfter(10 * time.Second)
	wantEvents(t, evs, "container_unhealthy_restarted "+name)
	if want := "unhealthy since " + began.UTC().Format(time.RFC3339); evs[0].Detail != want {
		t.Errorf("detail %q, want %q", evs[0].Detail, want)
	}
	if c := e.fake.calls("restart"); len(c) != 1 || !hasSeq(c[0], "restart", name) {
		t.Errorf("restart calls %q, want docker restart %s", c, name)
	}
	if h := e.fake.get(name).Health; h.Status != "starting" {
		t.Errorf("health after the restart %q, want starting", h.Status)
	}

	// docker's stream delivers the restart's kill, die and start after the
	// restart returned: they are the watchdog's own, not a restart by
	// docker's policy.
	for _, a := range []string{"kill", "die", "stop", "start"} {
		e.w.Evidence.Record(watchdog.Lifecycle{Time: e.clock.Now(), Container: name, Action: a})
	}
	_, evs = e.tickAfter(time.Second)
	wantEvents(t, evs)

	// Unhealthy again: the grace counts from the restart.
	e.probe(name, "unhealthy", 1, "no /state/ok")
	_, evs = e.tickAfter(time.Second)
	wantEvents(t, evs)
	wantNextWake(t, e.w, e.clock.Now().Add(28*time.Second))
}

func TestUnhealthyRestartLimitThenGiveUpUntilHealthy(t *testing.T) {
	e := newTickEnv(t, healthAgent(watchdog.OnUnhealthyRestart, 0))
	name := cname("dev", "default")
	e.tick()
	e.probe(name, "unhealthy", 1, "down")
	_, evs := e.tick()
	wantEvents(t, evs, "container_unhealthy "+name, "container_unhealthy_restarted "+name)
	start := e.clock.Now()
	for i := 2; i <= watchdog.MaxRestarts; i++ {
		e.probe(name, "unhealthy", 1, "down")
		_, evs = e.tickAfter(time.Minute)
		wantEvents(t, evs, "container_unhealthy_restarted "+name)
	}

	// The sixth within 10 minutes is not made: one event says so.
	e.probe(name, "unhealthy", 1, "down")
	_, evs = e.tickAfter(time.Minute)
	wantEvents(t, evs, "container_unhealthy_gave_up "+name)
	if !strings.Contains(evs[0].Detail, "restarted 5 times in 10m0s") {
		t.Errorf("detail %q", evs[0].Detail)
	}
	wantNoCalls(t, e.fake, "restart")
	// Even once the window has passed: it stays given up until healthy.
	_, evs = e.tickAfter(10 * time.Minute)
	wantEvents(t, evs)
	wantNoCalls(t, e.fake, "restart")

	// Healthy ends the give-up; unhealthy again is news, and restarted
	// (the five restarts are older than the window by now).
	e.probe(name, "healthy", 0, "")
	_, evs = e.tickAfter(time.Second)
	wantEvents(t, evs, "container_healthy "+name)
	e.probe(name, "unhealthy", 1, "down")
	_, evs = e.tickAfter(time.Second)
	wantEvents(t, evs, "container_unhealthy "+name, "container_unhealthy_restarted "+name)
	if e.clock.Now().Sub(start) < watchdog.RestartWindow {
		t.Fatalf("the test's clock moved only %s", e.clock.Now().Sub(start))
	}
}

func TestUnhealthyRestartFailureReportedAndRetriedAtTheNextTick(t *testing.T) {
	e := newTickEnv(t, healthAgent(watchdog.OnUnhealthyRestart, 0))
	var wakes int
	e.w.Wake = func() { wakes++ }
	name := cname("dev", "default")
	e.tick()
	stderr := "Error response from daemon: Cannot restart container " + name + ": tried to kill container, but did not receive an exit event"
	e.fake.setFail("restart", stderr)
	e.probe(name, "unhealthy", 1, "down")
	_, evs := e.tick()
	wantEvents(t, evs, "container_unhealthy "+name, "container_unhealthy_restart_failed "+name)
	if evs[1].Detail != stderr {
		t.Errorf("detail %q, want docker's stderr", evs[1].Detail)
	}
	if wakes != 0 {
		t.Errorf("a failed restart woke the loop %d times: it would spend the limit at once", wakes)
	}
	e.fake.setFail("restart", "")
	_, evs = e.tick()
	wantEvents(t, evs, "container_unhealthy_restarted "+name)
}

func TestHeldUnhealthyContainerIsNotRestarted(t *testing.T) {
	e := newTickEnv(t, healthAgent(watchdog.OnUnhealthyRestart, 0))
	name := cname("dev", "default")
	e.tick()
	e.hold(name, "debugging", time.Time{})
	e.probe(name, "unhealthy", 1, "down")
	rep, evs := e.tick()
	wantEvents(t, evs, "container_held "+name)
	wantNoCalls(t, e.fake, "restart", "inspect")
	if in := rep.Instances[0]; in.State != watchdog.StateHeld || !in.Held || in.HoldReason != "debugging" || in.Trouble() != "" {
		t.Errorf("instance %+v, want held for debugging", in)
	}
}

func TestContainerWithoutHealthCheckIsNeverUnhealthy(t *testing.T) {
	e := newTickEnv(t, agent("dev"))
	for range 3 {
		rep, evs := e.tick()
		wantEvents(t, evs)
		if in := rep.Instances[0]; in.Health != watchdog.HealthNone {
			t.Errorf("health %q without a check", in.Health)
		}
	}
	wantNoCalls(t, e.fake, "inspect", "restart")
}
