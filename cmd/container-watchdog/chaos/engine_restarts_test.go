package chaos

// Engine restarts: a private dockerd stopped and started again during a
// run, with containers removed between the restarts. Recreations must not
// exceed the removals (a restarting engine is no reason to recreate), and
// the first tick that completes once the engine answers again must find
// every instance running.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

func testEngineRestarts(t *testing.T, s *scenario) {
	restarts := envInt(t, "CW_CHAOS_ENGINE_RESTARTS", 10)
	eng := newPrivateEngine(t, s.world, "e")
	eng.start(t)
	s.importImage(t, eng.env())
	names := s.instances(t, 10)
	wr := s.newWrapper(t, s.dir)
	globals := s.globals(wr.path, 30*time.Second)
	if out, code, stderr := s.cliCode(globals, append(eng.env(), wr.env(s.docker, 0, 0)...), "reconcile", "--all"); code != 0 {
		t.Fatalf("reconcile --all on the private engine: exit %d\n%s%s", code, out, stderr)
	}
	sink := newNotifySink(t)
	d := start(t, s.world, daemonSpec{globals: globals, interval: faultInterval, env: append(eng.env(), wr.env(s.docker, 0, 0)...),
		sink: sink, wdog: 2 * time.Minute, dir: s.dir})
	reg := openRegistry(t, s.db)
	truth := newTruth(names, false)
	atRest := func(what string) time.Duration {
		t.Helper()
		var cs []ctr
		took := waitUntil(t, time.Minute, what, func() (bool, string) {
			truth.absorb(reg.events(t))
			cs = s.containers(t, s.prefix, eng.env())
			why := truth.disagreements(cs)
			return len(why) == 0, strings.Join(why, "; ")
		})
		truth.rest(cs)
		return took
	}
	atRest("every instance running at the start")
	_, from := wr.calls(t, 0)
	row := s.row()
	removals := 0
	var converge, answers []time.Duration
	for i := range restarts {
		// A real removal between every other restart: that one, and only
		// that one, is recreated.
		if i%2 == 0 {
			name := names[s.rng.IntN(len(names))]
			at := time.Now()
			_, err := s.runEnv(context.Background(), eng.env(), "rm", "-f", name)
			must(t, err)
			truth.removed(name, at)
			removals++
			atRest(name + " recreated")
		}
		mark := len(sink.from(d.pid, "STATUS="))
		stopped := time.Now()
		for _, n := range names {
			// The engine stops every container on its way down and starts
			// them again on its way up: to the watchdog, a kill that
			// docker's restart policy mended.
			truth.killed(n, stopped)
		}
		eng.stop(t)
		time.Sleep(time.Duration(s.rng.IntN(3000)) * time.Millisecond) // down for a while: ticks are skipped
		started := time.Now()
		answers = append(answers, eng.start(t))
		// The first tick that completes once the engine answers sees
		// every instance running (dockerd restarts them before it answers).
		var first notice
		waitUntil(t, time.Minute, "a completed tick after the engine answered", func() (bool, string) {
			for _, n := range sink.from(d.pid, "STATUS=")[mark:] {
				if !strings.HasPrefix(n.text, "STATUS=degraded: tick skipped") {
					first = n
					return true, ""
				}
			}
			return false, "only skipped ticks"
		})
		want := fmt.Sprintf("STATUS=%d running, 0 stopped, 0 missing", len(names))
		if !strings.HasPrefix(first.text, want) {
			t.Errorf("restart %d: the first completed tick after the engine answered said %q, want %q", i+1, first.text, want)
		}
		converge = append(converge, first.at.Sub(started))
		atRest(fmt.Sprintf("at rest after engine restart %d", i+1))
	}
	calls, _ := wr.calls(t, from)
	runs, skipped := 0, 0
	perSecond := map[int64]int{}
	for _, c := range calls {
		if c.is("run") {
			runs++
		}
		perSecond[c.start.Unix()]++
	}
	busiest := 0
	for _, n := range perSecond {
		busiest = max(busiest, n)
	}
	for _, n := range sink.from(d.pid, "STATUS=") {
		if strings.HasPrefix(n.text, "STATUS=degraded: tick skipped") {
			skipped++
		}
	}
	recreated := 0
	for _, e := range truth.known {
		if e.Type == watchdog.EventRecreated {
			recreated++
		}
	}
	if runs > removals || recreated > removals {
		t.Errorf("%d docker runs and %d container_recreated for %d removals: a restarting engine is no reason to recreate", runs, recreated, removals)
	}
	pings := sink.from(d.pid, "WATCHDOG=1")
	gap := maxGap(pings, time.Now())
	row.faults = fmt.Sprintf("%d engine restarts (dockerd stopped, down 0-3 s, started), %d containers removed between them", restarts, removals)
	row.converge = converge
	row.convergeWhat = "from starting dockerd to the first completed tick, which saw every instance running"
	row.note("dockerd itself answered after %s", convergeText(answers, ""))
	row.note("%d docker runs, %d container_recreated for %d removals; %d docker calls in all, at most %d in any second; %d ticks skipped while the engine was down; longest gap between pings %s",
		runs, recreated, removals, len(calls), busiest, skipped, gap.Round(100*time.Millisecond))
	row.lost, row.falseReports = len(truth.lostEvents), len(truth.falseReports)
	if v := truth.verdict(); v != "" {
		t.Errorf("the engine restarts broke the invariants:\n%s", v)
	}
	if d.exited() {
		t.Errorf("the daemon exited: %v", d.cmd.ProcessState)
	}
}
