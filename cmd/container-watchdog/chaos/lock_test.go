package chaos

// One daemon per registry, against the real engine: while the first
// daemon repairs, a second `run` and a `run --once` on the same registry
// exit 4 at once, name the first one's pid, and touch nothing (their
// docker goes through a logging wrapper: it must log no call).

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func testLock(t *testing.T, s *scenario) {
	const rounds = 5
	names := s.instances(t, rounds) // one each: repair pacing stays out of it
	s.cli(t, s.globals(s.docker, 30*time.Second), "reconcile", "--all")
	sink := newNotifySink(t)
	first := start(t, s.world, daemonSpec{globals: s.globals(s.docker, 30*time.Second), interval: faultInterval,
		sink: sink, wdog: 2 * time.Minute, dir: s.dir})
	if sink.wait(first.pid, "WATCHDOG=1", 1, 30*time.Second, first.done) < 1 {
		t.Fatal("the first daemon completed no tick")
	}
	reg := openRegistry(t, s.db)
	truth := newTruth(names, false)
	wr := s.newWrapper(t, s.dir)
	second := s.globals(wr.path, 30*time.Second)
	var refused []time.Duration
	for i := range rounds {
		name := names[i]
		at := time.Now()
		_, err := s.run(context.Background(), "rm", "-f", name)
		must(t, err)
		truth.removed(name, at)
		// Right after the removal, while the first daemon repairs.
		for _, args := range [][]string{{"run", "--listen", "127.0.0.1:0", "--interval", "1s"}, {"run", "--once"}} {
			began := time.Now()
			out, code, stderr := s.cliCode(second, wr.env(s.docker, 0, 0), args...)
			refused = append(refused, time.Since(began))
			if code != exitLocked || out != "" || !strings.Contains(stderr, fmt.Sprintf("(pid %d)", first.pid)) {
				t.Errorf("%s while a daemon runs: exit %d, stdout %q, stderr %q; want exit %d naming pid %d", strings.Join(args, " "), code, out, stderr, exitLocked, first.pid)
			}
		}
		var cs []ctr
		waitUntil(t, time.Minute, name+" recreated by the first daemon", func() (bool, string) {
			truth.absorb(reg.events(t))
			cs = s.containers(t, s.prefix, nil)
			why := truth.disagreements(cs)
			return len(why) == 0, strings.Join(why, "; ")
		})
		truth.rest(cs)
	}
	if calls, _ := wr.calls(t, 0); len(calls) > 0 {
		t.Errorf("the refused daemons ran docker %d times, first %q", len(calls), calls[0].args)
	}
	if first.exited() {
		t.Errorf("the first daemon exited: %v", first.cmd.ProcessState)
	}
	row := s.row()
	row.faults = fmt.Sprintf("%d second daemons and %d run --once on the same registry, each during a repair", rounds, rounds)
	row.lost, row.falseReports = len(truth.lostEvents), len(truth.falseReports)
	row.note("each exited %d naming the first's pid after %s, with no docker call; the first recreated all %d removed containers", exitLocked, convergeText(refused, ""), rounds)
	if v := truth.verdict(); v != "" {
		t.Errorf("the refused daemons broke the invariants:\n%s", v)
	}
}

// exitLocked is `run`'s status when another daemon watches the registry.
const exitLocked = 4
