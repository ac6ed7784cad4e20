package notify

import (
	"errors"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// Policy paces delivery to one sink.
type Policy struct {
	// RetryInitial is the wait after a first failure; it doubles with each
	// further failure up to RetryMax. A receiver's Retry-After wins when longer.
	RetryInitial time.Duration
	RetryMax     time.Duration
	// GiveUp is how long a row may stay queued: past it, it is dropped.
	GiveUp time.Duration
	// More than BurstLimit events for a sink within BurstWindow are folded
	// into one summary per window until the burst ends.
	BurstLimit  int
	BurstWindow time.Duration
	// MaxFold bounds the events one summary carries.
	MaxFold int
}

// DefaultPolicy is 2 s doubling to 5 min, dropped after 24 h; bursts of
// more than 10 events in a minute are folded.
var DefaultPolicy = Policy{
	RetryInitial: 2 * time.Second, RetryMax: 5 * time.Minute, GiveUp: 24 * time.Hour,
	BurstLimit: 10, BurstWindow: time.Minute, MaxFold: 500,
}

func (p Policy) orDefault() Policy {
	d := DefaultPolicy
	if p.RetryInitial > 0 {
		d.RetryInitial = p.RetryInitial
	}
	if p.RetryMax > 0 {
		d.RetryMax = p.RetryMax
	}
	if p.GiveUp > 0 {
		d.GiveUp = p.GiveUp
	}
	if p.BurstLimit > 0 {
		d.BurstLimit = p.BurstLimit
	}
	if p.BurstWindow > 0 {
		d.BurstWindow = p.BurstWindow
	}
	if p.MaxFold > 0 {
		d.MaxFold = p.MaxFold
	}
	return d
}

// Pending is one queued delivery: an outbox row and its event.
type Pending struct {
	// ID names the row within its sink: the event's id.
	ID    int64
	Event watchdog.Event
	// QueuedAt is when the event was stored: GiveUp counts from it.
	QueuedAt time.Time
	Attempts int
	// NextAttempt is when a retry is due (zero: at once).
	NextAttempt time.Time
}

// Outcome is what one step did to a sink's rows; the outbox applies it in
// one transaction (rows removed or rescheduled, counters, last error).
type Outcome struct {
	Delivered []int64 // removed, counted delivered
	Dropped   []int64 // removed, counted dropped
	Retry     []int64 // kept, with Attempts and NextAttempt
	Attempts  int
	// NextAttempt is when the Retry rows are due again.
	NextAttempt time.Time
	// Failed: an attempt failed; counted, and Error becomes the last error.
	Failed bool
	Error  string
	At     time.Time
}

// pace is a sink's burst state. It lives in memory: a restart starts
// afresh (at worst one burst is folded a little later).
type pace struct {
	// sent holds when single events went out within the burst window.
	sent []time.Time
	// holdUntil, when set, means a burst: rows wait until then and go out
	// folded; a window with nothing queued at its end ends the burst.
	holdUntil time.Time
}

type actionKind int

const (
	actIdle actionKind = iota // nothing queued: wait for a wake
	actWait                   // wait until At
	actDrop                   // drop Rows: queued longer than GiveUp
	actSend                   // send Rows: one event, or a summary of several
)

type action struct {
	Kind actionKind
	Rows []Pending
	At   time.Time
	// Fold sends Rows as one summary (else Rows holds one event).
	Fold bool
	// Burst: a successful send continues the burst (hold for another window).
	Burst bool
}

// plan decides a sink's next step from its queue (oldest first) and its
// pace. It is pure: the Sender carries the action out.
func plan(now time.Time, rows []Pending, p pace, pol Policy) (action, pace) {
	p.sent = within(p.sent, now, pol.BurstWindow)
	inBurst := !p.holdUntil.IsZero()
	if len(rows) == 0 {
		if inBurst && !now.Before(p.holdUntil) {
			p = pace{} // a quiet window: the burst is over
		}
		return action{Kind: actIdle}, p
	}
	var expired []Pending
	for _, r := range rows {
		if now.Sub(r.QueuedAt) < pol.GiveUp {
			break
		}
		expired = append(expired, r)
	}
	if len(expired) > 0 {
		return action{Kind: actDrop, Rows: expired}, p
	}
	head := rows[0]
	if head.NextAttempt.After(now) {
		return action{Kind: actWait, At: head.NextAttempt}, p
	}
	if inBurst {
		if now.Before(p.holdUntil) {
			return action{Kind: actWait, At: p.holdUntil}, p
		}
		return send(rows, pol, true), p
	}
	if len(p.sent)+len(rows) <= pol.BurstLimit {
		return action{Kind: actSend, Rows: rows[:1]}, p
	}
	if len(rows) > pol.BurstLimit {
		// More queued than a minute allows: one summary now, so a mass
		// outage is told at once, then hold what follows.
		return send(rows, pol, true), p
	}
	// A trickle over the limit: hold it, and fold what a window gathers.
	p.holdUntil = now.Add(pol.BurstWindow)
	return action{Kind: actWait, At: p.holdUntil}, p
}

// send is the action for a burst's rows: folded, or alone when only one.
func send(rows []Pending, pol Policy, burst bool) action {
	if len(rows) == 1 {
		return action{Kind: actSend, Rows: rows, Burst: burst}
	}
	return action{Kind: actSend, Rows: rows[:min(len(rows), pol.MaxFold)], Fold: true, Burst: burst}
}

func within(ts []time.Time, now time.Time, window time.Duration) []time.Time {
	out := ts[:0:0]
	for _, t := range ts {
		if now.Sub(t) < window {
			out = append(out, t)
		}
	}
	return out
}

// settle turns a send's result into the outbox change and the next pace.
func settle(now time.Time, a action, err error, p pace, pol Policy) (Outcome, pace) {
	ids := ids(a.Rows)
	if err == nil {
		switch {
		case a.Burst && len(a.Rows) >= pol.MaxFold:
			// A full summary: more may be queued, so fold the next at once.
			p.holdUntil, p.sent = now, nil
		case a.Burst:
			p.holdUntil, p.sent = now.Add(pol.BurstWindow), nil
		default:
			p.sent = append(p.sent, now)
		}
		return Outcome{Delivered: ids, At: now}, p
	}
	var se *SendError
	errors.As(err, &se)
	if se != nil && se.Permanent {
		return Outcome{Dropped: ids, Failed: true, Error: err.Error(), At: now}, p
	}
	head := a.Rows[0]
	attempts := head.Attempts + 1
	delay := backoff(attempts, pol)
	if se != nil && se.RetryAfter > delay {
		delay = se.RetryAfter
	}
	next := now.Add(delay)
	if deadline := head.QueuedAt.Add(pol.GiveUp); next.After(deadline) {
		next = deadline // then dropped, not retried past the give-up
	}
	return Outcome{Retry: ids, Attempts: attempts, NextAttempt: next, Failed: true, Error: err.Error(), At: now}, p
}

// backoff is RetryInitial doubled for each failure after the first, capped.
func backoff(attempts int, pol Policy) time.Duration {
	d := pol.RetryInitial
	for i := 1; i < attempts && d < pol.RetryMax; i++ {
		d *= 2
	}
	return min(d, pol.RetryMax)
}
