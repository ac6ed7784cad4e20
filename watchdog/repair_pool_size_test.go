package watchdog_test

import (
	"runtime"
	"testing"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// docker run mostly waits on dockerd: the default repair pool runs a few
// recreations per core, and never fewer than four.
func TestDefaultParallelismIsAFewPerCore(t *testing.T) {
	if n := watchdog.DefaultParallelism(); n < 4 || n < 2*runtime.NumCPU() {
		t.Errorf("DefaultParallelism = %d on %d CPUs, want at least 4 and at least 2 per CPU", n, runtime.NumCPU())
	}
}
