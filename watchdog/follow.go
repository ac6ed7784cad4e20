package watchdog

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// EventSource is docker's event stream of managed containers.
type EventSource interface {
	// Follow calls onEvent for each lifecycle event until the stream ends
	// or ctx does; it returns why the stream ended.
	Follow(ctx context.Context, onEvent func(Lifecycle)) error
}

// Follower keeps docker's event stream open: it records lifecycle evidence
// and asks the loop for a tick at once when a managed container dies, is
// removed or starts, so a loss is noticed in milliseconds rather than at
// the next periodic tick (which stays as the backstop). The stream is
// restarted with backoff when it ends, and each (re)start asks for a full
// tick, since events may have been missed while it was down.
type Follower struct {
	Source EventSource
	// Prefix limits the follower to this watchdog's containers: the stream
	// carries every managed container, another watchdog's too.
	Prefix   string
	Evidence *Evidence
	Trigger  func()
	Now      func() time.Time
	After    func(time.Duration) <-chan time.Time
	Log      *slog.Logger
	// Backoff between restarts: Initial doubling to Max, back to Initial
	// after a stream that lasted longer than Max.
	Initial, Max time.Duration
}

// Run follows until ctx ends.
func (f *Follower) Run(ctx context.Context) error {
	delay := f.Initial
	for {
		started := f.Now()
		f.Trigger()
		err := f.Source.Follow(ctx, func(l Lifecycle) {
			if !strings.HasPrefix(l.Container, f.Prefix) {
				return
			}
			f.Evidence.Record(l)
			switch l.Action {
			case "die", "destroy", "oom", "start":
				f.Trigger()
			}
		})
		if ctx.Err() != nil {
			return nil
		}
		if f.Now().Sub(started) > f.Max {
			delay = f.Initial
		}
		f.Log.Warn("docker events stream ended; restarting", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-f.After(delay):
		}
		delay = min(2*delay, f.Max)
	}
}
