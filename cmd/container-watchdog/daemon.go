package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sync/errgroup"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/httpapi"
	"github.com/container-watchdog/container-watchdog/watchdog/journal"
	"github.com/container-watchdog/container-watchdog/watchdog/metrics"
	wnotify "github.com/container-watchdog/container-watchdog/watchdog/notify"
	"github.com/container-watchdog/container-watchdog/watchdog/sqlite"
	"github.com/container-watchdog/container-watchdog/watchdog/systemd"
)

// task is one long-running part of the daemon, in the manner of corerad's
// Task: Run until ctx ends; Ready is closed once it does its job (the
// listener serves, the first tick completed).
type task interface {
	Run(ctx context.Context) error
	Ready() <-chan struct{}
}

// notifier sends sd_notify messages; systemd.Notifier outside tests.
type notifier interface {
	Notify(state string) (bool, error)
}

var (
	_ notifier         = systemd.Notifier{}
	_ httpapi.EventLog = (*sqlite.DB)(nil)
)

// daemonRun is the daemon wired: its tasks, the loop's health, and where
// sd_notify messages go.
type daemonRun struct {
	e        *env
	notify   notifier
	liveness *watchdog.Liveness
	metrics  *metrics.Metrics
	tasks    []task
}

// daemon runs the watchdog until SIGTERM or SIGINT: bind, serve, tick,
// notify. The listener is bound (or taken from systemd) before anything is
// served, and READY=1 goes out only after it serves and the first tick ends.
func (c *RunCmd) daemon(ctx context.Context, e *env, db *sqlite.DB) error {
	interval, err := fitWatchdog(c.Interval, e.g.DockerTimeout, e)
	if err != nil {
		return err
	}
	ln, err := c.listen()
	if err != nil {
		return err
	}
	defer ln.Close()
	if c.AddrFile != "" {
		if err := writeFileAtomic(c.AddrFile, ln.Addr().String()+"\n"); err != nil {
			return err
		}
	}
	e.log.Info("container-watchdog starting", "version", version(), "listen", ln.Addr().String(), "interval", interval, "prefix", e.g.Prefix)
	privateRegistryFolder(e)
	d := c.wire(e, db, ln, interval, systemd.Notifier{})
	err = d.run(ctx)
	e.log.Info("container-watchdog stopped")
	return err
}

// wire builds the daemon's tasks: the HTTP listener, the SSE broker, the
// tick loop, the notification sender and (unless --no-events) docker's
// event follower. The tick queues notifications with each event it stores;
// its publish only wakes the sender.
func (c *RunCmd) wire(e *env, db *sqlite.DB, ln net.Listener, interval time.Duration, n notifier) *daemonRun {
	d := &daemonRun{e: e, notify: n, liveness: &watchdog.Liveness{Interval: interval}}
	broker := httpapi.NewBroker(256)
	sender := c.NotifyOptions.sender(e, db)
	var w *watchdog.Watcher // built below, before anything can scrape
	d.metrics = metrics.New(metrics.Options{Version: version(), Prefix: e.g.Prefix, Interval: interval, SSE: broker.Stats, Sinks: sinkStats(sender),
		RepairParallelism: func() int { return w.RepairLimit() }})
	api := &httpapi.Server{Broker: broker, Events: db, Liveness: d.liveness, Clock: e.clock, Addr: ln.Addr(), Metrics: d.metrics.Handler(),
		Notifications: sender.Stats}
	w = c.watcher(e, db, watchdog.Publishers{journal.New(e.stderr), broker, d.metrics, sender})
	lt := newLoopTask(w, interval, c.Settle, e, d.afterTick, d.metrics.ObserveCheck)
	d.tasks = []task{newHTTPTask(ln, api.Handler(), serverLimits), readyTask(broker.Run), lt, readyTask(sender.Run)}
	if !c.NoEvents {
		w.Evidence = watchdog.NewEvidence(16, 10*time.Minute)
		f := &watchdog.Follower{
			Source: e.docker(), Prefix: e.g.Prefix, Evidence: w.Evidence, Trigger: lt.fire,
			Asks: lt.asks, Own: w.Own,
			Clock: e.clock, Log: e.log,
			Backoff: watchdog.Backoff{Initial: time.Second, Max: 30 * time.Second, Reset: 30 * time.Second, Burst: 1},
		}
		d.tasks = append(d.tasks, readyTask(f.Run))
	}
	return d
}

// run starts every task, says READY=1 once all are ready, STOPPING=1 when
// ctx ends, and returns when all have stopped.
func (d *daemonRun) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, t := range d.tasks {
		g.Go(func() error { return t.Run(gctx) })
	}
	g.Go(func() error {
		for _, t := range d.tasks {
			select {
			case <-t.Ready():
			case <-gctx.Done():
				return nil
			}
		}
		d.send(daemon.SdNotifyReady)
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		d.send(daemon.SdNotifyStopping)
		return nil
	})
	return g.Wait()
}

// afterTick records every tick, says how it went in STATUS=, and pings
// the systemd watchdog: a tick that ended proves the loop alive, however
// it went (docker or the registry unreachable: a restart would not help).
// A wedged loop never gets here, so systemd kills and restarts it.
func (d *daemonRun) afterTick(rep watchdog.TickReport, err error) {
	d.liveness.Record(rep, err, d.e.clock.Now())
	d.metrics.ObserveTick(rep, err)
	switch {
	case err != nil:
		d.e.log.Warn("tick skipped", "err", err)
	case rep.Degraded != "":
		d.e.log.Warn("tick degraded", "reason", rep.Degraded)
	}
	d.send("STATUS=" + d.liveness.Status())
	d.send(daemon.SdNotifyWatchdog)
}

func (d *daemonRun) send(state string) {
	if _, err := d.notify.Notify(state); err != nil {
		d.e.log.Warn("sd_notify failed", "state", state, "err", err)
	}
}

// listen takes the socket systemd passed, or binds --listen.
func (c *RunCmd) listen() (net.Listener, error) {
	ln, err := systemd.Listener()
	if err != nil {
		return nil, err
	}
	if ln != nil {
		return ln, nil
	}
	ln, err = net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on --listen %s: %w", c.Listen, err)
	}
	return ln, nil
}

// fitWatchdog checks that ticks ping systemd often enough. Pings follow
// completed ticks, so the gap between two is at most the interval plus one
// tick (bounded by one docker listing); like any watchdog client we want
// that within half of WatchdogSec. When interval + docker timeout does not
// fit the half, the interval is clamped; when the docker timeout alone does
// not, nothing can fit, so refuse.
func fitWatchdog(interval, dockerTimeout time.Duration, e *env) (time.Duration, error) {
	wd, err := systemd.WatchdogTimeout()
	if err != nil {
		return 0, fmt.Errorf("read WATCHDOG_USEC: %w", err)
	}
	budget := wd / 2
	if wd == 0 || interval+dockerTimeout <= budget {
		return interval, nil
	}
	clamped := budget - dockerTimeout
	if clamped < 100*time.Millisecond {
		return 0, fmt.Errorf("%w: --docker-timeout %s does not fit in half the systemd watchdog timeout %s (WatchdogSec=); raise WatchdogSec or lower --docker-timeout",
			watchdog.ErrInvalid, dockerTimeout, wd)
	}
	e.log.Warn("interval clamped to fit the systemd watchdog", "interval", interval, "clamped", clamped, "watchdog", wd, "docker_timeout", dockerTimeout)
	return clamped, nil
}

// writeFileAtomic writes content so a reader never sees half of it.
func writeFileAtomic(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return fmt.Errorf("write --addr-file %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write --addr-file %s: %w", path, err)
	}
	return nil
}

// sinkStats adapts the notifier's counts to what /metrics reads at scrape.
func sinkStats(s *wnotify.Sender) metrics.SinkStats {
	return func() []metrics.SinkStat {
		var out []metrics.SinkStat
		for _, st := range s.Stats() {
			out = append(out, metrics.SinkStat{Sink: st.Sink, Delivered: st.Delivered, Failed: st.Failed, Dropped: st.Dropped, Queue: st.Queue})
		}
		return out
	}
}
