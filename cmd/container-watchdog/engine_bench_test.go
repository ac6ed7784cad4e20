package main

// BenchmarkEngine: scripts/bench-engine.sh runs it (CW_BENCH_ENGINE=1). It
// ignores b.N: each section is a fixed experiment against the real engine
// (helpers in engine_helpers_test.go), and one table is printed at the
// end, raw samples before it.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/exec"
	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/docker"
	"github.com/container-watchdog/container-watchdog/watchdog/sqlite"
)

type engRow struct{ what, value, goal string }

func BenchmarkEngine(b *testing.B) {
	if os.Getenv("CW_BENCH_ENGINE") != "1" {
		b.Skip("set CW_BENCH_ENGINE=1 (scripts/bench-engine.sh) to run the real-engine benchmark (~20 minutes)")
	}
	if b.N > 1 {
		b.Skip("one run is the experiment; use -benchtime 1x")
	}
	e := newEngine(b, "cwb")
	samples := engEnvInt("CW_BENCH_LATENCY_SAMPLES", 25)
	rounds := engEnvInt("CW_BENCH_REPAIR_ROUNDS", 2)
	plan := engFleetPlan{
		tick:       engEnvInts(b, "CW_BENCH_SIZES", []int{10, 100, 500}),
		detect:     engEnvInts(b, "CW_BENCH_DETECT_SIZES", []int{10, 500}),
		mass:       engEnvInts(b, "CW_BENCH_MASS", []int{40, 200}),
		pars:       engEnvInts(b, "CW_BENCH_MASS_PARALLELISM", []int{1, 2, 4, 8, 16}),
		reps:       engEnvInt("CW_BENCH_TICK_REPS", 15),
		samples:    engEnvInt("CW_BENCH_DETECT_SAMPLES", 40),
		massRounds: engEnvInt("CW_BENCH_MASS_ROUNDS", 1),
		idle:       time.Duration(engEnvInt("CW_BENCH_IDLE_SECONDS", 60)) * time.Second,
	}
	var rows []engRow
	fmt.Printf("engine benchmark: docker %s, image %s, prefix %s, %d CPUs\n", e.docker, e.image, e.root, runtime.NumCPU())
	// detect,mass,tick (with idle) are issue 12's table, on one growing
	// fleet; latency,repair,removal are older experiments. Default: all.
	sections := os.Getenv("CW_BENCH_SECTIONS")
	want := func(name string) bool { return sections == "" || slices.Contains(strings.Split(sections, ","), name) }
	if !want("detect") {
		plan.detect = nil
	}
	if !want("mass") {
		plan.mass = nil
	}
	if !want("tick") {
		plan.tick, plan.idle = nil, 0
	}
	if want("latency") {
		rows = append(rows, e.benchLatency(b, samples)...)
	}
	if want("repair") {
		rows = append(rows, e.benchRepair(b, rounds)...)
	}
	if want("removal") {
		rows = append(rows, e.benchRepeatedRemoval(b, engEnvInt("CW_BENCH_REMOVAL_ROUNDS", 5), engEnvInt("CW_BENCH_REMOVAL_LOOP_SECONDS", 120))...)
	}
	rows = append(rows, e.benchFleet(b, plan)...)

	engPrintTable(rows)
	fmt.Println("(p99 is nearest-rank: with fewer than 100 samples it is the largest one.)")
	fmt.Println()
}

// engPrintTable prints rows as columns as wide as their widest cell.
func engPrintTable(rows []engRow) {
	ww, wv := len("measure"), len("result")
	for _, r := range rows {
		ww, wv = max(ww, len(r.what)), max(wv, len(r.value))
	}
	fmt.Println()
	fmt.Printf("%-*s  %-*s  %s\n", ww, "measure", wv, "result", "goal")
	fmt.Printf("%s  %s  %s\n", strings.Repeat("-", ww), strings.Repeat("-", wv), strings.Repeat("-", 13))
	for _, r := range rows {
		fmt.Printf("%-*s  %-*s  %s\n", ww, r.what, wv, r.value, r.goal)
	}
	// The same rows for scripts/bench-engine.sh, which adds its own.
	for _, r := range rows {
		fmt.Printf("row\t%s\t%s\t%s\n", r.what, r.value, r.goal)
	}
}

func engEnvInt(k string, def int) int {
	if v := os.Getenv(k); v != "" {
		n, err := strconv.Atoi(v)
		if err == nil && n > 0 {
			return n
		}
	}
	return def
}

func engMS(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }

// engMedian is the middle value, or the mean of the two middle ones.
func engMedian(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile is the nearest-rank percentile.
func engPercentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func engMean(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t / time.Duration(max(1, len(ds)))
}

func engRawList(ds []time.Duration) string {
	var f []string
	for _, d := range ds {
		f = append(f, engMS(d))
	}
	return strings.Join(f, " ")
}

func engInstanceNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return out
}

// engInProcess is the watchdog's own Tick over the real docker CLI and a real
// registry, for creating containers in bulk and timing ticks.
type engInProcess struct {
	db *sqlite.DB
	w  *watchdog.Watcher
}

func (s *engScenario) inProcess(tb testing.TB, parallel int) *engInProcess {
	db, err := sqlite.Open(context.Background(), s.db)
	engMust(tb, err)
	dc := &docker.Client{Runner: exec.New(60 * time.Second), Program: s.docker}
	w := &watchdog.Watcher{
		Docker: dc, Registry: db, Reconciler: &watchdog.Reconciler{Docker: dc, Prefix: s.prefix},
		Publisher: watchdog.PublisherFunc(func(watchdog.Event) {}), Prefix: s.prefix,
		Log: engDiscardLogger(), Parallelism: parallel,
		Backoff: watchdog.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Reset: time.Hour},
	}
	return &engInProcess{db: db, w: w}
}

// ensure registers agent with instances and ticks until all run.
func (p *engInProcess) ensure(tb testing.TB, agent, image string, instances []string) time.Duration {
	ctx := context.Background()
	if _, err := p.db.Agent(ctx, agent); err != nil {
		_, err = p.db.AddAgent(ctx, watchdog.Agent{Name: agent, Image: image, StatePath: "/state", Instances: instances})
		engMust(tb, err)
	} else {
		_, _, err = p.db.UpdateAgent(ctx, agent, func(a *watchdog.Agent) error { a.Instances = instances; return nil })
		engMust(tb, err)
	}
	start := time.Now()
	for try := 0; ; try++ {
		rep, err := p.w.Tick(ctx)
		engMust(tb, err)
		p.w.Wait()
		n := rep.Counts()
		if n[watchdog.StateMissing] == 0 && n[watchdog.StateStopped] == 0 && rep.Repairs == 0 {
			return time.Since(start)
		}
		if try > 20 {
			tb.Fatalf("containers not all running after %d ticks: %v", try, n)
		}
	}
}

// benchLatency: detection and repair latency of single removals, by
// polling alone (--no-events) and with docker's event stream.
func (e *engine) benchLatency(b *testing.B, samples int) []engRow {
	const interval = 5 * time.Second
	s := e.scenario(b, "lat")
	names := engInstanceNames("l", samples)
	p := s.inProcess(b, 8)
	took := p.ensure(b, "lat", e.image, names)
	engMust(b, p.db.Close())
	fmt.Printf("latency: created %d containers in %s\n", samples, took.Round(time.Millisecond))

	var rows []engRow
	for _, mode := range []struct {
		label  string
		args   []string
		jitter time.Duration
	}{{"polling only (--no-events)", []string{"--no-events"}, interval}, {"docker events", nil, time.Second}} {
		// Each daemon reads only its own events from the shared log.
		since := engMaxEventID(b, s.db)
		d := s.startDaemon(b, interval, nil, mode.args...)
		sse := d.subscribeSince(b, since)
		d.ticksAfter(b, time.Time{}, 1)
		var detect, repair []time.Duration
		for _, in := range names {
			name := watchdog.ContainerName(s.prefix, "lat", in)
			// Removals fall at random points of the tick cycle.
			time.Sleep(time.Duration(mrand.Int64N(int64(mode.jitter))))
			mark := len(sse.all())
			if _, err := e.run("rm", "-f", name); err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			m := sse.wait(b, 3*interval+engineWait, mark, "container_missing", engIs(watchdog.EventMissing, name))
			r := sse.wait(b, 3*interval+engineWait, m.Index+1, "container_recreated", engIs(watchdog.EventRecreated, name))
			detect = append(detect, m.Got.Sub(t0))
			repair = append(repair, r.Got.Sub(t0))
		}
		d.stop(b)
		var others []string
		for _, ev := range sse.all() {
			if ev.Type != watchdog.EventMissing && ev.Type != watchdog.EventRecreated {
				others = append(others, ev.String())
			}
		}
		fmt.Printf("raw latency %s, reports other than missing/recreated: %d %v\n", mode.label, len(others), others)
		fmt.Printf("raw latency %s, detection ms: %s\n", mode.label, engRawList(detect))
		fmt.Printf("raw latency %s, repaired ms: %s\n", mode.label, engRawList(repair))
		rows = append(rows,
			engRow{fmt.Sprintf("rm -f to container_missing on SSE, %s, interval %s (n=%d)", mode.label, interval, len(detect)),
				fmt.Sprintf("p50 %s  p99 %s  mean %s ms", engMS(engMedian(detect)), engMS(engPercentile(detect, 99)), engMS(engMean(detect))), engGoalFor(mode.args, interval)},
			engRow{fmt.Sprintf("rm -f to container_recreated on SSE, %s (n=%d)", mode.label, len(repair)),
				fmt.Sprintf("p50 %s  p99 %s  mean %s ms", engMS(engMedian(repair)), engMS(engPercentile(repair, 99)), engMS(engMean(repair))), ""})
	}
	return rows
}

func engGoalFor(args []string, interval time.Duration) string {
	if len(args) > 0 {
		return fmt.Sprintf("mean ~%s", interval/2)
	}
	return "well under 1 s"
}

// benchRepair: 100 containers missing at once, repaired by a daemon with
// the default repair pool and by one with --repair-parallelism 1. The
// daemon starts with all of them removed; the time is from its first
// container_missing to its last container_recreated (event times).
func (e *engine) benchRepair(b *testing.B, rounds int) []engRow {
	n := engEnvInt("CW_BENCH_REPAIR_N", 100)
	s := e.scenario(b, "rep")
	names := engInstanceNames("r", n)
	p := s.inProcess(b, 8)
	took := p.ensure(b, "rep", e.image, names)
	engMust(b, p.db.Close())
	fmt.Printf("repair: created %d containers in %s\n", n, took.Round(time.Millisecond))
	var containers []string
	for _, in := range names {
		containers = append(containers, watchdog.ContainerName(s.prefix, "rep", in))
	}

	times := map[string][]time.Duration{}
	modes := []struct {
		label string
		args  []string
	}{{"parallel (default pool)", nil}, {"sequential (--repair-parallelism 1)", []string{"--repair-parallelism", "1"}}}
	for round := 0; round < rounds; round++ {
		for _, mode := range modes {
			e.removeParallel(b, containers)
			// Each daemon reads only its own events from the shared log.
			since := engMaxEventID(b, s.db)
			args := append(slices.Clone(mode.args), strings.Fields(os.Getenv("CW_BENCH_REPAIR_ARGS"))...)
			d := s.startDaemon(b, time.Minute, nil, args...)
			sse := d.subscribeSince(b, since)
			var first, last time.Time
			seen := map[string]bool{}
			for len(seen) < n {
				ev := sse.wait(b, 5*time.Minute, 0, "container_recreated", func(ev engEvent) bool {
					return ev.Type == watchdog.EventRecreated && !seen[ev.Container]
				})
				seen[ev.Container] = true
				last = engMaxTime(last, ev.Time)
			}
			for _, ev := range sse.all() {
				if ev.Type == watchdog.EventMissing && (first.IsZero() || ev.Time.Before(first)) {
					first = ev.Time
				}
				if ev.Type == watchdog.EventRecreateFailed {
					b.Errorf("repair failed: %s", ev)
				}
			}
			d.stop(b)
			times[mode.label] = append(times[mode.label], last.Sub(first))
			fmt.Printf("raw repair of %d, round %d, %s: %s ms\n", n, round+1, mode.label, engMS(last.Sub(first)))
		}
	}
	par, seq := engMedian(times[modes[0].label]), engMedian(times[modes[1].label])
	return []engRow{
		{fmt.Sprintf("repair %d removed at once, %s (median of %d)", n, modes[0].label, rounds), engMS(par) + " ms", ""},
		{fmt.Sprintf("repair %d removed at once, %s (median of %d)", n, modes[1].label, rounds), engMS(seq) + " ms", ""},
		{"  speed-up parallel over sequential", fmt.Sprintf("%.2fx", float64(seq)/float64(par)), ">= 1.7x"},
	}
}

// engMaxEventID is the id of the newest event in the registry's log.
func engMaxEventID(tb testing.TB, path string) int64 {
	db, err := sqlite.Open(context.Background(), path)
	engMust(tb, err)
	defer db.Close()
	var last int64
	for {
		evs, err := db.Events(context.Background(), last, 500)
		engMust(tb, err)
		if len(evs) == 0 {
			return last
		}
		last = evs[len(evs)-1].ID
	}
}

func engMaxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// engProcCPU returns the process's own CPU time and that of its reaped
// children (utime+stime, cutime+cstime in /proc/PID/stat).
func engProcCPU(tb testing.TB, pid int) (own, children time.Duration) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	engMust(tb, err)
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// Fields after the name start at 3 (state): utime is 14, so index 11.
	tick := func(i int) time.Duration {
		n, err := strconv.ParseInt(f[i], 10, 64)
		engMust(tb, err)
		return time.Duration(n) * time.Second / 100 // USER_HZ is 100 on Linux
	}
	return tick(11) + tick(12), tick(13) + tick(14)
}

func engProcRSS(tb testing.TB, pid int) (rss, hwm int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	engMust(tb, err)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "VmHWM:") {
			n, _ := strconv.Atoi(f[1])
			if f[0] == "VmRSS:" {
				rss = n
			} else {
				hwm = n
			}
		}
	}
	return rss, hwm
}

func engDiscardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
