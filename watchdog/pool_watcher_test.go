package watchdog_test

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// perName counts `docker run` calls in flight for each container.
type perName struct {
	mu             sync.Mutex
	inflight, most map[string]int
}

func (p *perName) enter(args []string) string {
	i := slices.Index(args, "--name")
	if args[0] != "run" || i < 0 {
		return ""
	}
	name := args[i+1]
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight[name]++
	p.most[name] = max(p.most[name], p.inflight[name])
	return name
}

func (p *perName) leave(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight[name]--
}

// Under the adaptive pool (Parallelism 0), as under a fixed one, one
// instance's repairs never overlap: a tick while they are held in docker
// run (or queued for a slot) starts none, and every instance is recreated
// once; the pool runs at most its limit at once.
func TestAdaptivePoolKeepsEachInstancesRepairsSerial(t *testing.T) {
	var instances []string
	for _, c := range "abcdefghijkl" {
		instances = append(instances, string(c))
	}
	e := newTickEnv(t, agent("dev", instances...))
	e.w.Parallelism = 0
	e.tick()
	if e.w.RepairLimit() != watchdog.PoolStart {
		t.Fatalf("RepairLimit %d, want the adaptive pool's start %d", e.w.RepairLimit(), watchdog.PoolStart)
	}
	g := newGate()
	names := &perName{inflight: map[string]int{}, most: map[string]int{}}
	e.fake.setHook(func(args []string) {
		if n := names.enter(args); n != "" {
			defer names.leave(n)
		}
		g.hook(args)
	})
	t.Cleanup(func() {
		select {
		case <-g.release:
		default:
			close(g.release)
		}
		e.w.Wait()
	})
	for _, i := range instances {
		e.fake.remove(cname("dev", i))
	}
	e.clock.Advance(time.Minute)
	if rep := e.tickAsync(); rep.Repairs != len(instances) {
		t.Fatalf("repairs started %d, want %d", rep.Repairs, len(instances))
	}
	g.waitInflight(t, watchdog.PoolStart) // the rest queue for a slot
	for range 3 {
		e.clock.Advance(time.Minute)
		if rep := e.tickAsync(); rep.Repairs != 0 {
			t.Errorf("a tick during the repairs started %d more", rep.Repairs)
		}
	}
	close(g.release)
	e.w.Wait()
	_, most, total := g.counts()
	if most > watchdog.PoolStart || total != len(instances) {
		t.Errorf("at most %d runs at once, %d in all; want at most %d, one per instance (%d)", most, total, watchdog.PoolStart, len(instances))
	}
	for _, i := range instances {
		if n := names.most[cname("dev", i)]; n != 1 {
			t.Errorf("%s: %d runs at once, want 1", cname("dev", i), n)
		}
	}
}

// Only recreations size the adaptive pool: after a full window of docker
// runs that recreated, its first probe moves the limit; a window of runs
// that failed moves nothing (a fast failure is no measure of the engine).
func TestOnlyRecreationsSizeTheAdaptivePool(t *testing.T) {
	for _, c := range []struct {
		fail bool
		want int
	}{{false, 6}, {true, watchdog.PoolStart}} {
		var instances []string
		for i := range 20 {
			instances = append(instances, fmt.Sprintf("i%02d", i))
		}
		e := newTickEnv(t, agent("dev", instances...))
		e.w.Parallelism = 0
		e.tick()
		for _, i := range instances {
			e.fake.remove(cname("dev", i))
		}
		if c.fail {
			e.fake.setFail("run", "Error response from daemon: no space left on device")
		}
		step := make(chan struct{})
		var running atomic.Int32
		e.fake.setHook(func(args []string) {
			if args[0] == "run" {
				running.Add(1)
				<-step
				e.clock.Advance(500 * time.Millisecond)
			}
		})
		e.clock.Advance(time.Minute)
		e.tickAsync()
		// A window counts only if work was queued at every completion: let
		// the pool fill and the other repairs reach their wait for a slot
		// before the first run ends (the repairs' goroutines are not ours to
		// sequence; without this the first completion could find none queued).
		for deadline := time.Now().Add(10 * time.Second); running.Load() < int32(watchdog.PoolStart) && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		done := func() (n int) {
			e.pub.mu.Lock()
			defer e.pub.mu.Unlock()
			for _, ev := range e.pub.events {
				if ev.Type == watchdog.EventRecreated || ev.Type == watchdog.EventRecreateFailed {
					n++
				}
			}
			return n
		}
		for i := range watchdog.PoolStart { // one window, the pool full throughout
			step <- struct{}{}
			deadline := time.Now().Add(10 * time.Second)
			for done() < i+1 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		}
		if got := e.w.RepairLimit(); got != c.want {
			t.Errorf("runs fail %v: limit %d after %d runs, want %d", c.fail, got, watchdog.PoolStart, c.want)
		}
		close(step)
		e.w.Wait()
	}
}
