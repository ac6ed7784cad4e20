package watchdog

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog/clock/fakeclock"
)

// holders starts n goroutines that each take a slot and keep it; the test
// gives slots back itself (the pool does not track who holds one). It
// returns once want of them hold a slot.
func holders(t *testing.T, p *pool, n, want int) *atomic.Int32 {
	t.Helper()
	var got atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for range n {
		go func() {
			if p.acquire(ctx) {
				got.Add(1)
			}
		}()
	}
	waitFor(t, func() bool { return int(got.Load()) == want && p.waiting() == n-want })
	return &got
}

func (p *pool) waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// complete ends one run that took took, every step later on the clock.
func complete(p *pool, clk *fakeclock.Clock, step, took time.Duration) {
	clk.Advance(step)
	p.observe(took)
	p.release()
}

func TestPoolNeverRunsMoreThanItsLimit(t *testing.T) {
	for _, n := range []int{1, 3, 0} { // 0: adaptive, at PoolStart
		p := newPool(n, fakeclock.New())
		limit := p.limit()
		var inflight, most, total atomic.Int32
		var wg sync.WaitGroup
		for range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if !p.acquire(context.Background()) {
					t.Error("acquire failed without a cancel")
					return
				}
				now := inflight.Add(1)
				for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
				}
				total.Add(1)
				time.Sleep(50 * time.Microsecond)
				inflight.Add(-1)
				p.release()
			}()
		}
		wg.Wait()
		if most.Load() > int32(limit) || total.Load() != 200 {
			t.Errorf("pool %d: at most %d at once, %d in all; want at most %d, 200", n, most.Load(), total.Load(), limit)
		}
	}
}

// A limit that shrinks below the slots held grants nothing more until
// enough are given back.
func TestPoolGrantsNothingAboveAShrunkLimit(t *testing.T) {
	p := newPool(4, fakeclock.New())
	got := holders(t, p, 5, 4)
	p.mu.Lock()
	p.state.Limit = 2
	p.mu.Unlock()
	p.release()
	p.release()
	if got.Load() != 4 || p.waiting() != 1 {
		t.Fatalf("holding %d, waiting %d: want the waiter held back at 2 in flight of limit 2", got.Load(), p.waiting())
	}
	p.release()
	waitFor(t, func() bool { return got.Load() == 5 })
}

// A waiter whose context ends leaves the queue; the slot it would have
// had goes to the next.
func TestPoolAcquireEndsWithItsContext(t *testing.T) {
	p := newPool(1, fakeclock.New())
	if !p.acquire(context.Background()) {
		t.Fatal("the first acquire failed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool)
	go func() { done <- p.acquire(ctx) }()
	waitFor(t, func() bool { return p.waiting() == 1 })
	cancel()
	if <-done {
		t.Error("acquire with an ended context took a slot")
	}
	if p.waiting() != 0 {
		t.Error("the cancelled waiter stayed queued")
	}
	p.release()
	if !p.acquire(context.Background()) || p.busy != 1 {
		t.Errorf("busy %d after release and acquire: the cancelled waiter leaked a slot", p.busy)
	}
}

// The first full window probes downwards; the window's latency is its
// median, so one slow run does not shrink the pool; latency that climbs
// without a throughput gain does.
func TestPoolRetunesFromWindowsOfRecreations(t *testing.T) {
	clk := fakeclock.New()
	p := newPool(0, clk)
	got := holders(t, p, 40, PoolStart)
	for range PoolStart { // 8 runs of 4 s in 4 s: 2/s
		complete(p, clk, 500*time.Millisecond, 4*time.Second)
	}
	if p.limit() != 6 {
		t.Fatalf("limit %d after the first full window, want 6", p.limit())
	}
	// None granted above 6.
	waitFor(t, func() bool { return got.Load() == 8+7 })
	// The same rate and latency, but one run took a minute.
	for i := range 6 {
		took := 4 * time.Second
		if i == 3 {
			took = time.Minute
		}
		complete(p, clk, 500*time.Millisecond, took)
	}
	if p.limit() != 6 {
		t.Fatalf("limit %d after a window with one slow run, want 6 (held)", p.limit())
	}
	for range 6 { // 2/s again, but each took 5 s: latency climbs, no gain
		complete(p, clk, 500*time.Millisecond, 5*time.Second)
	}
	if p.limit() != 5 {
		t.Fatalf("limit %d after latency climbed without gain, want 5", p.limit())
	}
}

func TestPoolIgnoresWindowsItWasNotFullFor(t *testing.T) {
	clk := fakeclock.New()
	p := newPool(0, clk)
	holders(t, p, PoolStart, PoolStart) // demand exactly the limit: nothing queued
	for range PoolStart {
		complete(p, clk, 500*time.Millisecond, 4*time.Second)
	}
	if p.limit() != PoolStart {
		t.Errorf("limit %d, want %d: throughput without a queue measures demand, not the engine", p.limit(), PoolStart)
	}
}

// --repair-parallelism N: full windows never move a fixed pool.
func TestFixedPoolKeepsItsLimit(t *testing.T) {
	clk := fakeclock.New()
	p := newPool(3, clk)
	holders(t, p, 30, 3)
	for range 20 {
		complete(p, clk, 100*time.Millisecond, time.Second)
	}
	if p.limit() != 3 {
		t.Errorf("fixed pool's limit %d, want 3", p.limit())
	}
}

// A burst after idleness is measured afresh: its first full window probes
// as the first one does rather than being compared with the last burst's.
func TestPoolMeasuresEachBurstAfresh(t *testing.T) {
	clk := fakeclock.New()
	p := newPool(0, clk)
	holders(t, p, 20, PoolStart)
	for range 20 { // 6 at the end: 8 probed down, then held; the tail drains
		complete(p, clk, 500*time.Millisecond, 4*time.Second)
	}
	if p.limit() != 6 || p.busy != 0 {
		t.Fatalf("limit %d busy %d after the first burst, want 6 and idle", p.limit(), p.busy)
	}
	clk.Advance(time.Hour)
	holders(t, p, 20, 6)
	for range 6 { // twice as fast: compared with the last burst, it would grow
		complete(p, clk, 250*time.Millisecond, 2*time.Second)
	}
	if p.limit() != 5 {
		t.Errorf("limit %d, want 5: a new burst's first window probes", p.limit())
	}
}

// A limit that grows hands the new slots out at once, not at the next
// release.
func TestPoolGrantsAtOnceWhenItGrows(t *testing.T) {
	clk := fakeclock.New()
	p := newPool(0, clk)
	got := holders(t, p, 40, PoolStart)
	for range PoolStart { // 2/s: probes down to 6
		complete(p, clk, 500*time.Millisecond, 4*time.Second)
	}
	for range 5 { // 1/s at the same latency: the shrink hurt, grow back
		complete(p, clk, time.Second, 4*time.Second)
	}
	// 8 at first, 7 in the first window, 4 in this one (at 6 again after
	// the first release).
	waitFor(t, func() bool { return got.Load() == 8+7+4 })
	clk.Advance(time.Second)
	p.observe(4 * time.Second) // the window's last run, still in its slot
	if p.limit() != 7 {
		t.Fatalf("limit %d, want 7", p.limit())
	}
	waitFor(t, func() bool { return got.Load() == 8+7+4+1 })
}

// A waiter granted a slot just as its context ends hands the slot on.
func TestPoolHandsOnASlotGrantedAsTheWaiterGaveUp(t *testing.T) {
	for range 20 {
		p := newPool(1, fakeclock.New())
		p.acquire(context.Background())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan bool)
		go func() { done <- p.acquire(ctx) }()
		waitFor(t, func() bool { return p.waiting() == 1 })
		time.Sleep(time.Millisecond) // let it park in its select
		p.mu.Lock()
		cancel()
		p.busy-- // the holder's release, with the cancel under one lock
		p.grant()
		p.mu.Unlock()
		if <-done {
			p.release()
		}
		if p.busy != 0 {
			t.Fatalf("busy %d after everyone left: a slot leaked", p.busy)
		}
	}
}

// A pool built without a clock takes the system's: a zero field never
// panics, fixed or adaptive, on the first acquire after idleness.
func TestPoolWithoutAClock(t *testing.T) {
	for _, n := range []int{0, 2} {
		p := newPool(n, nil)
		if !p.acquire(context.Background()) {
			t.Fatalf("pool(%d): no slot", n)
		}
		p.observe(time.Millisecond)
		p.release()
	}
}
