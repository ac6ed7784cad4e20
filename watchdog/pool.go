package watchdog

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog/clock"
)

// Bounds of the adaptive repair pool: it starts at PoolStart repairs at
// once (a bare docker run mostly waits on dockerd, and 8 at once is where
// a 2-core engine stops gaining) and stays within PoolMin..PoolMax.
const (
	PoolStart = 8
	PoolMin   = 1
	PoolMax   = 64
)

// poolTolerance is the relative change of throughput or latency between
// two windows that counts as a change: less is the noise of a shared
// machine.
const poolTolerance = 0.10

// poolMinWindow is the fewest recreations a window needs to say anything.
const poolMinWindow = 4

// PoolSample is one window of recreations (docker run) the adaptive pool
// saw complete.
type PoolSample struct {
	// Runs completed in the window, over Span: from the window's start to
	// the last of them.
	Runs int
	Span time.Duration
	// Latency is the median duration of one run: a single slow run does
	// not move it.
	Latency time.Duration
	// Full says work was queued for a slot at every completion: only then
	// does throughput measure the engine rather than the demand.
	Full bool
}

// Rate is the throughput in runs per second (0 for an empty window).
func (s PoolSample) Rate() float64 {
	if s.Runs == 0 || s.Span <= 0 {
		return 0
	}
	return float64(s.Runs) / s.Span.Seconds()
}

// PoolState is what the adaptive pool decides from: its limit, the last
// window that counted (zero before the first), and the way the last
// change went (+1 grew, -1 shrank, 0 held).
type PoolState struct {
	Limit int
	Last  PoolSample
	Dir   int
}

// TunePool is the pool's rule, hill climbing on throughput. A window that
// says nothing (the pool was not full, too few runs) changes nothing. The
// first one probes downwards: on a saturated engine too many at once cost
// more than too few (on a 2-core engine 8 docker runs at once went at
// 0.67x the rate of 4). Then: throughput rose, so the last step
// helped: take another the same way (up after a hold). Per-run latency
// climbed without a throughput gain: shrink (by Little's law, more at once
// on a saturated engine only queues inside it). Throughput fell: the last
// step hurt, step back the other way. A shrink that cost no throughput and
// shortened each run: shrink on. Otherwise hold. Steps are a quarter
// of the limit (at least one), within PoolMin..PoolMax.
func TunePool(s PoolState, x PoolSample) PoolState {
	if !x.Full || x.Runs < poolMinWindow || x.Span <= 0 {
		return s
	}
	prev := s.Last
	s.Last = x
	switch {
	case prev.Runs == 0:
		s.Dir = -1
	case x.Rate() > prev.Rate()*(1+poolTolerance):
		s.Dir = cmp.Or(s.Dir, +1)
	case float64(x.Latency) > float64(prev.Latency)*(1+poolTolerance):
		s.Dir = -1
	case x.Rate() < prev.Rate()*(1-poolTolerance):
		s.Dir = cmp.Or(-s.Dir, +1)
	case s.Dir < 0 && float64(x.Latency) < float64(prev.Latency)*(1-poolTolerance):
		// Shrinking cost no throughput and shortened each run: go on.
	default:
		s.Dir = 0
	}
	s.Limit = min(max(s.Limit+s.Dir*max(1, s.Limit/4), PoolMin), PoolMax)
	return s
}

// pool bounds the repairs and restarts under way. A fixed pool
// (--repair-parallelism N) keeps its limit; an adaptive one retunes it with
// TunePool after each window of recreations. Slots are granted in arrival
// order.
type pool struct {
	clock    clock.Clock
	adaptive bool

	mu    sync.Mutex
	state PoolState
	busy  int
	queue []chan struct{}
	win   window
}

// window gathers the recreations of the current sample.
type window struct {
	start time.Time
	lats  []time.Duration
	full  bool
}

// newPool makes a pool of fixed size n, or an adaptive one when n <= 0.
func newPool(n int, c clock.Clock) *pool {
	p := &pool{clock: clock.Or(c), adaptive: n <= 0, state: PoolState{Limit: n}}
	if p.adaptive {
		p.state.Limit = PoolStart
	}
	return p
}

// limit is how many may run at once now.
func (p *pool) limit() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.Limit
}

// acquire waits for a slot; false when ctx ended first.
func (p *pool) acquire(ctx context.Context) bool {
	p.mu.Lock()
	if p.busy == 0 && len(p.queue) == 0 {
		p.restart() // idle: a new burst, measured afresh
	}
	if p.busy < p.state.Limit && len(p.queue) == 0 {
		p.busy++
		p.mu.Unlock()
		return true
	}
	ch := make(chan struct{})
	p.queue = append(p.queue, ch)
	p.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := slices.Index(p.queue, ch); i >= 0 {
		p.queue = slices.Delete(p.queue, i, i+1)
		return false
	}
	// Granted as ctx ended: hand the slot on.
	p.busy--
	p.grant()
	return false
}

// release gives a slot back.
func (p *pool) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.busy--
	p.grant()
}

// grant hands free slots to the longest waiting; p.mu is held.
func (p *pool) grant() {
	for p.busy < p.state.Limit && len(p.queue) > 0 {
		close(p.queue[0])
		p.queue = p.queue[1:]
		p.busy++
	}
}

// restart begins a new window now and forgets the last one, so a burst is
// not compared with one long past; p.mu is held.
func (p *pool) restart() {
	p.win = window{start: p.clock.Now(), full: true}
	p.state.Last = PoolSample{}
}

// observe counts one recreation that took took, called in its slot. Once
// the window holds as many as the limit (at least poolMinWindow), it
// becomes a sample and the limit is retuned.
func (p *pool) observe(took time.Duration) {
	if !p.adaptive {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.win.lats = append(p.win.lats, took)
	p.win.full = p.win.full && len(p.queue) > 0
	if len(p.win.lats) < max(poolMinWindow, p.state.Limit) {
		return
	}
	now := p.clock.Now()
	slices.Sort(p.win.lats)
	x := PoolSample{Runs: len(p.win.lats), Span: now.Sub(p.win.start), Latency: p.win.lats[len(p.win.lats)/2], Full: p.win.full}
	p.state = TunePool(p.state, x)
	p.win = window{start: now, full: true}
	p.grant()
}
