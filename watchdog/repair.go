package watchdog

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// Backoff paces recreation of one instance, as kubelet paces restarts:
// the first recreation is at once; each further one in a streak waits
// Initial, doubling up to Max, after the previous attempt; a streak ends
// once the container has run for Reset since the last attempt.
type Backoff struct {
	Initial, Max, Reset time.Duration
}

// DefaultBackoff is 10 s doubling to 5 min, reset after 10 min running.
var DefaultBackoff = Backoff{Initial: 10 * time.Second, Max: 5 * time.Minute, Reset: 10 * time.Minute}

// delay is the wait before attempt number n+1 of a streak of n.
func (b Backoff) delay(n int) time.Duration {
	if n == 0 {
		return 0
	}
	d := b.Initial
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// DefaultParallelism sizes the repair pool for the host: docker run mostly
// waits on dockerd, so a few per core.
func DefaultParallelism() int { return max(4, 2*runtime.NumCPU()) }

// streak is one instance's run of recreation attempts.
type streak struct {
	attempts int
	last     time.Time
}

// repairs is the Watcher's bookkeeping of recreations under way and paced.
type repairs struct {
	mu       sync.Mutex
	inflight map[string]bool
	doneAt   map[string]time.Time
	streaks  map[string]*streak
	deferred map[string]time.Time // missing, waiting for its backoff to end
	sem      chan struct{}
	wg       sync.WaitGroup
}

func (w *Watcher) state() *repairs {
	w.once.Do(func() {
		n := w.Parallelism
		if n <= 0 {
			n = DefaultParallelism()
		}
		w.rs = &repairs{
			inflight: map[string]bool{}, doneAt: map[string]time.Time{},
			streaks: map[string]*streak{}, deferred: map[string]time.Time{},
			sem: make(chan struct{}, n),
		}
	})
	return w.rs
}

// Wait blocks until every repair under way has finished.
func (w *Watcher) Wait() { w.state().wg.Wait() }

// NextWake is when a deferred recreation may be tried, or zero.
func (w *Watcher) NextWake() time.Time {
	rs := w.state()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var t time.Time
	for _, at := range rs.deferred {
		if t.IsZero() || at.Before(t) {
			t = at
		}
	}
	return t
}

// busy says the tick must not judge name: a repair is under way, or ended
// after the listing began, so the listing is stale for it.
func (w *Watcher) busy(name string, listed time.Time) bool {
	rs := w.state()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.inflight[name] || rs.doneAt[name].After(listed)
}

// settle ends an instance's streak once it has run long enough.
func (w *Watcher) settle(name string, now time.Time) {
	rs := w.state()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if s := rs.streaks[name]; s != nil && now.Sub(s.last) >= w.backoff().Reset {
		delete(rs.streaks, name)
	}
	delete(rs.deferred, name)
}

// undefer drops a deferred recreation of a container that is no longer
// missing: a due time no tick can act on would have the loop spin.
func (w *Watcher) undefer(name string) {
	rs := w.state()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	delete(rs.deferred, name)
}

// forget drops all bookkeeping of a container no longer watched.
func (w *Watcher) forgetRepairs(name string) {
	rs := w.state()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	delete(rs.streaks, name)
	delete(rs.deferred, name)
	delete(rs.doneAt, name)
}

func (w *Watcher) backoff() Backoff {
	if w.Backoff == (Backoff{}) {
		return DefaultBackoff
	}
	return w.Backoff
}

// nextTry is when name may next be recreated (zero: now).
func (w *Watcher) nextTry(name string) time.Time {
	rs := w.state()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	s := rs.streaks[name]
	if s == nil {
		return time.Time{}
	}
	return s.last.Add(w.backoff().delay(s.attempts))
}

// startRepair recreates a missing container on the repair pool unless one
// is under way or its backoff has not ended; it never waits for the repair.
// It reports whether a repair started.
func (w *Watcher) startRepair(ctx context.Context, obs Observation, ev func(EventType, string) *Event) bool {
	rs := w.state()
	now := w.Now()
	rs.mu.Lock()
	if rs.inflight[obs.Container] {
		rs.mu.Unlock()
		return false
	}
	s := rs.streaks[obs.Container]
	if s == nil {
		s = &streak{}
		rs.streaks[obs.Container] = s
	}
	if next := s.last.Add(w.backoff().delay(s.attempts)); s.attempts > 0 && now.Before(next) {
		rs.deferred[obs.Container] = next
		rs.mu.Unlock()
		return false
	}
	delete(rs.deferred, obs.Container)
	s.attempts++
	s.last = now
	rs.inflight[obs.Container] = true
	rs.wg.Add(1)
	rs.mu.Unlock()

	go func() {
		var wake bool
		defer rs.wg.Done()
		defer func() {
			if v := recover(); v != nil {
				w.Log.Error("panic while repairing container", "container", obs.Container, "panic", v)
			}
			rs.mu.Lock()
			delete(rs.inflight, obs.Container)
			rs.doneAt[obs.Container] = w.Now()
			rs.mu.Unlock()
			// Only now: a tick woken earlier would find the repair still
			// under way, skip the instance and never time the next attempt.
			if wake {
				w.wake()
			}
		}()
		select {
		case rs.sem <- struct{}{}:
			defer func() { <-rs.sem }()
		case <-ctx.Done():
			return
		}
		wake = w.repair(ctx, obs, ev)
	}()
	return true
}

// repair recreates one container and reports how it went. A failure
// already reported with the same docker error is not reported again. It
// returns true when it failed, so the loop should look again (the backoff
// has a retry to time).
func (w *Watcher) repair(ctx context.Context, obs Observation, ev func(EventType, string) *Event) bool {
	// Re-read the registry: an agent removed since the tick began must not
	// get its container back.
	out, err := Failed, error(nil)
	if fresh, rerr := w.Registry.Agents(ctx); rerr != nil {
		err = fmt.Errorf("read registry: %w", rerr)
	} else {
		out, err = w.Reconciler.Repair(ctx, fresh, obs.Container)
	}
	if ctx.Err() != nil {
		return false // shutting down: the next start reconciles
	}
	switch {
	case err == nil && (out == Created || out == Recreated):
		w.Evidence.Consume(obs.Container) // our own create/start explain nothing
		obs.State, obs.Since, obs.Detail = StateRunning, w.Now(), ""
		w.observe(ctx, nil, obs, ev(EventRecreated, string(out)))
		return false
	case err == nil:
		// Someone else acted between the listing and the repair: say so
		// rather than claim a recreation that did not happen.
		err = fmt.Errorf("reconcile answered %q: the container changed under the watchdog (created or unregistered by someone else); the next tick will look again", out)
	}
	detail := err.Error()
	if detail == obs.Detail {
		return true
	}
	obs.Detail = detail
	e := ev(EventRecreateFailed, detail)
	if next := w.nextTry(obs.Container); !next.IsZero() {
		e.Detail += fmt.Sprintf("; next attempt at %s", next.UTC().Format(time.RFC3339))
	}
	w.observe(ctx, nil, obs, e)
	return true
}

// wake asks the loop to look again (a failed repair has a backoff to time).
func (w *Watcher) wake() {
	if w.Wake != nil {
		w.Wake()
	}
}
