package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/journal"
	"github.com/container-watchdog/container-watchdog/watchdog/sqlite"
)

// RunCmd is `run`: the daemon, or one tick with --once.
type RunCmd struct {
	Interval time.Duration `default:"60s" placeholder:"DUR" help:"Time between ticks."`
	Listen   string        `default:"127.0.0.1:8787" placeholder:"ADDR" help:"HTTP address when not socket-activated."`
	Once     bool          `help:"Run one tick, print its events as JSON lines and exit."`
	AddrFile string        `placeholder:"PATH" help:"Write the bound HTTP address here once listening (handy with --listen 127.0.0.1:0)."`
	// WedgeFile is a test-only fault: while this file exists the loop stops
	// before its next tick, so the watchdog pings stop and systemd acts.
	WedgeFile string `hidden:"" env:"CONTAINER_WATCHDOG_TEST_WEDGE_FILE"`
}

// Run implements the command.
func (c *RunCmd) Run(ctx context.Context, e *env) error {
	if c.Interval <= 0 {
		return fmt.Errorf("%w --interval %s: must be positive", watchdog.ErrInvalid, c.Interval)
	}
	db, err := e.openRegistry(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if c.Once {
		return c.once(ctx, e, db)
	}
	return c.daemon(ctx, e, db)
}

func (c *RunCmd) once(ctx context.Context, e *env, db *sqlite.DB) error {
	enc := json.NewEncoder(e.stdout)
	pub := watchdog.Publishers{
		journal.New(e.stderr),
		watchdog.PublisherFunc(func(ev watchdog.Event) { _ = enc.Encode(ev) }),
	}
	_, err := e.watcher(db, pub).Tick(ctx)
	if errors.Is(err, watchdog.ErrSkipped) {
		return withCode(exitNoDocker, err)
	}
	return err
}

func (e *env) watcher(db *sqlite.DB, pub watchdog.Publisher) *watchdog.Watcher {
	return &watchdog.Watcher{
		Docker:     e.docker(),
		Registry:   db,
		Reconciler: e.reconciler(),
		Publisher:  pub,
		Prefix:     e.g.Prefix,
		Now:        e.now,
		Log:        e.log,
	}
}
