package watchdog

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog/clock"
)

// EventSource is docker's event stream of managed containers.
type EventSource interface {
	// Follow calls onEvent for each lifecycle event until the stream ends
	// or ctx does; it returns why the stream ended.
	Follow(ctx context.Context, onEvent func(Lifecycle)) error
}

// Follower keeps docker's event stream open: it records lifecycle evidence
// and asks the loop to look when a managed container dies, is removed or
// starts (a check of that one container for a removal, else a tick), so
// a loss is noticed in milliseconds rather than at the next periodic tick
// (which stays as the backstop). The watchdog's own work asks for nothing.
// The stream is restarted with backoff when it ends, and each (re)start
// asks for a full tick, since events may have been missed while it was
// down.
type Follower struct {
	Source EventSource
	// Prefix limits the follower to this watchdog's containers: the stream
	// carries every managed container, another watchdog's too.
	Prefix   string
	Evidence *Evidence
	// Trigger asks for a full tick: at each (re)start of the stream, and
	// for each event that asks for a look when Asks is nil.
	Trigger func()
	// Asks, when set, takes the events' asks by container: a removal
	// asks for a check of that one container, the rest for a tick.
	Asks *Asks
	// Own, when set, says an event was the watchdog's own doing (its
	// repair's docker run, its restart, the rm they ran): those ask for
	// nothing, as the work reports its own outcome.
	Own   func(container string, at time.Time) bool
	Clock clock.Clock
	Log   *slog.Logger
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
			f.ask(l)
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

// ask asks the loop to look after an event: a check of a removed
// container, a tick after a death, an OOM kill, a start or a probe's
// verdict; nothing for the watchdog's own create, start, die and destroy.
func (f *Follower) ask(l Lifecycle) {
	switch l.Action {
	case "die", "destroy", "start":
		if f.Own != nil && f.Own(l.Container, l.Time) {
			return
		}
	case "oom", "health_status":
	default:
		return
	}
	switch {
	case f.Asks == nil:
		f.Trigger()
	case l.Action == "destroy":
		f.Asks.Check(l.Container)
	case l.Action == "die":
		f.Asks.Died(l.Container)
	default:
		f.Asks.Tick(l.Container)
	}
}
