package watchdog

import (
	"context"
	"log/slog"
	"strings"

	"github.com/container-watchdog/container-watchdog/watchdog/clock"
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
	Clock    clock.Clock
	Log      *slog.Logger
	// Backoff paces restarts of the stream: the first at once, then
	// Initial doubling to Max; a stream that lasted Reset starts afresh.
	Backoff Backoff
}

// Run follows until ctx ends.
func (f *Follower) Run(ctx context.Context) error {
	f.Clock = clock.Or(f.Clock)
	failures := 0
	for {
		started := f.Clock.Now()
		f.Trigger()
		err := f.Source.Follow(ctx, func(l Lifecycle) {
			if !strings.HasPrefix(l.Container, f.Prefix) {
				return
			}
			f.Evidence.Record(l)
			switch l.Action {
			case "die", "destroy", "oom", "start", "health_status":
				f.Trigger()
			}
		})
		if ctx.Err() != nil {
			return nil
		}
		if f.Clock.Now().Sub(started) >= f.Backoff.Reset {
			failures = 0
		}
		failures++
		delay := f.Backoff.delay(failures)
		f.Log.Warn("docker events stream ended; restarting", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-f.Clock.After(delay):
		}
	}
}
