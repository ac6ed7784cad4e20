package watchdog_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// The rules need no fakes: each case is a Look and the Verdict it gets.

var (
	now     = time.Date(2026, 4, 20, 12, 0, 0, 0, time.UTC)
	earlier = now.Add(-time.Hour)
)

func ago(d time.Duration) time.Time { return now.Add(-d) }

func life(at time.Time, action string, attr ...string) watchdog.Lifecycle {
	l := watchdog.Lifecycle{Time: at, Container: "claude-hooks-dev-a", Action: action}
	for _, a := range attr {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "exitCode":
			l.ExitCode = v
		case "signal":
			l.Signal = v
		}
	}
	return l
}

func seen(state, status string) *watchdog.Container {
	return &watchdog.Container{Name: "claude-hooks-dev-a", State: state, Status: status, Managed: true, Agent: "dev", Instance: "a"}
}

func prev(s watchdog.State) watchdog.Observation {
	return watchdog.Observation{Container: "claude-hooks-dev-a", Agent: "dev", Instance: "a", State: s, Since: earlier}
}

// forceRemoved is what docker's stream shows for `docker rm -f`.
var forceRemoved = []watchdog.Lifecycle{life(ago(3*time.Second), "kill", "signal=9"), life(ago(3*time.Second), "die", "exitCode=137"), life(ago(2*time.Second), "destroy")}

// verdict is the part of a Verdict a case states; events as "type: detail".
type verdict struct {
	state  watchdog.State
	since  time.Time
	store  bool
	events []string
	repair bool
	wake   bool
	used   bool
	// health and holds
	health           watchdog.Health
	healthSince      time.Time
	probe, restart   bool
	giveUp           bool
	recheck, endHold time.Time
}

func got(v watchdog.Verdict) verdict {
	g := verdict{state: v.Obs.State, since: v.Obs.Since, store: v.Store, repair: v.Repair, wake: v.Wake, used: v.UsedEvidence,
		health: v.Obs.Health, healthSince: v.Obs.HealthSince, probe: v.Probe, restart: v.Restart, giveUp: v.GiveUp, recheck: v.RecheckAt}
	if v.EndHold != nil {
		g.endHold = v.EndHold.Until
	}
	for _, e := range v.Events {
		g.events = append(g.events, fmt.Sprintf("%s: %s", e.Type, e.Detail))
	}
	return g
}

func TestJudge(t *testing.T) {
	cases := []struct {
		name string
		look watchdog.Look
		want verdict
	}{
		// running
		{"first sight running is stored quietly", watchdog.Look{Docker: seen("running", "Up 1 second")},
			verdict{state: watchdog.StateRunning, since: now, store: true}},
		{"still running: nothing", watchdog.Look{Prev: prev(watchdog.StateRunning), Docker: seen("running", "")},
			verdict{state: watchdog.StateRunning, since: earlier}},
		{"stopped then running again", watchdog.Look{Prev: prev(watchdog.StateStopped), Docker: seen("running", ""),
			Evidence: []watchdog.Lifecycle{life(ago(time.Minute), "die", "exitCode=1"), life(ago(time.Second), "start")}},
			verdict{state: watchdog.StateRunning, since: now, store: true, used: true,
				events: []string{"container_running: was stopped; docker saw: die exitCode=1 at 11:59:00.000 (exited with code 1 (crash or error))"}}},
		{"missing (its repair's report lost) found running", watchdog.Look{Prev: prev(watchdog.StateMissing), Docker: seen("running", "")},
			verdict{state: watchdog.StateRunning, since: now, store: true, used: true, events: []string{"container_running: was missing"}}},
		{"missing found running on the first look after a restart", watchdog.Look{Prev: prev(watchdog.StateMissing), Docker: seen("running", ""), FirstLook: true},
			verdict{state: watchdog.StateRunning, since: now, store: true, used: true,
				events: []string{"container_running: was missing; found running after the watchdog restarted"}}},
		{"missing found running with our recreation recorded as started", watchdog.Look{Prev: prev(watchdog.StateMissing), Docker: seen("running", ""), Intent: true, FirstLook: true},
			verdict{state: watchdog.StateRunning, since: now, store: true, used: true,
				events: []string{"container_recreated: found running after the watchdog restarted; its own recreation had started before it stopped"}}},
		{"our recreation cut off after create: finish it, say nothing yet", watchdog.Look{Prev: prev(watchdog.StateMissing), Docker: seen("created", "Created"), Intent: true},
			verdict{state: watchdog.StateMissing, since: earlier, repair: true}},
		{"stopped found running on the first look after a restart", watchdog.Look{Prev: prev(watchdog.StateStopped), Docker: seen("running", ""), FirstLook: true},
			verdict{state: watchdog.StateRunning, since: now, store: true, used: true,
				events: []string{"container_running: was stopped; found running after the watchdog restarted"}}},
		{"running but docker announced a death: look again", watchdog.Look{Prev: prev(watchdog.StateRunning), Docker: seen("running", ""),
			Evidence: []watchdog.Lifecycle{life(ago(time.Second), "die", "exitCode=137")}},
			verdict{state: watchdog.StateRunning, since: earlier, wake: true}},
		{"died and restarted by docker between two looks", watchdog.Look{Prev: prev(watchdog.StateRunning), Docker: seen("running", ""),
			Evidence: []watchdog.Lifecycle{life(ago(2*time.Second), "die", "exitCode=2"), life(ago(time.Second), "start")}},
			verdict{state: watchdog.StateRunning, since: earlier, store: true, used: true,
				events: []string{"container_restarted: restarted by docker's restart policy; docker saw: die exitCode=2 at 11:59:58.000 (exited with code 2 (crash or error))"}}},
		{"a death after a slow listing began: the listing cannot show it, look again", watchdog.Look{Prev: prev(watchdog.StateRunning), Docker: seen("running", ""),
			Listed: ago(11 * time.Second), Evidence: []watchdog.Lifecycle{life(ago(10*time.Second), "die", "exitCode=137")}},
			verdict{state: watchdog.StateRunning, since: earlier, wake: true}},
		{"a death long past with its start missed is a restart", watchdog.Look{Prev: prev(watchdog.StateRunning), Docker: seen("running", ""),
			Evidence: []watchdog.Lifecycle{life(ago(time.Minute), "die", "exitCode=2")}},
			verdict{state: watchdog.StateRunning, since: earlier, store: true, used: true,
				events: []string{"container_restarted: restarted by docker's restart policy; docker saw: die exitCode=2 at 11:59:00.000 (exited with code 2 (crash or error))"}}},
		{"replaced (reconcile): evidence dropped, nothing said", watchdog.Look{Prev: prev(watchdog.StateRunning), Docker: seen("running", ""),
			Evidence: append(append([]watchdog.Lifecycle{}, forceRemoved...), life(ago(time.Second), "create"), life(ago(time.Second), "start"))},
			verdict{state: watchdog.StateRunning, since: earlier, used: true}},
		{"orphan registered again", watchdog.Look{Prev: prev(watchdog.StateOrphaned), Docker: seen("running", "")},
			verdict{state: watchdog.StateRunning, since: now, store: true}},

		// stopped: every docker state but running
		{"exited", watchdog.Look{Prev: prev(watchdog.StateRunning), Docker: seen("exited", "Exited (1) 2 seconds ago"),
			Evidence: []watchdog.Lifecycle{life(ago(2*time.Second), "die", "exitCode=1")}},
			verdict{state: watchdog.StateStopped, since: now, store: true, used: true,
				events: []string{"container_stopped: docker state exited (Exited (1) 2 seconds ago); docker saw: die exitCode=1 at 11:59:58.000 (exited with code 1 (crash or error))"}}},
		{"restarting", watchdog.Look{Prev: prev(watchdog.StateRunning), Docker: seen("restarting", "Restarting (1) 1 second ago")},
			verdict{state: watchdog.StateStopped, since: now, store: true, used: true,
				events: []string{"container_stopped: docker state restarting (Restarting (1) 1 second ago)"}}},
		{"paused", watchdog.Look{Prev: prev(watchdog.StateRunning), Docker: seen("paused", "Up 1 hour (Paused)")},
			verdict{state: watchdog.StateStopped, since: now, store: true, used: true,
				events: []string{"container_stopped: docker state paused (Up 1 hour (Paused))"}}},
		{"created", watchdog.Look{Prev: prev(watchdog.StateRunning), Docker: seen("created", "Created")},
			verdict{state: watchdog.StateStopped, since: now, store: true, used: true,
				events: []string{"container_stopped: docker state created (Created)"}}},
		{"created where our recreation failed after create (its report cleared the intent): finish it quietly",
			watchdog.Look{Prev: prev(watchdog.StateMissing), Docker: seen("created", "Created")},
			verdict{state: watchdog.StateMissing, since: earlier, repair: true}},
		{"created, not ours, where one was missing: a stop", watchdog.Look{Prev: prev(watchdog.StateMissing),
			Docker: &watchdog.Container{Name: "claude-hooks-dev-a", State: "created", Status: "Created"}},
			verdict{state: watchdog.StateStopped, since: now, store: true, used: true,
				events: []string{"container_stopped: docker state created (Created)"}}},
		{"dead", watchdog.Look{Prev: prev(watchdog.StateMissing), Docker: seen("dead", "")},
			verdict{state: watchdog.StateStopped, since: now, store: true, used: true,
				events: []string{"container_stopped: docker state dead"}}},
		{"still stopped: reported once", watchdog.Look{Prev: prev(watchdog.StateStopped), Docker: seen("exited", "Exited (1) 1 hour ago")},
			verdict{state: watchdog.StateStopped, since: earlier}},
		{"removal under way: look again, report the loss then", watchdog.Look{Prev: prev(watchdog.StateRunning), Docker: seen("removing", ""),
			Evidence: forceRemoved[:2]},
			verdict{state: watchdog.StateStopped, since: now, wake: true}},
		{"removing with no recent loss is a stop", watchdog.Look{Prev: prev(watchdog.StateRunning), Docker: seen("removing", "Removal In Progress")},
			verdict{state: watchdog.StateStopped, since: now, store: true, used: true,
				events: []string{"container_stopped: docker state removing (Removal In Progress)"}}},

		// missing
		{"removed by force", watchdog.Look{Prev: prev(watchdog.StateRunning), Evidence: forceRemoved},
			verdict{state: watchdog.StateMissing, since: now, store: true, used: true, repair: true,
				events: []string{"container_missing: not known to docker; docker saw: kill signal=9 at 11:59:57.000, die exitCode=137 at 11:59:57.000, destroy at 11:59:58.000 (likely removed by force (docker rm -f))"}}},
		{"first sight missing", watchdog.Look{},
			verdict{state: watchdog.StateMissing, since: now, store: true, used: true, repair: true,
				events: []string{"container_missing: not known to docker"}}},
		{"stopped then removed", watchdog.Look{Prev: prev(watchdog.StateStopped)},
			verdict{state: watchdog.StateMissing, since: now, store: true, used: true, repair: true,
				events: []string{"container_missing: not known to docker"}}},
		{"still missing: repair again, say nothing", watchdog.Look{Prev: prev(watchdog.StateMissing)},
			verdict{state: watchdog.StateMissing, since: earlier, repair: true}},
		{"missing again too soon names the next attempt", watchdog.Look{Prev: prev(watchdog.StateRunning), NextRepair: now.Add(10 * time.Second)},
			verdict{state: watchdog.StateMissing, since: now, store: true, used: true, repair: true,
				events: []string{"container_missing: not known to docker; recreated too recently, next attempt at 2026-04-20T12:00:10Z"}}},
		{"a due attempt is not named", watchdog.Look{Prev: prev(watchdog.StateRunning), NextRepair: now},
			verdict{state: watchdog.StateMissing, since: now, store: true, used: true, repair: true,
				events: []string{"container_missing: not known to docker"}}},

		// orphans
		{"orphan first seen", watchdog.Look{Orphan: true, Docker: seen("running", "")},
			verdict{state: watchdog.StateOrphaned, since: now, store: true,
				events: []string{"container_orphaned: managed container not in the registry; left alone (reconcile --all --prune removes it)"}}},
		{"orphan again: nothing", watchdog.Look{Orphan: true, Prev: prev(watchdog.StateOrphaned), Docker: seen("exited", "")},
			verdict{state: watchdog.StateOrphaned, since: earlier}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := c.look
			l.Container, l.Agent, l.Instance, l.Now = "claude-hooks-dev-a", "dev", "a", now
			checkJudge(t, l, c.want)
		})
	}
}

func TestJudgeEvidenceFields(t *testing.T) {
	v := watchdog.Judge(watchdog.Look{Container: "claude-hooks-dev-a", Prev: prev(watchdog.StateRunning), Now: now, Evidence: forceRemoved})
	e := v.Events[0]
	want := map[string]string{"CONTAINER_KILL_SIGNAL": "9", "CONTAINER_EXIT_CODE": "137", "CONTAINER_LIFECYCLE": "kill,die,destroy",
		"CONTAINER_CAUSE": "likely removed by force (docker rm -f)"}
	if fmt.Sprint(e.Evidence) != fmt.Sprint(want) {
		t.Errorf("evidence %v, want %v", e.Evidence, want)
	}
	// Detection delay is measured from docker's own time of the loss.
	if !e.DockerTime.Equal(forceRemoved[2].Time) {
		t.Errorf("DockerTime %v, want the destroy's %v", e.DockerTime, forceRemoved[2].Time)
	}
	if v := watchdog.Judge(watchdog.Look{Prev: prev(watchdog.StateRunning), Now: now}); !v.Events[0].DockerTime.IsZero() {
		t.Errorf("a loss found by listing alone has DockerTime %v, want zero", v.Events[0].DockerTime)
	}
	// A failed recreation's detail stays with a missing instance, so the
	// same failure is not reported twice.
	p := prev(watchdog.StateMissing)
	p.Detail = "docker: Error response from daemon: no space left on device"
	if v := watchdog.Judge(watchdog.Look{Prev: p, Now: now}); v.Obs.Detail != p.Detail {
		t.Errorf("still missing: detail %q, want %q kept", v.Obs.Detail, p.Detail)
	}
}

func checkJudge(t *testing.T, l watchdog.Look, want verdict) {
	t.Helper()
	v := watchdog.Judge(l)
	for _, e := range v.Events {
		if e.Container != l.Container || e.Agent != "dev" || e.Instance != "a" || !e.Time.Equal(now) {
			t.Errorf("event %+v: want it about claude-hooks-dev-a (dev/a) at now", e)
		}
	}
	if g := got(v); fmt.Sprintf("%+v", g) != fmt.Sprintf("%+v", want) {
		t.Errorf("Judge =\n  %+v\nwant\n  %+v", g, want)
	}
	if v.Obs.Container != l.Container || v.Obs.Agent != "dev" || v.Obs.Instance != "a" {
		t.Errorf("observation %+v: want it about claude-hooks-dev-a (dev/a)", v.Obs)
	}
}

func healthy(h watchdog.Health) *watchdog.Container {
	c := seen("running", "Up 1 hour ("+string(h)+")")
	c.Health = h
	return c
}

func unhealthySince(t time.Time) watchdog.Observation {
	p := prev(watchdog.StateRunning)
	p.Health, p.HealthSince = watchdog.HealthUnhealthy, t
	return p
}

func TestJudgeHealth(t *testing.T) {
	restart := func(l watchdog.Look) watchdog.Look {
		l.OnUnhealthy, l.UnhealthyGrace = watchdog.OnUnhealthyRestart, 30*time.Second
		return l
	}
	cases := []struct {
		name string
		look watchdog.Look
		want verdict
	}{
		{"turns unhealthy: reported once, with the probe", watchdog.Look{Prev: prev(watchdog.StateRunning), Docker: healthy(watchdog.HealthUnhealthy)},
			verdict{state: watchdog.StateRunning, since: earlier, store: true, health: watchdog.HealthUnhealthy, healthSince: now, probe: true,
				events: []string{"container_unhealthy: docker's health check fails"}}},
		{"first sight unhealthy", watchdog.Look{Docker: healthy(watchdog.HealthUnhealthy)},
			verdict{state: watchdog.StateRunning, since: now, store: true, health: watchdog.HealthUnhealthy, healthSince: now, probe: true,
				events: []string{"container_unhealthy: docker's health check fails"}}},
		{"still unhealthy: nothing", watchdog.Look{Prev: unhealthySince(ago(time.Minute)), Docker: healthy(watchdog.HealthUnhealthy)},
			verdict{state: watchdog.StateRunning, since: earlier, health: watchdog.HealthUnhealthy, healthSince: ago(time.Minute)}},
		{"healthy again", watchdog.Look{Prev: unhealthySince(ago(time.Minute)), Docker: healthy(watchdog.HealthHealthy)},
			verdict{state: watchdog.StateRunning, since: earlier, store: true,
				events: []string{"container_healthy: unhealthy since 2026-04-20T11:59:00Z"}}},
		{"starting after unhealthy is not healthy yet", watchdog.Look{Prev: unhealthySince(ago(time.Minute)), Docker: healthy(watchdog.HealthStarting)},
			verdict{state: watchdog.StateRunning, since: earlier, health: watchdog.HealthUnhealthy, healthSince: ago(time.Minute)}},
		{"health check removed: cleared quietly", watchdog.Look{Prev: unhealthySince(ago(time.Minute)), Docker: seen("running", "Up 1 hour")},
			verdict{state: watchdog.StateRunning, since: earlier, store: true}},
		{"stopped while unhealthy: the stop is the news", watchdog.Look{Prev: unhealthySince(ago(time.Minute)), Docker: seen("exited", "")},
			verdict{state: watchdog.StateStopped, since: now, store: true, used: true, events: []string{"container_stopped: docker state exited"}}},
		{"healthy with no report before: nothing", watchdog.Look{Prev: prev(watchdog.StateRunning), Docker: healthy(watchdog.HealthHealthy)},
			verdict{state: watchdog.StateRunning, since: earlier}},

		// --on-unhealthy restart, grace 30s
		{"restart policy: within the grace, look again when it ends", restart(watchdog.Look{Prev: unhealthySince(ago(10 * time.Second)), Docker: healthy(watchdog.HealthUnhealthy)}),
			verdict{state: watchdog.StateRunning, since: earlier, health: watchdog.HealthUnhealthy, healthSince: ago(10 * time.Second), recheck: now.Add(20 * time.Second)}},
		{"restart policy: grace over, restart", restart(watchdog.Look{Prev: unhealthySince(ago(30 * time.Second)), Docker: healthy(watchdog.HealthUnhealthy)}),
			verdict{state: watchdog.StateRunning, since: earlier, health: watchdog.HealthUnhealthy, healthSince: ago(30 * time.Second), restart: true}},
		{"restart policy, no grace: report and restart at once", watchdog.Look{Prev: prev(watchdog.StateRunning), Docker: healthy(watchdog.HealthUnhealthy), OnUnhealthy: watchdog.OnUnhealthyRestart},
			verdict{state: watchdog.StateRunning, since: earlier, store: true, health: watchdog.HealthUnhealthy, healthSince: now, probe: true, restart: true,
				events: []string{"container_unhealthy: docker's health check fails"}}},
		{"restart policy: the limit reached, give up once", restart(watchdog.Look{Prev: unhealthySince(ago(time.Hour)), Docker: healthy(watchdog.HealthUnhealthy), Restarts: watchdog.MaxRestarts}),
			verdict{state: watchdog.StateRunning, since: earlier, store: true, health: watchdog.HealthUnhealthy, healthSince: ago(time.Hour), giveUp: true,
				events: []string{"container_unhealthy_gave_up: restarted 5 times in 10m0s; leaving it alone until it has been healthy again"}}},
		{"restart policy: given up, nothing", restart(watchdog.Look{Prev: unhealthySince(ago(time.Hour)), Docker: healthy(watchdog.HealthUnhealthy), Restarts: watchdog.MaxRestarts, GaveUp: true}),
			verdict{state: watchdog.StateRunning, since: earlier, health: watchdog.HealthUnhealthy, healthSince: ago(time.Hour)}},
		{"restart policy: starting is not unhealthy", restart(watchdog.Look{Prev: unhealthySince(ago(time.Hour)), Docker: healthy(watchdog.HealthStarting)}),
			verdict{state: watchdog.StateRunning, since: earlier, health: watchdog.HealthUnhealthy, healthSince: ago(time.Hour)}},
		{"report policy never restarts", watchdog.Look{Prev: unhealthySince(ago(time.Hour)), Docker: healthy(watchdog.HealthUnhealthy), OnUnhealthy: watchdog.OnUnhealthyReport},
			verdict{state: watchdog.StateRunning, since: earlier, health: watchdog.HealthUnhealthy, healthSince: ago(time.Hour)}},
		{"restart policy: a missing container is a repair, not a restart", restart(watchdog.Look{Prev: unhealthySince(ago(time.Hour))}),
			verdict{state: watchdog.StateMissing, since: now, store: true, used: true, repair: true, events: []string{"container_missing: not known to docker"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := c.look
			l.Container, l.Agent, l.Instance, l.Now = "claude-hooks-dev-a", "dev", "a", now
			checkJudge(t, l, c.want)
		})
	}
}

func TestJudgeHolds(t *testing.T) {
	hold := func(reason string, until time.Time) *watchdog.Hold {
		return &watchdog.Hold{Container: "claude-hooks-dev-a", Reason: reason, Since: ago(time.Minute), Until: until}
	}
	heldFor := func(reason string) watchdog.Observation {
		p := prev(watchdog.StateHeld)
		p.Detail = reason
		return p
	}
	cases := []struct {
		name string
		look watchdog.Look
		want verdict
	}{
		{"held: reported once with the reason, looked at again when it expires", watchdog.Look{Prev: prev(watchdog.StateRunning), Docker: seen("running", ""), Hold: hold("disk swap", now.Add(time.Hour))},
			verdict{state: watchdog.StateHeld, since: now, store: true, used: true, recheck: now.Add(time.Hour),
				events: []string{"container_held: held: disk swap (until 2026-04-20T13:00:00Z)"}}},
		{"held and removed: no report, no recreation", watchdog.Look{Prev: heldFor("disk swap"), Hold: hold("disk swap", time.Time{}), Evidence: forceRemoved},
			verdict{state: watchdog.StateHeld, since: earlier, used: true}},
		{"held, unhealthy, restart policy: left alone", watchdog.Look{Prev: heldFor("x"), Hold: hold("x", time.Time{}), Docker: healthy(watchdog.HealthUnhealthy), OnUnhealthy: watchdog.OnUnhealthyRestart},
			verdict{state: watchdog.StateHeld, since: earlier, used: true}},
		{"held again for another reason: kept quietly", watchdog.Look{Prev: heldFor("old"), Hold: hold("new", time.Time{}), Docker: seen("exited", "")},
			verdict{state: watchdog.StateHeld, since: earlier, store: true, used: true}},
		{"released while missing: released, then missing and repaired", watchdog.Look{Prev: heldFor("disk swap")},
			verdict{state: watchdog.StateMissing, since: now, store: true, used: true, repair: true,
				events: []string{"container_released: released (was held: disk swap)", "container_missing: not known to docker"}}},
		{"released while running", watchdog.Look{Prev: heldFor(""), Docker: seen("running", "")},
			verdict{state: watchdog.StateRunning, since: now, store: true, events: []string{"container_released: released"}}},
		{"expired: released by the daemon, hold deleted", watchdog.Look{Prev: heldFor("upgrade"), Hold: hold("upgrade", now), Docker: seen("running", "")},
			verdict{state: watchdog.StateRunning, since: now, store: true, endHold: now,
				events: []string{"container_released: hold expired at 2026-04-20T12:00:00Z (was held: upgrade)"}}},
		{"expired before any look: deleted, nothing said", watchdog.Look{Prev: prev(watchdog.StateRunning), Hold: hold("", ago(time.Second)), Docker: seen("running", "")},
			verdict{state: watchdog.StateRunning, since: earlier, endHold: ago(time.Second)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := c.look
			l.Container, l.Agent, l.Instance, l.Now = "claude-hooks-dev-a", "dev", "a", now
			checkJudge(t, l, c.want)
		})
	}
}

func TestAddProbe(t *testing.T) {
	v := watchdog.Judge(watchdog.Look{Container: "c", Prev: prev(watchdog.StateRunning), Docker: healthy(watchdog.HealthUnhealthy), Now: now})
	v.AddProbe(watchdog.Probe{ExitCode: 1, Output: "no /state/ok\n" + strings.Repeat("x", 2000)})
	d := v.Events[0].Detail
	if !strings.HasPrefix(d, "docker's health check fails; last probe exited 1: no /state/ok\n") || len(d) > 1100 || !strings.HasSuffix(d, "...") {
		t.Errorf("detail %q (%d bytes): want the probe's exit code and output, cut to 1 KiB", d[:80], len(d))
	}
}
