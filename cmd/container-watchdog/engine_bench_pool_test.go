package main

// BenchmarkEnginePool (issue 12, the repair pool): N managed containers
// removed at once, the time until the watchdog reports every one recreated,
// against the same N `docker run` calls made directly at parallelism 1, 2,
// 4, 8 and 16, all interleaved in the same run; the ratio of rates is
// against the best of those.
//
//   CW_BENCH_ENGINE=1 go test -run '^$' -bench '^BenchmarkEnginePool$' -benchtime 1x -timeout 60m ./cmd/container-watchdog/
//
// CW_BENCH_POOL_N (40), CW_BENCH_POOL_ROUNDS (2), CW_BENCH_POOL_LEVELS
// (1,2,4,8,16), CW_BENCH_POOL_FIXED (4: a daemon with --repair-parallelism
// of each of these too, comma-separated; empty for none),
// CW_BENCH_POOL_STARTUP (1: also a daemon started on N missing, with and
// without --no-events, timed from its first container_missing to its last
// container_recreated: the repair pipeline without the removal's own cost
// and, with --no-events, without the ticks docker's events ask for).

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/docker"
	"github.com/container-watchdog/container-watchdog/watchdog/metrics/metricstest"
)

func BenchmarkEnginePool(b *testing.B) {
	if os.Getenv("CW_BENCH_ENGINE") != "1" {
		b.Skip("set CW_BENCH_ENGINE=1 to run the real-engine repair pool benchmark")
	}
	if b.N > 1 {
		b.Skip("one run is the experiment; use -benchtime 1x")
	}
	e := newEngine(b, "cwp")
	n, rounds := engEnvInt("CW_BENCH_POOL_N", 40), engEnvInt("CW_BENCH_POOL_ROUNDS", 2)
	levels := engEnvInts(b, "CW_BENCH_POOL_LEVELS", "1,2,4,8,16")
	fixed := engEnvInts(b, "CW_BENCH_POOL_FIXED", "4")
	s := e.scenario(b, "pool")
	names := engInstanceNames("p", n)
	p := s.inProcess(b, 8)
	p.ensure(b, "pool", e.image, names)
	engMust(b, p.db.Close())
	var containers, bare []string
	for i, in := range names {
		containers = append(containers, watchdog.ContainerName(s.prefix, "pool", in))
		bare = append(bare, fmt.Sprintf("%spoolbare-%03d", e.root, i))
	}
	fmt.Printf("pool: docker %s, %d containers, %d rounds\n", e.docker, n, rounds)

	modes := []string{"adaptive"}
	for _, f := range fixed {
		modes = append(modes, "fixed "+strconv.Itoa(f))
	}
	if engEnvInt("CW_BENCH_POOL_STARTUP", 1) == 1 {
		modes = append(modes, "startup", "startup --no-events")
	}
	for _, l := range levels {
		modes = append(modes, "bare "+strconv.Itoa(l))
	}
	times := map[string][]time.Duration{}
	for round := range rounds {
		// Each round in another order, so drift on a shared machine does
		// not favour one mode.
		order := slices.Clone(modes)
		rot := round % len(order)
		order = append(order[rot:], order[:rot]...)
		for _, m := range order {
			var took time.Duration
			var note string
			if l, ok := strings.CutPrefix(m, "bare "); ok {
				par, _ := strconv.Atoi(l)
				took = e.bareRuns(b, s, containers, bare, par)
			} else if rest, ok := strings.CutPrefix(m, "startup"); ok {
				took, note = e.poolStartup(b, s, containers, strings.Fields(rest))
			} else {
				var args []string
				if f, ok := strings.CutPrefix(m, "fixed "); ok {
					args = []string{"--repair-parallelism", f}
				}
				took, note = e.poolRepair(b, s, containers, args)
			}
			times[m] = append(times[m], took)
			fmt.Printf("raw pool n=%d round %d %-10s %s ms %s\n", n, round+1, m, engMS(took), note)
			time.Sleep(2 * time.Second) // let the engine settle
		}
	}
	best, bestMode := time.Duration(0), ""
	for _, l := range levels {
		m := "bare " + strconv.Itoa(l)
		if t := engMedian(times[m]); best == 0 || t < best {
			best, bestMode = t, m
		}
	}
	fmt.Println()
	fmt.Printf("%-60s %-14s %s\n", "measure (median of rounds)", "ms", "rate vs best bare")
	for _, m := range modes {
		t := engMedian(times[m])
		fmt.Printf("%-60s %-14s %.2fx\n", fmt.Sprintf("%d removed at once -> all recreated, %s", n, m), engMS(t), float64(best)/float64(t))
	}
	fmt.Printf("best bare parallelism: %s; goal: adaptive >= 0.90x\n\n", bestMode)
}

func engEnvInts(tb testing.TB, k, def string) []int {
	v, ok := os.LookupEnv(k)
	if !ok {
		v = def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		engMust(tb, err)
		out = append(out, n)
	}
	return out
}

// poolRepair starts a daemon with args, removes every container at once,
// and times from the removal's return to the last container_recreated on
// SSE (or container_running after a failed attempt). The note is the
// pool's limit at the end, from /metrics.
func (e *engine) poolRepair(b *testing.B, s *engScenario, containers []string, args []string) (time.Duration, string) {
	d := s.startDaemon(b, time.Minute, nil, args...)
	defer d.stop(b)
	sse := d.subscribeSince(b, engMaxEventID(b, s.db))
	d.ready(b)
	mark := len(sse.all())
	e.removeParallel(b, containers)
	t0 := time.Now()
	seen := map[string]bool{}
	var last time.Time
	for len(seen) < len(containers) {
		ev := sse.wait(b, 10*time.Minute, mark, "container_recreated", func(ev engEvent) bool {
			return engRunsAgain(ev) && !seen[ev.Container]
		})
		seen[ev.Container] = true
		last = engMaxTime(last, ev.Got)
	}
	failed := 0
	for _, ev := range sse.all()[mark:] {
		if ev.Type == watchdog.EventRecreateFailed {
			failed++
		}
	}
	fs, err := metricstest.Scrape(context.Background(), d.base+"/metrics")
	engMust(b, err)
	return last.Sub(t0), fmt.Sprintf("(limit at the end %v, failed reports %d)", fs.Value("container_watchdog_repair_parallelism"), failed)
}

// poolStartup removes every container, then starts a daemon with args on
// them all missing, and times its first container_missing to its last
// container_recreated (event times).
func (e *engine) poolStartup(b *testing.B, s *engScenario, containers []string, args []string) (time.Duration, string) {
	e.removeParallel(b, containers)
	since := engMaxEventID(b, s.db)
	d := s.startDaemon(b, time.Minute, nil, args...)
	defer d.stop(b)
	sse := d.subscribeSince(b, since)
	seen := map[string]bool{}
	var first, last time.Time
	for len(seen) < len(containers) {
		ev := sse.wait(b, 10*time.Minute, 0, "container_recreated", func(ev engEvent) bool {
			return engRunsAgain(ev) && !seen[ev.Container]
		})
		seen[ev.Container] = true
		last = engMaxTime(last, ev.Time)
	}
	for _, ev := range sse.all() {
		if ev.Type == watchdog.EventMissing && (first.IsZero() || ev.Time.Before(first)) {
			first = ev.Time
		}
	}
	fs, err := metricstest.Scrape(context.Background(), d.base+"/metrics")
	engMust(b, err)
	return last.Sub(first), fmt.Sprintf("(limit at the end %v)", fs.Value("container_watchdog_repair_parallelism"))
}

// engRunsAgain says ev reports a container back: recreated, or running
// after a failed attempt (a docker run that timed out on a loaded engine
// may still have created it; the next tick reports it running).
func engRunsAgain(ev engEvent) bool {
	return ev.Type == watchdog.EventRecreated || ev.Type == watchdog.EventRunning
}

// bareRuns makes the docker run calls the watchdog would (same image,
// restart policy, four labels, the instance's existing state volume) under
// other names, par at once, and times them; then removes them, untimed.
func (e *engine) bareRuns(b *testing.B, s *engScenario, containers, bare []string, par int) time.Duration {
	args := make([][]string, len(bare))
	for i, name := range bare {
		in, _ := watchdog.ParseContainerName(s.prefix, containers[i])
		args[i] = docker.RunArgs(watchdog.RunSpec{Name: name, Image: e.image, Volume: watchdog.VolumeName(containers[i]), StatePath: "/state",
			Labels: map[string]string{"bench.managed": "true", "bench.agent": in.Agent, "bench.instance": in.Instance, "bench.config": "0123456789abcdef"}})
	}
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	start := time.Now()
	for _, a := range args {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := e.run(a...); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	e.removeParallel(b, bare)
	return took
}
