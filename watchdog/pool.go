package watchdog

import (
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

// PoolState is what the adaptive pool decides from: its limit, and the
// last window that counted (zero before the first).
type PoolState struct {
	Limit int
	Last  PoolSample
}

// TunePool is the pool's rule, hill climbing on throughput: a window that
// says nothing (the pool was not full, or too few runs) changes nothing;
// the first one probes upwards; then the pool grows while throughput rises,
// shrinks when the per-run latency climbs without a throughput gain (by
// Little's law, more at once on a saturated engine only queues inside it),
// grows back when throughput fell without latency climbing (it shrank too
// far), and otherwise holds. Steps are a quarter of the limit (at least
// one), within PoolMin..PoolMax.
func TunePool(s PoolState, x PoolSample) PoolState {
	if !x.Full || x.Runs < poolMinWindow || x.Span <= 0 {
		return s
	}
	prev := s.Last
	s.Last = x
	step := max(1, s.Limit/4)
	switch {
	case prev.Runs == 0:
		s.Limit += step
	case x.Rate() > prev.Rate()*(1+poolTolerance):
		s.Limit += step
	case float64(x.Latency) > float64(prev.Latency)*(1+poolTolerance):
		s.Limit -= step
	case x.Rate() < prev.Rate()*(1-poolTolerance):
		s.Limit += step
	}
	s.Limit = min(max(s.Limit, PoolMin), PoolMax)
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
	p := &pool{clock: c, adaptive: n <= 0, state: PoolState{Limit: n}}
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
