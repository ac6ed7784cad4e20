package chaos

// A slow or hung engine: the daemon's docker goes through a wrapper that
// sleeps past --docker-timeout on a random tenth of its calls (before
// running docker, or after docker did the work). The daemon must go on
// pinging, skip a tick only when its listing itself failed, and leave no
// docker call running past its timeout.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

const (
	slowTimeout  = 2 * time.Second // --docker-timeout
	slowHang     = 5 * time.Second // how long a hung call sleeps
	slowInterval = 500 * time.Millisecond
	slowWatchdog = 20 * time.Second // WatchdogSec: pings must come within half of it
)

func testDockerSlow(t *testing.T, s *scenario) {
	names := s.instances(t, 5)
	s.cli(t, s.globals(s.docker, 30*time.Second), "reconcile", "--all")
	wr := s.newWrapper(t, s.dir)
	sink := newNotifySink(t)
	d := start(t, s.world, daemonSpec{globals: s.globals(wr.path, slowTimeout), interval: slowInterval,
		env: wr.env(s.docker, 0.1, slowHang), sink: sink, wdog: slowWatchdog, dir: s.dir})
	reg := openRegistry(t, s.db)
	truth := newTruth(names, false)
	truth.allowFailed = true // a docker run that hangs fails, honestly
	atRest := func(what string) time.Duration {
		t.Helper()
		var cs []ctr
		took := waitUntil(t, 2*time.Minute, what, func() (bool, string) {
			truth.absorb(reg.events(t))
			cs = s.containers(t, s.prefix, nil)
			why := truth.disagreements(cs)
			return len(why) == 0, strings.Join(why, "; ")
		})
		truth.rest(cs)
		return took
	}
	if sink.wait(d.pid, "WATCHDOG=1", 1, 30*time.Second, d.done) < 1 {
		t.Fatal("the daemon completed no tick")
	}
	_, from := wr.calls(t, 0)
	statusFrom := len(sink.from(d.pid, "STATUS="))
	pingsFrom := len(sink.from(d.pid, "WATCHDOG=1"))

	// A minute of hangs, with a container removed every 6 s; every second,
	// look for a docker call outliving its timeout.
	wr.setHang(t, true)
	began := time.Now()
	removals, stuck := 0, 0
	for time.Since(began) < time.Duration(envInt(t, "CW_CHAOS_SLOW_SECONDS", 60))*time.Second {
		if int(time.Since(began)/(6*time.Second)) >= removals {
			name := names[s.rng.IntN(len(names))]
			at := time.Now()
			if _, err := s.run(context.Background(), "rm", "-f", name); err == nil {
				truth.removed(name, at)
				removals++
			}
		}
		stuck = max(stuck, len(overdue(t, wr, d.pid)))
		time.Sleep(time.Second)
	}
	wr.setHang(t, false)
	hangsFor := time.Since(began)
	time.Sleep(slowTimeout + time.Second) // the last hung calls time out, and their ticks report
	converged := atRest("every instance running and reported once the hangs stop")

	calls, _ := wr.calls(t, from)
	var hung, hungListings int
	byVerb := map[string]int{}
	for _, c := range calls {
		if c.hang != "-" {
			hung++
			verb, _, _ := strings.Cut(c.args, " ")
			byVerb[verb+" ("+c.hang+")"]++
			if c.tick() {
				hungListings++
			}
		}
	}
	var skipped []string
	for _, n := range sink.from(d.pid, "STATUS=")[statusFrom:] {
		if strings.HasPrefix(n.text, "STATUS=degraded: tick skipped") {
			skipped = append(skipped, n.text)
		}
	}
	// Skipped only when the listing failed: as many skips as hung
	// listings, each saying the listing timed out.
	if len(skipped) != hungListings {
		t.Errorf("%d ticks skipped for %d hung listings: want one skip per hung listing, no more", len(skipped), hungListings)
	}
	for _, sk := range skipped {
		if !strings.Contains(sk, "docker ps") || !strings.Contains(sk, "timed out") {
			t.Errorf("skipped tick %q: want it to name the listing that timed out", sk)
		}
	}
	pings := sink.from(d.pid, "WATCHDOG=1")[pingsFrom:]
	gap := maxGap(pings, time.Now())
	if gap > slowWatchdog/2 {
		t.Errorf("longest gap between pings %s, want at most half the watchdog's %s", gap, slowWatchdog)
	}
	if stuck > 0 {
		t.Errorf("up to %d docker calls ran past --docker-timeout %s", stuck, slowTimeout)
	}
	if z := d.zombies(); z > 0 {
		t.Errorf("%d docker calls ended and were never reaped", z)
	}
	d.stop(t)
	if left := wr.orphans(0); len(left) > 0 {
		t.Errorf("%d docker calls outlived the daemon: %s", len(left), wr.describe(left))
		wr.reap(left)
	}
	row := s.row()
	row.faults = fmt.Sprintf("%d of %d docker calls hung %s past --docker-timeout %s over %s (%d listings), %d containers removed",
		hung, len(calls), slowHang, slowTimeout, hangsFor.Round(time.Second), hungListings, removals)
	row.converge = append(row.converge, converged)
	row.convergeWhat = "from the hangs' end to every instance running and reported"
	row.note("hung: %v", byVerb)
	row.note("%d ticks skipped, one per hung listing; %d pings, longest gap %s; no docker call past its timeout, none unreaped",
		len(skipped), len(pings), gap.Round(100*time.Millisecond))
	row.lost, row.falseReports = len(truth.lostEvents), len(truth.falseReports)
	if v := truth.verdict(); v != "" {
		t.Errorf("the hangs broke the invariants:\n%s", v)
	}
}

// overdue returns the daemon's docker calls (but its event stream, which
// has no timeout) that have run longer than the timeout, the kill's grace
// and a margin: calls the timeout failed to end.
func overdue(t *testing.T, wr *wrapper, daemonPid int) []int {
	calls, _ := wr.calls(t, 0)
	started := map[int]call{}
	for _, c := range calls {
		if c.end.IsZero() {
			started[c.pid] = c
		}
	}
	var out []int
	for _, pid := range wr.processes() {
		c, ok := started[pid]
		if ok && !c.is("events") && ppid(pid) == daemonPid && time.Since(c.start) > slowTimeout+3*time.Second {
			out = append(out, pid)
		}
	}
	return out
}
