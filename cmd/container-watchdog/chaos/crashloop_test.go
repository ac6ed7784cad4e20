package chaos

// The crash loop: containers removed, killed and stopped at random, the
// daemon SIGKILLed at a random point of its tick or repair and started
// again; after each restart's first completed tick, and again once the
// world is at rest, the invariants must hold.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// crashLoopReserve is the time the crash loop leaves before go test's
// -timeout: on a machine loaded by others its 100 rounds may not fit in
// the default 10 minutes, and a run cut short by the timeout reports
// nothing at all. It stops early instead, and says so.
const crashLoopReserve = 2 * time.Minute

// crashLoop is the scenario's state between rounds.
type crashLoop struct {
	*scenario
	names []string
	truth *truth
	reg   *registry
	wr    *wrapper
	sink  *notifySink
	spec  daemonSpec
	d     *daemon
	sse   *stream
	row   *figureRow

	mu    sync.Mutex     // faults run at once and record into truth and kills
	kills map[string]int // by what was under way when the kill came
}

func testCrashLoop(t *testing.T, s *scenario) {
	rounds := envInt(t, "CW_CHAOS_ROUNDS", 100)
	n := envInt(t, "CW_CHAOS_INSTANCES", 20)
	c := &crashLoop{scenario: s, names: s.instances(t, n), wr: s.newWrapper(t, s.dir), sink: newNotifySink(t),
		row: s.row(), kills: map[string]int{}}
	c.truth = newTruth(c.names, true)
	c.reg = openRegistry(t, s.db)
	c.spec = daemonSpec{globals: s.globals(c.wr.path, 30*time.Second), interval: 2 * time.Second,
		env: c.wr.env(s.docker, 0, 0), sink: c.sink, wdog: 2 * time.Minute, dir: s.dir}
	c.restart(t)
	c.firstTick(t)
	c.settle(t) // every instance created and reported

	done := 0
	deadline, bounded := t.Deadline()
	for round := range rounds {
		if bounded && time.Until(deadline) < crashLoopReserve {
			t.Logf("stopping after %d of %d rounds: go test's -timeout is %s away (a loaded machine; a longer -timeout runs them all)",
				done, rounds, time.Until(deadline).Round(time.Second))
			break
		}
		c.round(t, round)
		if t.Failed() {
			t.Fatalf("round %d of %d failed (seed in the first lines of the log)", round+1, rounds)
		}
		done++
	}
	c.d.stop(t)
	c.checkStuck(t, 0)
	c.row.faults = fmt.Sprintf("%d rounds, %d SIGKILLs of the daemon (%s), %d container faults", done, done, c.killText(), c.kills["ops"])
	c.row.convergeWhat = "from restart to every instance running or reported, nothing in flight"
	if done < rounds {
		c.row.note("stopped after %d of %d rounds, before go test's -timeout", done, rounds)
	}
	c.row.lost, c.row.falseReports = len(c.truth.lostEvents), len(c.truth.falseReports)
	c.row.note("%d events checked; the first tick's own view checked in %d rounds (in the others a second tick had ended before it was read)",
		len(c.truth.known), done-c.kills["first tick raced"])
	if v := c.truth.verdict(); v != "" {
		t.Errorf("the crash loop broke the invariants:\n%s", v)
	}
}

// round is one round: faults, a kill at a chosen point, a restart, checks.
func (c *crashLoop) round(t *testing.T, round int) {
	var marks []time.Duration
	began := time.Now()
	mark := func() { marks = append(marks, time.Since(began).Round(time.Millisecond)) }
	_, from := c.wr.calls(t, 0)
	removed := c.faults(t)
	mark()
	phase := c.pickPhase(removed)
	c.killAt(t, phase, from)
	mark()
	if c.rng.IntN(3) == 0 {
		c.faults1(t) // something happens while no watchdog runs
	}
	c.restart(t)
	mark()
	c.firstTick(t)
	mark()
	c.settle(t)
	mark()
	c.checkStuck(t, c.d.pid)
	mark()
	if os.Getenv("CW_CHAOS_DEBUG") != "" {
		t.Logf("round %d: faults, kill, restart, first tick, at rest, checked at %v", round+1, marks)
	}
	if round%10 == 9 {
		t.Logf("round %d: %d events, kills %s", round+1, len(c.truth.known), c.killText())
	}
}

// faults removes, kills or stops one to three random instances at once.
// It returns how many it removed.
func (c *crashLoop) faults(t *testing.T) (removed int) {
	k := 1 + c.rng.IntN(3)
	picked := map[string]bool{}
	var wg sync.WaitGroup
	cs := byName(c.containers(t, c.prefix, nil))
	for range k {
		name := c.names[c.rng.IntN(len(c.names))]
		if picked[name] {
			continue
		}
		picked[name] = true
		op := c.pickOp(cs[name].State)
		if op == "rm" {
			removed++
		}
		wg.Go(func() {
			c.apply(t, op, name)
		})
	}
	wg.Wait()
	return removed
}

// faults1 is one fault while the daemon is down.
func (c *crashLoop) faults1(t *testing.T) {
	name := c.names[c.rng.IntN(len(c.names))]
	cs := byName(c.containers(t, c.prefix, nil))
	c.apply(t, c.pickOp(cs[name].State), name)
}

// pickOp chooses what to do to a container in docker state st: kill and
// stop only make sense for a running one.
func (c *crashLoop) pickOp(st string) string {
	if st != "running" {
		return "rm"
	}
	return []string{"rm", "kill", "stop"}[c.rng.IntN(3)]
}

// apply does op to name and records it in the truth when docker did it.
func (c *crashLoop) apply(t *testing.T, op, name string) {
	args := map[string][]string{"rm": {"rm", "-f", name}, "kill": {"kill", name}, "stop": {"stop", "-t", "5", name}}[op]
	at := time.Now()
	_, err := c.run(context.Background(), args...)
	if err != nil {
		if strings.Contains(err.Error(), "No such container") || strings.Contains(err.Error(), "is not running") {
			return // the daemon had not recreated it yet, or it had just stopped
		}
		t.Errorf("%s %s: %v", op, name, err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.kills["ops"]++
	switch op {
	case "rm":
		c.truth.removed(name, at)
	case "kill":
		c.truth.killed(name, at)
	case "stop":
		c.truth.stopped(name, at)
	}
}

// phases are the points of the daemon's work a kill aims at: during a
// tick's listing and judging, during a docker run of a repair, right after
// a docker run returned (before its outcome is stored), or anywhere.
func (c *crashLoop) pickPhase(removed int) string {
	if removed == 0 {
		return []string{"tick", "anywhere"}[c.rng.IntN(2)]
	}
	return []string{"tick", "run", "after-run", "anywhere"}[c.rng.IntN(4)]
}

// killAt waits for the phase's mark in the wrapper's call log (read from
// offset from), waits a random bit more, and SIGKILLs the daemon; without
// the mark within 2 s it kills anyway. It counts what was under way.
func (c *crashLoop) killAt(t *testing.T, phase string, from int64) {
	var extra time.Duration
	switch phase {
	case "tick":
		extra = time.Duration(c.rng.IntN(40)) * time.Millisecond
	case "run":
		extra = time.Duration(c.rng.IntN(600)) * time.Millisecond
	case "after-run":
		extra = time.Duration(c.rng.IntN(5)) * time.Millisecond
	case "anywhere":
		extra = time.Duration(c.rng.IntN(1000)) * time.Millisecond
	}
	deadline := time.Now().Add(2 * time.Second)
	for phase != "anywhere" && time.Now().Before(deadline) && !c.marked(t, phase, from) {
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(extra)
	calls, _ := c.wr.calls(t, from)
	under := "nothing"
	for _, cl := range calls {
		if !cl.end.IsZero() || cl.is("events") || ppid(cl.pid) != c.d.pid {
			continue // ended, the follower, or a call of a daemon killed before
		}
		switch {
		case cl.is("run") || cl.is("rm"):
			under = "a docker run"
		case cl.tick() && under == "nothing":
			under = "a listing"
		case under == "nothing":
			under = "a look-up"
		}
	}
	c.d.kill(t)
	c.truth.did(time.Now(), "SIGKILL of the daemon during "+phase+" ("+under+")", "")
	if under == "nothing" && len(c.reg.intents(t)) > 0 {
		under = "a recorded recreation" // started, its outcome not stored
	}
	c.kills[under]++
}

// marked says the wrapper's log shows the phase's mark after from.
func (c *crashLoop) marked(t *testing.T, phase string, from int64) bool {
	calls, _ := c.wr.calls(t, from)
	for _, cl := range calls {
		switch {
		case phase == "tick" && cl.tick():
			return true
		case phase == "run" && cl.is("run"):
			return true
		case phase == "after-run" && cl.is("run") && !cl.end.IsZero():
			return true
		}
	}
	return false
}

func (c *crashLoop) killText() string {
	var parts []string
	for _, k := range []string{"a docker run", "a recorded recreation", "a listing", "a look-up", "nothing"} {
		if n := c.kills[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d during %s", n, k))
		}
	}
	return strings.Join(parts, ", ")
}

// restart starts a daemon and follows its event stream from the last id
// the suite knows.
func (c *crashLoop) restart(t *testing.T) {
	c.truth.did(time.Now(), "start of the daemon", "")
	c.d = start(t, c.world, c.spec)
	c.sse = c.d.subscribe(t, int64(len(c.truth.known)))
}

// firstTick waits for the new daemon's first completed tick and checks
// the invariants against what that tick saw.
func (c *crashLoop) firstTick(t *testing.T) {
	if c.sink.wait(c.d.pid, "WATCHDOG=1", 1, 30*time.Second, c.d.done) < 1 {
		t.Fatalf("daemon pid %d: no completed tick within 30s\n%s", c.d.pid, tail(c.d.logText(), 20))
	}
	v := c.d.state(t)
	c.truth.absorb(c.reg.events(t))
	cs := c.containers(t, c.prefix, nil)
	if dups := duplicates(cs); len(dups) > 0 {
		c.row.duplicates += len(dups)
		t.Errorf("instances with two containers: %v", dups)
	}
	if len(c.sink.from(c.d.pid, "STATUS=")) != 1 || v.Tick == nil {
		c.kills["first tick raced"]++
		return // a second tick ended meanwhile: the view is not the first one's
	}
	if why := c.truth.tickDisagreements(v); len(why) > 0 {
		c.truth.falseReports = append(c.truth.falseReports, why...)
		t.Errorf("after a restart, the first tick's view and the log disagree:\n%s", strings.Join(why, "\n"))
	}
}

// settle waits until the world is at rest: every instance running or
// stopped with a last event that says so, every removal reported, no
// recreation under way. It records how long that took after the restart.
func (c *crashLoop) settle(t *testing.T) {
	var why []string
	began := time.Now()
	for time.Since(began) < time.Minute {
		c.truth.absorb(c.reg.events(t))
		cs := c.containers(t, c.prefix, nil)
		if dups := duplicates(cs); len(dups) > 0 {
			c.row.duplicates += len(dups)
			t.Fatalf("instances with two containers: %v", dups)
		}
		why = c.truth.disagreements(cs)
		if in := c.reg.intents(t); len(in) > 0 {
			why = append(why, fmt.Sprintf("recreations under way: %v", in))
		}
		if len(why) == 0 {
			c.truth.rest(cs)
			c.row.converge = append(c.row.converge, time.Since(c.d.at))
			frames, bad := c.sse.events()
			c.truth.frames(frames)
			for _, b := range bad {
				t.Errorf("malformed SSE frame: %s", b)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("not at rest within a minute:\n%s\nlast events:\n%s", strings.Join(why, "\n"), c.lastEvents())
}

func (c *crashLoop) lastEvents() string {
	var lines []string
	for _, e := range c.truth.known[max(0, len(c.truth.known)-30):] {
		lines = append(lines, show(e))
	}
	return strings.Join(lines, "\n")
}

// checkStuck fails when wrapper processes outlive the daemon that ran
// them (parent not alive): a killed daemon must not leave docker calls
// behind. In-flight calls of a killed daemon get 5 s to end on their own;
// what is left is ended by pid.
func (c *crashLoop) checkStuck(t *testing.T, alive int) {
	var stuck []int
	deadline := time.Now().Add(5 * time.Second)
	for {
		stuck = c.wr.orphans(alive)
		if len(stuck) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(stuck) > 0 {
		t.Errorf("%d docker calls outlived the daemon that made them: %s", len(stuck), c.wr.describe(stuck))
		c.wr.reap(stuck)
	}
}
