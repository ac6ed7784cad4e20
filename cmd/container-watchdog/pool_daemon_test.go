package main

import (
	"testing"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/metrics/metricstest"
)

// The daemon's repair pool: adaptive by default (its gauge at the start
// size), fixed by --repair-parallelism N.
func TestRepairParallelismGauge(t *testing.T) {
	d := newDaemonProc(t)
	d.run("container-watchdog", "agent", "add", "dev", "--image", "agent:1")
	for _, c := range []struct {
		args []string
		want int
	}{{nil, watchdog.PoolStart}, {[]string{"--repair-parallelism", "3"}, 3}} {
		d.start(c.args...)
		fs := scrapeUntil(t, d, "the repair pool's limit", func(fs metricstest.Families) bool {
			return fs["container_watchdog_repair_parallelism"] != nil
		})
		if got := fs.Value("container_watchdog_repair_parallelism"); got != float64(c.want) {
			t.Errorf("run %v: repair_parallelism %v, want %d", c.args, got, c.want)
		}
		d.stop()
	}
}
