package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/journal"
	"github.com/container-watchdog/container-watchdog/watchdog/sqlite"
)

// daemonBusyTimeout bounds how long a daemon's registry write waits for
// another process's write lock. The CLI's writes take milliseconds; a
// lock held longer is an outage, which the watchdog rides out holding its
// events (watchdog's ledger) and retrying once a tick: each retry costs
// this much of the tick, and the first failure delays that tick's repairs
// by as much.
const daemonBusyTimeout = 2 * time.Second

// RunCmd is `run`: the daemon, or one tick with --once.
type RunCmd struct {
	Interval time.Duration `default:"60s" placeholder:"DUR" help:"Time between ticks."`
	Listen   string        `default:"127.0.0.1:8787" placeholder:"ADDR" help:"HTTP address when not socket-activated."`
	Once     bool          `help:"Run one tick, print its events as JSON lines and exit."`
	AddrFile string        `placeholder:"PATH" help:"Write the bound HTTP address here once listening (handy with --listen 127.0.0.1:0)."`

	NoEvents          bool          `help:"Do not follow docker events; detect by polling alone."`
	Settle            time.Duration `default:"100ms" placeholder:"DUR" help:"After a docker event, wait this long so one tick sees the whole burst."`
	RepairParallelism int           `placeholder:"N" help:"Most repairs at once, fixed (default 0: adapt to the engine's docker run throughput, starting at 8, within 1..64)."`
	BackoffInitial    time.Duration `default:"10s" placeholder:"DUR" help:"Wait before the first paced recreation of an instance in a streak (after --repair-burst); doubles each time."`
	BackoffMax        time.Duration `default:"5m" placeholder:"DUR" help:"Longest wait between recreations of an instance."`
	BackoffReset      time.Duration `default:"10m" placeholder:"DUR" help:"Running this long after a recreation ends the streak."`
	RepairBurst       int           `default:"3" placeholder:"N" help:"Recreations of an instance in a streak that start at once, before pacing begins."`
	NotifyOptions     `embed:""`
}

// Run implements the command.
func (c *RunCmd) Run(ctx context.Context, e *env) error {
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--interval", c.Interval}, {"--backoff-initial", c.BackoffInitial}, {"--backoff-max", c.BackoffMax}, {"--backoff-reset", c.BackoffReset}} {
		if d.v <= 0 {
			return fmt.Errorf("%w %s %s: must be positive", watchdog.ErrInvalid, d.flag, d.v)
		}
	}
	if c.Settle < 0 || c.RepairParallelism < 0 {
		return fmt.Errorf("%w: --settle %s and --repair-parallelism %d must not be negative", watchdog.ErrInvalid, c.Settle, c.RepairParallelism)
	}
	if c.RepairBurst < 1 {
		return fmt.Errorf("%w --repair-burst %d: must be at least 1 (the first recreation is always at once)", watchdog.ErrInvalid, c.RepairBurst)
	}
	if err := c.NotifyOptions.validate(); err != nil {
		return err
	}
	path, err := e.g.dbPath()
	if err != nil {
		return err
	}
	lock, err := lockRegistry(path)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	db, err := e.openRegistry(ctx, sqlite.BusyTimeout(daemonBusyTimeout))
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
	var mu sync.Mutex // repairs publish from their own goroutines
	pub := watchdog.Publishers{
		journal.New(e.stderr),
		watchdog.PublisherFunc(func(ev watchdog.Event) {
			mu.Lock()
			defer mu.Unlock()
			_ = enc.Encode(ev)
		}),
	}
	w := c.watcher(e, db, pub)
	_, err := w.Tick(ctx)
	w.Wait() // the tick's repairs report after it
	if errors.Is(err, watchdog.ErrSkipped) {
		return withCode(exitNoDocker, err)
	}
	return err
}

func (c *RunCmd) watcher(e *env, db *sqlite.DB, pub watchdog.Publisher) *watchdog.Watcher {
	return &watchdog.Watcher{
		Docker:   e.docker(),
		Registry: db,
		// No leases: they keep the daemon's tick off a CLI's replacement,
		// and the daemon's own repairs are known to its tick already. A
		// lease write would also fail a repair while the registry is full.
		Reconciler:  &watchdog.Reconciler{Docker: e.docker(), Prefix: e.g.Prefix, Clock: e.clock},
		Publisher:   pub,
		Prefix:      e.g.Prefix,
		Clock:       e.clock,
		Log:         e.log,
		Parallelism: c.RepairParallelism,
		Backoff:     watchdog.Backoff{Initial: c.BackoffInitial, Max: c.BackoffMax, Reset: c.BackoffReset, Burst: c.RepairBurst},
	}
}
