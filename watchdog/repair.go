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

// record is one instance's repair bookkeeping, as PLEG keeps one record
// per pod. The zero record is an instance never repaired.
type record struct {
	inFlight bool      // a repair is under way
	doneAt   time.Time // when the last repair ended
	attempts int       // recreations in the current streak
	last     time.Time // when the streak's last attempt began
	// deferredUntil is set while the instance is missing and pacing holds
	// its next attempt back.
	deferredUntil time.Time
}

// repairs is the bounded repair pool and every instance's record, behind
// one lock.
type repairs struct {
	backoff Backoff
	sem     chan struct{}
	wg      sync.WaitGroup

	mu sync.Mutex
	by map[string]*record
}

func newRepairs(parallelism int, b Backoff) *repairs {
	return &repairs{backoff: b, sem: make(chan struct{}, parallelism), by: map[string]*record{}}
}

// with runs f on name's record under the lock, creating the record.
func (rs *repairs) with(name string, f func(r *record)) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r := rs.by[name]
	if r == nil {
		r = &record{}
		rs.by[name] = r
	}
	f(r)
}

// busy says a tick must not judge name: a repair is under way, or ended
// after the listing began, so the listing is stale for it.
func (rs *repairs) busy(name string, listed time.Time) (busy bool) {
	rs.with(name, func(r *record) { busy = r.inFlight || r.doneAt.After(listed) })
	return busy
}

// observed updates pacing for an instance seen running or stopped: a
// deferral is moot (no tick could act on it, and the loop would spin on
// its due time), and running long enough ends the streak.
func (rs *repairs) observed(name string, s State, now time.Time) {
	if s != StateRunning && s != StateStopped {
		return
	}
	rs.with(name, func(r *record) {
		r.deferredUntil = time.Time{}
		if s == StateRunning && r.attempts > 0 && now.Sub(r.last) >= rs.backoff.Reset {
			r.attempts = 0
		}
	})
}

// forget drops the record of an instance no longer watched.
func (rs *repairs) forget(name string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	delete(rs.by, name)
}

// nextTry is when name may next be recreated (zero: at once).
func (rs *repairs) nextTry(name string) (t time.Time) {
	rs.with(name, func(r *record) { t = r.nextTry(rs.backoff) })
	return t
}

func (r *record) nextTry(b Backoff) time.Time {
	if r.attempts == 0 {
		return time.Time{}
	}
	return r.last.Add(b.delay(r.attempts))
}

// begin claims a repair of name at now: false when one is under way or
// pacing holds it back (then it is deferred until its due time).
func (rs *repairs) begin(name string, now time.Time) (ok bool) {
	rs.with(name, func(r *record) {
		if r.inFlight {
			return
		}
		if next := r.nextTry(rs.backoff); now.Before(next) {
			r.deferredUntil = next
			return
		}
		r.deferredUntil = time.Time{}
		r.attempts++
		r.last = now
		r.inFlight = true
		ok = true
	})
	return ok
}

// end releases the claim begin took.
func (rs *repairs) end(name string, now time.Time) {
	rs.with(name, func(r *record) { r.inFlight, r.doneAt = false, now })
}

// nextWake is the earliest deferred attempt, or zero.
func (rs *repairs) nextWake() time.Time {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var t time.Time
	for _, r := range rs.by {
		if at := r.deferredUntil; !at.IsZero() && (t.IsZero() || at.Before(t)) {
			t = at
		}
	}
	return t
}

// Wait blocks until every repair under way has finished.
func (w *Watcher) Wait() { w.setup(); w.repairs.wg.Wait() }

// NextWake is when a deferred recreation may be tried, or zero.
func (w *Watcher) NextWake() time.Time { w.setup(); return w.repairs.nextWake() }

// startRepair recreates a missing container on the repair pool unless one
// is under way or pacing holds it back; it never waits for the repair. It
// reports whether a repair started.
func (w *Watcher) startRepair(ctx context.Context, obs Observation) bool {
	rs := w.repairs
	if !rs.begin(obs.Container, w.Clock.Now()) {
		return false
	}
	rs.wg.Add(1)
	go func() {
		var failed bool
		defer rs.wg.Done()
		defer func() {
			if v := recover(); v != nil {
				w.Log.Error("panic while repairing container", "container", obs.Container, "panic", v)
			}
			rs.end(obs.Container, w.Clock.Now())
			// Only now: a tick woken earlier would find the repair still
			// under way, skip the instance and never time the next attempt.
			if failed {
				w.Wake()
			}
		}()
		select {
		case rs.sem <- struct{}{}:
			defer func() { <-rs.sem }()
		case <-ctx.Done():
			return
		}
		failed = w.repair(ctx, obs)
	}()
	return true
}

// repair recreates one container and reports how it went. A failure
// already reported with the same docker error is not reported again. It
// returns true when it failed, so the loop looks again (pacing has a
// retry to time).
func (w *Watcher) repair(ctx context.Context, obs Observation) (failed bool) {
	// Re-read the registry: an agent removed since the tick began must not
	// get its container back.
	out, err := OutcomeFailed, error(nil)
	if fresh, rerr := w.Registry.Agents(ctx); rerr != nil {
		err = fmt.Errorf("read registry: %w", rerr)
	} else {
		out, err = w.Reconciler.Repair(ctx, fresh, obs.Container)
	}
	if ctx.Err() != nil {
		return false // shutting down: the next start reconciles
	}
	switch {
	case err == nil && (out == OutcomeCreated || out == OutcomeRecreated):
		w.Evidence.Consume(obs.Container) // our own create/start explain nothing
		obs.State, obs.Since, obs.Detail = StateRunning, w.Clock.Now(), ""
		w.record(ctx, nil, obs, w.event(obs, EventRecreated, string(out)))
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
	if next := w.repairs.nextTry(obs.Container); !next.IsZero() {
		detail += fmt.Sprintf("; next attempt at %s", next.UTC().Format(time.RFC3339))
	}
	w.record(ctx, nil, obs, w.event(obs, EventRecreateFailed, detail))
	return true
}

// event is an event of type t about obs's container, stamped now.
func (w *Watcher) event(obs Observation, t EventType, detail string) Event {
	return Event{Time: w.Clock.Now(), Type: t, Container: obs.Container, Agent: obs.Agent, Instance: obs.Instance, Detail: detail}
}
