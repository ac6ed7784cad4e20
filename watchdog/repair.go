package watchdog

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog/clock"
)

// Backoff paces recreation of one instance, as kubelet paces restarts: the
// first Burst recreations of a streak start at once (an operator repeating
// `docker rm -f` gets each container back at once); from the next one on,
// each waits Initial, doubling up to Max, after the previous attempt. A
// streak ends once the container has run for Reset since the last attempt.
type Backoff struct {
	Initial, Max, Reset time.Duration
	Burst               int
}

// DefaultBackoff is the contract's pacing: three at once, then 10 s doubling
// to 5 min; a streak ends after 10 min of running.
var DefaultBackoff = Backoff{Initial: 10 * time.Second, Max: 5 * time.Minute, Reset: 10 * time.Minute, Burst: 3}

// delay is the wait before the next attempt after n recent ones.
func (b Backoff) delay(n int) time.Duration {
	if n < b.Burst {
		return 0
	}
	d := b.Initial
	for i := b.Burst; i < n && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// record is one instance's repair bookkeeping, as PLEG keeps one record
// per pod. The zero record is an instance never repaired.
type record struct {
	inFlight bool      // a recreation or restart is under way
	began    time.Time // when the last one began
	doneAt   time.Time // when the last one ended
	attempts int       // recreations in the current streak
	last     time.Time // when the streak's last attempt began
	// deferredUntil is set while the instance is missing and pacing holds
	// its next attempt back.
	deferredUntil time.Time
	// restarts are the recent unhealthy restarts' times; gaveUp stops them
	// until the container has been healthy.
	restarts []time.Time
	gaveUp   bool
	// recheckAt asks for a look then (an unhealthy grace ends).
	recheckAt time.Time
}

// repairs is the bounded pool and every instance's record, behind one lock.
type repairs struct {
	backoff Backoff
	pool    *pool
	wg      sync.WaitGroup

	mu sync.Mutex
	by map[string]*record
}

// newRepairs sizes the pool: parallelism at once, or adaptive when 0.
func newRepairs(parallelism int, b Backoff, c clock.Clock) *repairs {
	return &repairs{backoff: b, pool: newPool(parallelism, c), by: map[string]*record{}}
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

// recent drops the times older than window at now and returns the rest.
func recent(ts []time.Time, now time.Time, window time.Duration) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= window {
		i++
	}
	return ts[i:]
}

// busy says a tick must not judge name: a repair is under way, or ended
// after the listing began, so the listing is stale for it.
func (rs *repairs) busy(name string, listed time.Time) (busy bool) {
	rs.with(name, func(r *record) { busy = r.inFlight || r.doneAt.After(listed) })
	return busy
}

// look fills what the record knows into a Look at l.Now.
func (rs *repairs) look(l *Look) {
	rs.with(l.Container, func(r *record) {
		l.NextRepair = r.nextTry(rs.backoff)
		r.restarts = recent(r.restarts, l.Now, RestartWindow)
		l.Restarts, l.GaveUp = len(r.restarts), r.gaveUp
	})
}

// apply keeps what a verdict at now says about pacing: a deferral is moot
// once the instance is no longer missing (the loop would spin on its due
// time), running long enough ends a streak, a give-up lasts until the
// container is not unhealthy, and a recheck is due when the verdict asks.
func (rs *repairs) apply(name string, v Verdict, now time.Time) {
	rs.with(name, func(r *record) {
		if v.Obs.State != StateMissing {
			r.deferredUntil = time.Time{}
		}
		if v.Obs.State == StateRunning && r.attempts > 0 && now.Sub(r.last) >= rs.backoff.Reset {
			r.attempts = 0
		}
		if v.GiveUp {
			r.gaveUp = true
		}
		if v.Obs.Health != HealthUnhealthy {
			r.gaveUp = false
		}
		r.recheckAt = v.RecheckAt
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
	if d := b.delay(r.attempts); d > 0 {
		return r.last.Add(d)
	}
	return time.Time{}
}

// begin claims a recreation of name at now: false when one is under way or
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
		r.inFlight, r.began = true, now
		ok = true
	})
	return ok
}

// beginRestart claims an unhealthy restart of name at now: false when
// something is under way. The restart counts towards the limit whether or
// not it works.
func (rs *repairs) beginRestart(name string, now time.Time) (ok bool) {
	rs.with(name, func(r *record) {
		if r.inFlight {
			return
		}
		r.restarts = append(r.restarts, now)
		r.inFlight, r.began = true, now
		ok = true
	})
	return ok
}

// end releases the claim begin or beginRestart took.
func (rs *repairs) end(name string, now time.Time) {
	rs.with(name, func(r *record) { r.inFlight, r.doneAt = false, now })
}

// ownWindow is how long after a recreation or restart ended the events
// docker stamped while it ran are still taken as its own: the stream
// delivers a call's events just after the call has returned.
const ownWindow = 5 * time.Second

// own says that docker's event about name, stamped at, was the watchdog's
// own doing, seen at now: it happened while a recreation or restart of
// name was under way (its create and start, the die and destroy of what
// it replaced or restarted), and the work ended at most ownWindow ago.
// Anything docker stamped before the work began or after it ended is not.
func (rs *repairs) own(name string, at, now time.Time) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r := rs.by[name]
	switch {
	case r == nil || r.began.IsZero() || at.Before(r.began):
		return false
	case r.inFlight:
		return true
	}
	return !at.After(r.doneAt) && now.Sub(r.doneAt) <= ownWindow
}

// nextWake is the earliest deferred attempt or recheck, or zero.
func (rs *repairs) nextWake() time.Time {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var t time.Time
	for _, r := range rs.by {
		for _, at := range []time.Time{r.deferredUntil, r.recheckAt} {
			if !at.IsZero() && (t.IsZero() || at.Before(t)) {
				t = at
			}
		}
	}
	return t
}

// Wait blocks until every repair under way has finished.
func (w *Watcher) Wait() { w.setup(); w.repairs.wg.Wait() }

// Own says that docker's event about the container, stamped at, was
// caused by the watchdog's own recreation or restart of it: it asks for
// no look, as the work reports its own outcome.
func (w *Watcher) Own(container string, at time.Time) bool {
	w.setup()
	return w.repairs.own(container, at, w.Clock.Now())
}

// RepairLimit is how many repairs may run at once now: Parallelism, or
// what the adaptive pool has settled on.
func (w *Watcher) RepairLimit() int { w.setup(); return w.repairs.pool.limit() }

// NextWake is when a deferred recreation may be tried, or zero.
func (w *Watcher) NextWake() time.Time { w.setup(); return w.repairs.nextWake() }

// startRepair recreates a missing container on the repair pool unless one
// is under way or pacing holds it back; it never waits for the repair. It
// reports whether a repair started. inherited says the tick found an
// intent a stopped daemon left (its recreation started, its outcome never
// recorded).
func (w *Watcher) startRepair(ctx context.Context, obs Observation, inherited bool) bool {
	if !w.repairs.begin(obs.Container, w.Clock.Now()) {
		return false
	}
	w.spawn(ctx, obs.Container, func() bool { return w.repair(ctx, obs, inherited) })
	return true
}

// startRestart restarts an unhealthy container on the repair pool unless
// something is under way for it.
func (w *Watcher) startRestart(ctx context.Context, obs Observation) bool {
	if !w.repairs.beginRestart(obs.Container, w.Clock.Now()) {
		return false
	}
	w.spawn(ctx, obs.Container, func() bool { return w.restart(ctx, obs) })
	return true
}

// spawn runs work for a claimed container on the bounded pool, and ends
// the claim. When work asks for it, the loop looks again.
func (w *Watcher) spawn(ctx context.Context, name string, work func() (again bool)) {
	rs := w.repairs
	rs.wg.Add(1)
	go func() {
		var again bool
		defer rs.wg.Done()
		defer func() {
			if v := recover(); v != nil {
				w.Log.Error("panic while repairing container", "container", name, "panic", v)
			}
			rs.end(name, w.Clock.Now())
			// Only now: a tick woken earlier would find the work still
			// under way, skip the instance and never time the next attempt.
			if again {
				w.Wake()
			}
		}()
		if !rs.pool.acquire(ctx) {
			return
		}
		defer rs.pool.release()
		again = work()
	}()
}

// heldNow says an operator held the container after the tick looked: the
// work must not start (the next tick reports the hold).
func (w *Watcher) heldNow(ctx context.Context, name string) bool {
	h, ok := w.ledger.holds(ctx, w.Registry)[name]
	return ok && h.Active(w.Clock.Now())
}

// restart restarts one unhealthy container and reports how it went. It
// never asks the loop to look again at once: a failed restart is tried
// again at the next tick, not in a burst that would spend the restart
// limit on one docker hiccup.
func (w *Watcher) restart(ctx context.Context, obs Observation) (again bool) {
	if w.heldNow(ctx, obs.Container) {
		return false
	}
	err := w.Reconciler.Restart(ctx, obs.Container)
	if ctx.Err() != nil {
		return false // shutting down
	}
	if err != nil {
		w.record(ctx, nil, obs, w.event(obs, EventUnhealthyRestartFailed, err.Error()))
		return false
	}
	// Our own kill, die and start explain nothing, even when the stream
	// delivers them after this.
	w.Evidence.ConsumeThrough(obs.Container, w.Clock.Now())
	detail := fmt.Sprintf("unhealthy since %s", stamp(obs.HealthSince))
	obs.HealthSince = w.Clock.Now() // the grace starts again
	w.record(ctx, nil, obs, w.event(obs, EventUnhealthyRestarted, detail))
	return false
}

// repair recreates one container and reports how it went. A failure
// already reported with the same docker error is not reported again. It
// returns true when the loop should look again: it failed (pacing has a
// retry to time), or someone else's container stands there now.
func (w *Watcher) repair(ctx context.Context, obs Observation, inherited bool) (again bool) {
	// Re-read the registry: an agent removed since the tick began must not
	// get its container back.
	if w.heldNow(ctx, obs.Container) {
		return false
	}
	w.intend(ctx, obs.Container)
	out, err := w.recreate(ctx, obs.Container)
	if ctx.Err() != nil {
		return false // shutting down: the next start reconciles
	}
	switch {
	case err == nil && (out == OutcomeCreated || out == OutcomeRecreated):
		w.Evidence.Consume(obs.Container) // our own create/start explain nothing
		obs.State, obs.Since, obs.Detail = StateRunning, w.Clock.Now(), ""
		w.record(ctx, nil, obs, w.event(obs, EventRecreated, string(out)))
		return false
	case err == nil && out == OutcomeUnchanged:
		// Up to date and ours, created since the listing: by an operator's
		// reconcile, or by the docker run of a daemon killed before it
		// recorded the outcome. Nothing failed: the next tick reports it
		// as docker lists it. This repair's intent goes (storing the
		// observation as it was clears it) unless a stopped daemon's was
		// there first: then that recreation is what the tick reports.
		if !inherited {
			w.record(ctx, nil, obs)
		}
		return true
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

// intend records that this daemon is about to recreate container. Best
// effort: without it, a crash before the outcome is recorded only loses
// the word "recreated" after the restart. Not tried while the registry
// fails: the repair must not wait on it.
func (w *Watcher) intend(ctx context.Context, container string) {
	if w.ledger.holding() {
		w.Log.Warn("intent to recreate not recorded: the registry is failing", "container", container)
	} else if err := w.Registry.Intend(ctx, container, w.Clock.Now()); err != nil {
		w.Log.Warn("record intent to recreate", "container", container, "err", err)
	}
}

// recreate reconciles container against the registry read afresh; a
// recreation's duration sizes the adaptive pool.
func (w *Watcher) recreate(ctx context.Context, container string) (Outcome, error) {
	fresh, err := w.ledger.agents(ctx, w.Registry)
	if err != nil {
		return OutcomeFailed, err
	}
	began := w.Clock.Now()
	out, err := w.Reconciler.Repair(ctx, fresh, container)
	if err == nil && (out == OutcomeCreated || out == OutcomeRecreated) {
		w.repairs.pool.observe(w.Clock.Now().Sub(began))
	}
	return out, err
}

// event is an event of type t about obs's container, stamped now.
func (w *Watcher) event(obs Observation, t EventType, detail string) Event {
	return Event{Time: w.Clock.Now(), Type: t, Container: obs.Container, Agent: obs.Agent, Instance: obs.Instance, Detail: detail}
}
