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
