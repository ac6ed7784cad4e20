package watchdog_test

import (
	"strings"
	"testing"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// The contract allows the probe's output up to 1 KiB in an event: output
// of exactly 1024 bytes goes out whole, 1025 is cut to 1024 and marked.
func TestProbeOutputUpTo1KiBIsKeptWhole(t *testing.T) {
	kib := strings.Repeat("x", 1024)
	for _, c := range []struct {
		out, want string
	}{
		{kib, "last probe exited 1: " + kib},
		{kib + "y", "last probe exited 1: " + kib + "..."},
		{"  \n", "last probe exited 1"},
	} {
		if got := (watchdog.Probe{ExitCode: 1, Output: c.out}).String(); got != c.want {
			t.Errorf("Probe{%d bytes}.String() = %d bytes ending %q, want %d bytes ending %q",
				len(c.out), len(got), got[max(0, len(got)-8):], len(c.want), c.want[max(0, len(c.want)-8):])
		}
	}
}
