package main

// Real-engine scenarios where the watchdog reports what docker did and
// leaves the container alone (see engine_test.go).

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// testStop: `docker stop` is an operator's decision. The watchdog reports
// container_stopped once, with docker's evidence, and leaves it alone: no
// start, no recreation, the restart policy untouched (unless-stopped keeps
// a stopped container stopped).
func (e *engine) testStop(t *testing.T) {
	s := e.scenario(t, "stop")
	name := s.name("dev", "default")
	s.cli("agent", "add", "dev", "--image", e.image)
	before := e.waitStatus(t, name, "running")
	d := s.startDaemon(t, engineInterval, nil)
	sse := d.subscribe(t)
	d.ready(t)

	mark := len(sse.all())
	e.mustRun(t, "stop", "--time", "10", name)
	stopped := sse.wait(t, engineWait, mark, "container_stopped", engIs(watchdog.EventStopped, name))
	if !strings.Contains(stopped.Detail, "exited") || !strings.Contains(stopped.Detail, "docker stop") {
		t.Errorf("container_stopped detail %q: want docker's state (exited) and the cause (docker stop)", stopped.Detail)
	}
	if stopped.Evidence["CONTAINER_EXIT_CODE"] != "0" || stopped.Evidence["CONTAINER_KILL_SIGNAL"] != "15" {
		t.Errorf("container_stopped evidence %v: want exit code 0 after signal 15", stopped.Evidence)
	}

	t0 := time.Now()
	st := d.ticksAfter(t, t0, 3)
	after := e.inspect(t, name)
	if !after.Exists || after.ID != before.ID || after.Status != "exited" || after.RestartCount != 0 || after.Policy != "unless-stopped" {
		t.Errorf("after 3 ticks the container is %+v; want the same container (%s) still exited, never restarted, policy unless-stopped", after, before.ID[:12])
	}
	if got := engInstanceState(st, name); got != watchdog.StateStopped {
		t.Errorf("/state says %s is %q, want stopped", name, got)
	}
	engOnly(t, sse.all(), mark, watchdog.EventStopped)
}

// testKill: a container killed by `docker kill` counts as stopped by hand
// for docker's restart policy (it stays exited), so the watchdog reports
// container_stopped with the kill as evidence and does not recreate it. A
// container whose process dies without docker's say (SIGKILL to its pid,
// as the OOM killer or a crash would) is restarted by the restart policy,
// and the watchdog reports that, with exit code 137 as evidence.
func (e *engine) testKill(t *testing.T) {
	s := e.scenario(t, "kill")
	killed, crashed := s.name("dev", "killed"), s.name("dev", "crashed")
	s.cli("agent", "add", "dev", "--image", e.image, "--instance", "killed", "--instance", "crashed")
	beforeKilled := e.waitStatus(t, killed, "running")
	beforeCrashed := e.waitStatus(t, crashed, "running")
	d := s.startDaemon(t, engineInterval, nil)
	sse := d.subscribe(t)
	d.ready(t)

	// docker kill.
	mark := len(sse.all())
	e.mustRun(t, "kill", killed)
	stopped := sse.wait(t, engineWait, mark, "container_stopped", engIs(watchdog.EventStopped, killed))
	for _, want := range []string{"Exited (137)", "kill signal=9", "die exitCode=137"} {
		if !strings.Contains(stopped.Detail, want) {
			t.Errorf("container_stopped detail %q lacks %q", stopped.Detail, want)
		}
	}
	if stopped.Evidence["CONTAINER_KILL_SIGNAL"] != "9" || stopped.Evidence["CONTAINER_EXIT_CODE"] != "137" {
		t.Errorf("container_stopped evidence %v: want kill signal 9 and exit code 137", stopped.Evidence)
	}

	// The process dies under docker: SIGKILL to the container's own pid.
	d.quiet(t)
	mark2 := len(sse.all())
	c := e.inspect(t, crashed)
	if c.Pid <= 0 {
		t.Fatalf("%s has no pid: %+v", crashed, c)
	}
	engMust(t, syscall.Kill(c.Pid, syscall.SIGKILL))
	// Either one tick saw it between the die and the restart (stopped,
	// then running), or only after the restart (restarted).
	back := sse.wait(t, engineWait, mark2, "container_restarted or container_running", func(ev engEvent) bool {
		return ev.Container == crashed && (ev.Type == watchdog.EventRestarted || ev.Type == watchdog.EventRunning)
	})
	evidence := back
	if back.Type == watchdog.EventRestarted {
		engOnly(t, sse.all()[:back.Index+1], mark2, watchdog.EventRestarted)
	} else {
		engOnly(t, sse.all()[:back.Index+1], mark2, watchdog.EventStopped, watchdog.EventRunning)
		evidence = sse.wait(t, 0, mark2, "container_stopped before container_running", engIs(watchdog.EventStopped, crashed))
	}
	t.Logf("crash reported as: %s", evidence)
	if !strings.Contains(evidence.Detail, "die exitCode=137") || evidence.Evidence["CONTAINER_EXIT_CODE"] != "137" {
		t.Errorf("%s detail %q evidence %v: want die exitCode=137", evidence.Type, evidence.Detail, evidence.Evidence)
	}
	if evidence.Evidence["CONTAINER_KILL_SIGNAL"] != "" {
		t.Errorf("%s evidence %v: docker sent no signal, so no kill signal", evidence.Type, evidence.Evidence)
	}

	t0 := time.Now()
	d.ticksAfter(t, t0, 2)
	afterKilled, afterCrashed := e.inspect(t, killed), e.inspect(t, crashed)
	if afterKilled.ID != beforeKilled.ID || afterKilled.Status != "exited" || afterKilled.RestartCount != 0 {
		t.Errorf("after docker kill: %+v; want the same container, exited, not restarted (docker kill is a stop by hand)", afterKilled)
	}
	if afterCrashed.ID != beforeCrashed.ID || afterCrashed.Status != "running" || afterCrashed.RestartCount < 1 {
		t.Errorf("after the crash: %+v; want the same container running again, restarted by docker", afterCrashed)
	}
	engNoEvents(t, sse.all(), mark, "recreation", func(ev engEvent) bool {
		return ev.Type == watchdog.EventMissing || ev.Type == watchdog.EventRecreated || ev.Type == watchdog.EventRecreateFailed
	})
	engNoEvents(t, sse.all(), mark, "other report about the killed container", func(ev engEvent) bool { return ev.Container == killed && ev.Index != stopped.Index })
}

// testOrphan: a managed container whose agent leaves the registry without
// a reconcile is reported once as container_orphaned and never removed.
func (e *engine) testOrphan(t *testing.T) {
	s := e.scenario(t, "orphan")
	name, kept := s.name("gone", "default"), s.name("kept", "default")
	s.cli("agent", "add", "gone", "--image", e.image)
	s.cli("agent", "add", "kept", "--image", e.image)
	before := e.waitStatus(t, name, "running")
	d := s.startDaemon(t, engineInterval, nil)
	sse := d.subscribe(t)
	d.ready(t)

	mark := len(sse.all())
	s.cli("agent", "rm", "gone", "--no-reconcile")
	orphaned := sse.wait(t, engineWait, mark, "container_orphaned", engIs(watchdog.EventOrphaned, name))
	if orphaned.Agent != "gone" || orphaned.Instance != "default" {
		t.Errorf("container_orphaned names agent %q instance %q, want gone/default", orphaned.Agent, orphaned.Instance)
	}
	st := d.ticksAfter(t, time.Now(), 3)
	if got := engInstanceState(st, name); got != watchdog.StateOrphaned {
		t.Errorf("/state says %s is %q, want orphaned", name, got)
	}
	if got := engInstanceState(st, kept); got != watchdog.StateRunning {
		t.Errorf("/state says %s is %q, want running", kept, got)
	}
	after := e.inspect(t, name)
	if after.ID != before.ID || after.Status != "running" {
		t.Errorf("the orphan after 3 ticks: %+v; want the same container (%s), still running", after, before.ID[:12])
	}
	engOnly(t, sse.all(), mark, watchdog.EventOrphaned)
}

// testStartupRace: a container that dies while a tick looks is reported
// as stopped, with its evidence, never as restarted. A tick whose `docker
// ps` was taken just before the death, or just after it (dockerd publishes
// "die" before `docker ps` stops saying running), sees it running with a
// die in the evidence; it once reported container_restarted ("restarted by
// docker's restart policy") for a container docker never restarted, and
// consumed the kill/die evidence the real report then lacked. Acting right
// after the daemon's first tick lands in the tick its docker events
// follower asks for on connecting: that hit the window 5 times out of 5.
func (e *engine) testStartupRace(t *testing.T) {
	s := e.scenario(t, "race")
	const tries = 5
	var instances []string
	for i := range tries {
		instances = append(instances, fmt.Sprintf("r%d", i))
	}
	s.cli(append([]string{"agent", "add", "dev", "--image", e.image}, engFlagEach("--instance", instances)...)...)
	hits := 0
	for _, in := range instances {
		name := s.name("dev", in)
		e.waitStatus(t, name, "running")
		d := s.startDaemon(t, engineInterval, nil)
		sse := d.subscribe(t)
		d.ticksAfter(t, time.Time{}, 1)
		e.mustRun(t, "kill", name)
		stopped := sse.wait(t, engineWait, 0, "container_stopped", engIs(watchdog.EventStopped, name))
		var got []string
		for _, ev := range sse.all()[:stopped.Index+1] {
			if ev.Container == name {
				got = append(got, ev.String())
			}
		}
		if len(got) != 1 || stopped.Evidence["CONTAINER_KILL_SIGNAL"] != "9" {
			hits++
			t.Errorf("docker kill of %s (docker does not restart it): want one container_stopped with the kill as evidence, got:\n%s", name, strings.Join(got, "\n"))
		}
		d.stop(t)
	}
	t.Logf("race hit %d of %d times", hits, tries)
}
