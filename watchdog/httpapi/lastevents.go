package httpapi

import (
	"context"
	"fmt"
	"sync"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// instanceJSON is one instance in /state: what the last tick saw, and the
// newest event of its container from the log, with its evidence.
type instanceJSON struct {
	watchdog.InstanceState
	LastEvent *watchdog.Event `json:"last_event,omitempty"`
}

// lastEvents keeps the newest event of each container, read from the event
// log: seeded once with one query, then brought up to date with the events
// after the newest it has. The log stays the one source (events any writer
// stored count, and a restart loses nothing), while a /state, which every
// dashboard polls, costs only the events since the previous one rather
// than a scan of the whole, ever-growing log.
type lastEvents struct {
	mu     sync.Mutex
	seeded bool
	newest int64
	by     map[string]watchdog.Event
}

// attach pairs each instance with its container's newest event and returns
// the newest event id in the log. When the log cannot be read, instances
// come with what is known and the error says why.
func (c *lastEvents) attach(ctx context.Context, log EventLog, in []watchdog.InstanceState) ([]instanceJSON, int64, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var problem string
	if err := c.update(ctx, log); err != nil {
		problem = err.Error()
	}
	out := make([]instanceJSON, len(in))
	for i, st := range in {
		out[i].InstanceState = st
		if e, ok := c.by[st.Container]; ok {
			out[i].LastEvent = &e
		}
	}
	return out, c.newest, problem
}

// update reads what the log gained since the last call; c.mu is held.
func (c *lastEvents) update(ctx context.Context, log EventLog) error {
	if !c.seeded {
		evs, err := log.LastEvents(ctx)
		if err != nil {
			return fmt.Errorf("read the last events: %w", err)
		}
		c.by = make(map[string]watchdog.Event, len(evs))
		for _, e := range evs {
			c.add(e)
		}
		c.seeded = true
	}
	for {
		evs, err := log.Events(ctx, c.newest, replayPage)
		if err != nil {
			return fmt.Errorf("read events after %d: %w", c.newest, err)
		}
		for _, e := range evs {
			c.add(e)
		}
		if len(evs) < replayPage {
			return nil
		}
	}
}

func (c *lastEvents) add(e watchdog.Event) {
	if e.ID > c.by[e.Container].ID {
		c.by[e.Container] = e
	}
	c.newest = max(c.newest, e.ID)
}
