package watchdog

import (
	"context"
	"time"
)

// Loop runs ticks one at a time: one at once, then one every Interval after
// the previous ended, so ticks never overlap.
type Loop struct {
	Watcher  *Watcher
	Interval time.Duration
	// After is time.After, or a fake clock's.
	After func(time.Duration) <-chan time.Time
	// AfterTick sees every tick, completed or skipped, on the loop goroutine.
	AfterTick func(TickReport, error)
	// BeforeTick, when set, runs before each tick. The daemon uses it for a
	// test-only fault that wedges the loop; it must return when ctx ends.
	BeforeTick func(ctx context.Context)
}

// Run ticks until ctx ends; a tick in flight is cancelled with it.
func (l *Loop) Run(ctx context.Context) error {
	for {
		if l.BeforeTick != nil {
			l.BeforeTick(ctx)
		}
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
		select {
		case <-ctx.Done():
			return nil
		case <-l.After(l.Interval):
		}
	}
}
