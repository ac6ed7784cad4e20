package watchdog

import (
	"context"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog/clock"
)

// Loop runs ticks one at a time: one at once, then one every Interval
// after the previous ended, so ticks never overlap. A Trigger (docker's
// event stream saw a loss) or a paced repair falling due brings the next
// tick forward; the periodic tick stays as the backstop.
type Loop struct {
	Watcher  *Watcher
	Interval time.Duration
	// Clock times the waits (nil: the system clock).
	Clock clock.Clock
	// Trigger asks for a tick soon; Settle is how long to wait after one so
	// that a burst (kill, die, destroy) is seen by a single tick.
	Trigger <-chan struct{}
	Settle  time.Duration
	// AfterTick sees every tick, completed or skipped, on the loop goroutine.
	AfterTick func(TickReport, error)
}

// NewTrigger returns a trigger channel and a non-blocking function that
// fires it; many fires before the loop looks count as one.
func NewTrigger() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	return ch, func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Run ticks until ctx ends; a tick in flight is cancelled with it.
func (l *Loop) Run(ctx context.Context) error {
	l.Clock = clock.Or(l.Clock)
	for {
		if ctx.Err() != nil {
			return nil
		}
		rep, err := l.Watcher.Tick(ctx)
		if ctx.Err() != nil {
			return nil // cancelled mid-tick: its report means nothing
		}
		if l.AfterTick != nil {
			l.AfterTick(rep, err)
		}
		if !l.wait(ctx, rep.Started) {
			return nil
		}
	}
}

// wait sleeps until the next tick is due; false means ctx ended. ticked
// is when the last tick began: a deferred repair already due then is one
// that tick could not make (docker was down), and waking for it again at
// once would only spin.
func (l *Loop) wait(ctx context.Context, ticked time.Time) bool {
	d := l.Interval
	if next := l.Watcher.NextWake(); next.After(ticked) {
		d = min(d, max(next.Sub(l.Clock.Now()), 0))
	}
	select {
	case <-ctx.Done():
		return false
	case <-l.Clock.After(d):
		return true
	case <-l.Trigger:
	}
	if l.Settle > 0 {
		select {
		case <-ctx.Done():
			return false
		case <-l.Clock.After(l.Settle):
		}
	}
	// Fires during the settle are covered by the tick about to run.
	select {
	case <-l.Trigger:
	default:
	}
	return true
}
