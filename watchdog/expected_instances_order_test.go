package watchdog_test

import (
	"slices"
	"testing"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// The expected instances come sorted by agent, then by instance within an
// agent, whatever order the registry or the instance lists give; a
// host-mode agent has no container, so no instance is expected of it.
func TestExpectedInstancesSortedByAgentThenInstance(t *testing.T) {
	host := agent("host", "a")
	host.HostMode = true
	got := watchdog.ExpectedInstances([]watchdog.Agent{agent("b", "a", "c"), host, agent("a", "z", "b", "y")})
	want := []watchdog.Instance{{Agent: "a", Instance: "b"}, {Agent: "a", Instance: "y"}, {Agent: "a", Instance: "z"},
		{Agent: "b", Instance: "a"}, {Agent: "b", Instance: "c"}}
	if !slices.Equal(got, want) {
		t.Errorf("ExpectedInstances = %v, want %v", got, want)
	}
}
