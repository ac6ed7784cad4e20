package metrics_test

import (
	"testing"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/metrics"
)

// container_up follows docker's state when the tick judged the instance,
// whatever the watchdog calls it (a held container may well run); for an
// instance the tick skipped (a repair or a lease under way, no docker
// state) it follows the last judged state.
func TestContainerUpFollowsDockerElseTheLastState(t *testing.T) {
	m := metrics.New(metrics.Options{})
	m.ObserveTick(completed(
		inst("held", watchdog.StateHeld, "running"),
		inst("busy", watchdog.StateRunning, ""),
		inst("gone", watchdog.StateMissing, ""),
		inst("dying", watchdog.StateStopped, "restarting"),
	), nil)
	fs := scrape(t, m)
	for c, up := range map[string]float64{"held": 1, "busy": 1, "gone": 0, "dying": 0} {
		want(t, fs, up, "container_watchdog_container_up", "container=cw-"+c)
	}
}

// A state this package has no series for yet (the domain grew one) is
// still counted in container_watchdog_instances, under its own name,
// rather than vanishing from the totals.
func TestInstancesCountsAStateItDoesNotKnow(t *testing.T) {
	m := metrics.New(metrics.Options{})
	m.ObserveTick(completed(
		inst("a", watchdog.State("paused"), "paused"), inst("b", watchdog.State("paused"), "paused"),
		inst("c", watchdog.StateRunning, "running"),
	), nil)
	fs := scrape(t, m)
	want(t, fs, 2, "container_watchdog_instances", "state=paused")
	want(t, fs, 1, "container_watchdog_instances", "state=running")
	want(t, fs, 0, "container_watchdog_instances", "state=stopped")
}
