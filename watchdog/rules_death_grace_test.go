package watchdog_test

import (
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// deathGrace is 5 s: a listing begun less than 5 s after a death docker
// announced may still show the container as it was, so the watchdog looks
// again; from 5 s on it believes the listing.
func TestJudgeDeathGraceEdges(t *testing.T) {
	const grace = 5 * time.Second
	restarted := "container_restarted: restarted by docker's restart policy; docker saw: die exitCode=2 at 11:59:55.000 (exited with code 2 (crash or error))"
	stopped := "container_stopped: docker state removing (Removal In Progress); docker saw: kill signal=9 at 11:59:55.000, die exitCode=137 at 11:59:55.000 (killed by signal 9)"
	cases := []struct {
		name string
		look watchdog.Look
		want verdict
	}{
		{"running, a death exactly the grace before the listing: a restart", watchdog.Look{Prev: prev(watchdog.StateRunning), Docker: seen("running", ""),
			Evidence: []watchdog.Lifecycle{life(ago(grace), "die", "exitCode=2")}},
			verdict{state: watchdog.StateRunning, since: earlier, store: true, used: true, events: []string{restarted}}},
		{"running, a death just inside the grace: look again", watchdog.Look{Prev: prev(watchdog.StateRunning), Docker: seen("running", ""),
			Evidence: []watchdog.Lifecycle{life(ago(grace-time.Nanosecond), "die", "exitCode=2")}},
			verdict{state: watchdog.StateRunning, since: earlier, wake: true}},
		{"removing, the loss exactly the grace before the listing: a stop", watchdog.Look{Prev: prev(watchdog.StateRunning), Docker: seen("removing", "Removal In Progress"),
			Evidence: []watchdog.Lifecycle{life(ago(grace), "kill", "signal=9"), life(ago(grace), "die", "exitCode=137")}},
			verdict{state: watchdog.StateStopped, since: now, store: true, used: true, events: []string{stopped}}},
		{"removing, the loss just inside the grace: look again", watchdog.Look{Prev: prev(watchdog.StateRunning), Docker: seen("removing", "Removal In Progress"),
			Evidence: []watchdog.Lifecycle{life(ago(grace-time.Nanosecond), "kill", "signal=9"), life(ago(grace-time.Nanosecond), "die", "exitCode=137")}},
			verdict{state: watchdog.StateStopped, since: now, wake: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := c.look
			l.Container, l.Agent, l.Instance, l.Now = "claude-hooks-dev-a", "dev", "a", now
			checkJudge(t, l, c.want)
		})
	}
}

// What docker says after a death (a health probe, an oom report) does not
// hide it: the death is still pending until a start follows it.
func TestJudgeDeathPendingLooksPastLaterEvents(t *testing.T) {
	l := watchdog.Look{Container: "claude-hooks-dev-a", Agent: "dev", Instance: "a", Now: now,
		Prev: prev(watchdog.StateRunning), Docker: seen("running", ""),
		Evidence: []watchdog.Lifecycle{life(ago(2*time.Second), "die", "exitCode=137"), life(ago(time.Second), "health_status")}}
	checkJudge(t, l, verdict{state: watchdog.StateRunning, since: earlier, wake: true})
}

// The container's only loss may be the oldest event kept: a removal whose
// one announced loss is a kill is still a removal under way.
func TestJudgeRecentLossMayBeTheFirstEvent(t *testing.T) {
	l := watchdog.Look{Container: "claude-hooks-dev-a", Agent: "dev", Instance: "a", Now: now,
		Prev: prev(watchdog.StateRunning), Docker: seen("removing", "Removal In Progress"),
		Evidence: []watchdog.Lifecycle{life(ago(time.Second), "kill", "signal=9")}}
	checkJudge(t, l, verdict{state: watchdog.StateStopped, since: now, wake: true})
}
