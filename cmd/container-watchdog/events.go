package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// EventsCmd is `events`.
type EventsCmd struct {
	Since  int64         `placeholder:"ID" help:"Only events after this id."`
	Follow bool          `short:"f" help:"Keep printing new events as they are stored."`
	JSON   bool          `name:"json" help:"One JSON object a line."`
	Poll   time.Duration `default:"500ms" hidden:"" help:"How often --follow reads the log."`
}

// Run implements the command. --follow polls the registry, so it works
// whether or not the daemon is running and wherever it listens.
func (c *EventsCmd) Run(ctx context.Context, e *env) error {
	if c.Poll <= 0 {
		return fmt.Errorf("%w --poll %s: must be positive", watchdog.ErrInvalid, c.Poll)
	}
	db, err := e.openRegistry(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	since := c.Since
	for {
		evs, err := db.Events(ctx, since, 1000)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if err := c.print(e, ev); err != nil {
				return err
			}
			since = ev.ID
		}
		if !c.Follow {
			return nil
		}
		if len(evs) == 1000 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil // interrupted --follow is the normal way out
		case <-time.After(c.Poll):
		}
	}
}

func (c *EventsCmd) print(e *env, ev watchdog.Event) error {
	if c.JSON {
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "%s\n", b)
		return err
	}
	_, err := fmt.Fprintf(e.stdout, "%d\t%s\t%s\t%s\t%s\n", ev.ID, ev.Time.Format(time.RFC3339), ev.Type, ev.Container, ev.Detail)
	return err
}
