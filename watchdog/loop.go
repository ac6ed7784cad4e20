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
	// Asks, when set, carries what docker's event stream asks about
	// containers: a check of a removed one runs at once, between ticks
	// (never during one); a tick asked about one waits the Settle, unless
	// a check of the same container covers it meanwhile; a death is
	// checked after the Settle, and ticks only if docker still has it.
	Asks *Asks
	// AfterCheck sees every check, on the loop goroutine.
	AfterCheck func(CheckReport, error)
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
// once would only spin. Checks asked meanwhile run at once and the wait
// goes on; a tick asked for comes after the settle.
func (l *Loop) wait(ctx context.Context, ticked time.Time) bool {
	periodic := l.Clock.Now().Add(l.Interval)
	var due <-chan time.Time
	var dueAt time.Time
	for {
		// Asked again after every check: a check that deferred a repair
		// (pacing) must bring the wake for it forward, or the repair would
		// wait for the periodic tick.
		at := periodic
		if next := l.Watcher.NextWake(); next.After(ticked) && next.Before(at) {
			at = next
		}
		if due == nil || !at.Equal(dueAt) {
			due, dueAt = l.Clock.After(max(at.Sub(l.Clock.Now()), 0)), at
		}
		anon := false
		select {
		case <-ctx.Done():
			return false
		case <-due:
			l.Asks.takeTick() // covered by the tick about to run
			return true
		case <-l.Trigger:
			anon = true
		case <-l.Asks.Ready():
			l.runChecks(ctx)
			if !l.Asks.wantsTick() {
				continue
			}
		}
		tick, ok := l.settle(ctx, anon)
		if !ok || tick {
			return ok
		}
	}
}

// settle waits Settle so that a burst (kill, die, destroy) is seen by a
// single tick, running the checks asked meanwhile, and says whether a
// tick is still wanted: anon (a trigger came) or a tick asked about a
// container no check has covered since. ok is false when ctx ended.
func (l *Loop) settle(ctx context.Context, anon bool) (tick, ok bool) {
	var end <-chan time.Time
	if l.Settle > 0 {
		end = l.Clock.After(l.Settle)
	}
	for end != nil {
		select {
		case <-ctx.Done():
			return false, false
		case <-end:
			end = nil
		case <-l.Trigger:
			anon = true
		case <-l.Asks.Ready():
			l.runChecks(ctx)
		}
	}
	l.runChecks(ctx)
	for _, name := range l.Asks.takeDied() {
		l.report(ctx, name, l.Watcher.CheckGone)
	}
	// Fires during the settle are covered by the tick about to run.
	select {
	case <-l.Trigger:
		anon = true
	default:
	}
	asked := l.Asks.takeTick()
	return anon || asked, true
}

// runChecks checks each container asked, one docker call each.
func (l *Loop) runChecks(ctx context.Context) {
	for _, name := range l.Asks.takeChecks() {
		l.report(ctx, name, l.Watcher.Check)
	}
}

// report runs one check and hands it to AfterCheck. A container the check
// could not judge, or found still there after it died, asks for a tick;
// one docker is removing waits for its destroy's check.
func (l *Loop) report(ctx context.Context, name string, check func(context.Context, string) (CheckReport, error)) {
	rep, err := check(ctx, name)
	if ctx.Err() != nil {
		return
	}
	if l.AfterCheck != nil {
		l.AfterCheck(rep, err)
	}
	if rep.Result != CheckJudged && rep.Result != CheckRemoving {
		l.Asks.Tick(name)
	}
}
