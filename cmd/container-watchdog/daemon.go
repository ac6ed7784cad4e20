package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/httpapi"
	"github.com/container-watchdog/container-watchdog/watchdog/journal"
	"github.com/container-watchdog/container-watchdog/watchdog/sqlite"
	"github.com/container-watchdog/container-watchdog/watchdog/systemd"
)

// shutdownGrace bounds how long stopping may take before we give up on
// stragglers; systemd's TimeoutStopSec is longer.
const shutdownGrace = 5 * time.Second

// daemon runs the watchdog until SIGTERM or SIGINT: bind, serve, tick,
// notify. The listener is bound (or taken from systemd) before anything is
// served, and READY=1 goes out only after it serves and the first tick ends.
func (c *RunCmd) daemon(ctx context.Context, e *env, db *sqlite.DB) error {
	notifier := systemd.Notifier{}
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

	broker := httpapi.NewBroker(256)
	sink := journal.New(e.stderr)
	ticks := &tickState{}
	privateRegistryFolder(e)
	sender := c.NotifyOptions.sender(e, db)
	api := &httpapi.Server{Broker: broker, Log: db, Ticks: ticks, Interval: interval, Now: e.now, Notifications: sender.Stats}
	srv := &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 5 * time.Second}

	stopped := make(chan struct{})
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve HTTP on %s: %w", ln.Addr(), err)
		}
		return nil
	})
	ready := false
	trigger, fire := watchdog.NewTrigger()
	// Notifications: the tick queues rows with each event; the sender,
	// woken by the publish, delivers them on its own goroutines.
	g.Go(func() error { return sender.Run(gctx) })
	w := c.watcher(e, db, watchdog.Publishers{sink, broker, sender})
	w.Wake = fire
	if !c.NoEvents {
		w.Evidence = watchdog.NewEvidence(16, 10*time.Minute)
		follower := &watchdog.Follower{
			Source: e.docker(), Prefix: e.g.Prefix, Evidence: w.Evidence, Trigger: fire,
			Now: e.now, After: time.After, Log: e.log,
			Initial: time.Second, Max: 30 * time.Second,
		}
		g.Go(func() error { return follower.Run(gctx) })
	}
	loop := &watchdog.Loop{
		Watcher:  w,
		Interval: interval,
		After:    time.After,
		Now:      e.now,
		Trigger:  trigger,
		Settle:   c.Settle,
		AfterTick: func(rep watchdog.TickReport, err error) {
			ticks.set(rep, err, e.now())
			if err != nil && !errors.Is(err, watchdog.ErrSkipped) {
				// The registry failed: the loop judged nothing, so no ping.
				e.log.Error("tick failed", "err", err)
				notify(e, notifier, "STATUS="+ticks.status())
				return
			}
			if errors.Is(err, watchdog.ErrSkipped) {
				e.log.Warn("tick skipped", "err", err)
			}
			notify(e, notifier, "STATUS="+ticks.status())
			notify(e, notifier, "WATCHDOG=1")
			if !ready {
				ready = true
				notify(e, notifier, "READY=1")
			}
		},
		BeforeTick: c.wedge,
	}
	g.Go(func() error { return loop.Run(gctx) })
	g.Go(func() error {
		<-gctx.Done()
		notify(e, notifier, "STOPPING=1")
		go forceExitOnSecondSignal(e, stopped)
		broker.Close() // ends SSE streams, or Shutdown would wait for them
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("shut down HTTP: %w", err)
		}
		return nil
	})
	err = g.Wait()
	w.Wait()
	close(stopped)
	e.log.Info("container-watchdog stopped")
	return err
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

// wedge blocks while the test-only wedge file exists.
func (c *RunCmd) wedge(ctx context.Context) {
	if c.WedgeFile == "" {
		return
	}
	for {
		if _, err := os.Stat(c.WedgeFile); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
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

func notify(e *env, n systemd.Notifier, state string) {
	if _, err := n.Notify(state); err != nil {
		e.log.Warn("sd_notify failed", "state", state, "err", err)
	}
}

// forceExitOnSecondSignal ends the process at once if another signal comes
// while a clean stop is under way.
func forceExitOnSecondSignal(e *env, stopped <-chan struct{}) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(ch)
	select {
	case <-ch:
		fmt.Fprintln(e.stderr, "container-watchdog: second signal, exiting now")
		os.Exit(exitFailed)
	case <-stopped:
	}
}

// tickState is what the loop last did, for /state, /healthz and STATUS=.
type tickState struct {
	mu            sync.Mutex
	last          watchdog.TickReport
	ok            bool
	lastCompleted time.Time
	lastProblem   string
}

func (t *tickState) set(rep watchdog.TickReport, err error, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last, t.ok = rep, true
	if err == nil || errors.Is(err, watchdog.ErrSkipped) {
		t.lastCompleted = now // a skipped tick counts: the loop is alive
	}
	switch {
	case err != nil:
		t.lastProblem = now.UTC().Format(time.RFC3339) + " " + err.Error()
	case rep.Error != "":
		t.lastProblem = now.UTC().Format(time.RFC3339) + " " + rep.Error
	}
	for _, ev := range rep.Events {
		if ev.Type == watchdog.EventRecreateFailed {
			t.lastProblem = ev.Time.UTC().Format(time.RFC3339) + " " + ev.Container + ": " + ev.Detail
		}
	}
}

// LastTick implements httpapi.Ticks.
func (t *tickState) LastTick() (watchdog.TickReport, time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last, t.lastCompleted, t.ok
}

// status is the one-line STATUS= summary.
func (t *tickState) status() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	if t.last.Result == "skipped" {
		b.WriteString("degraded: " + t.last.Error)
	} else {
		n := t.last.Counts()
		fmt.Fprintf(&b, "%d running, %d stopped, %d missing", n[watchdog.StateRunning], n[watchdog.StateStopped], n[watchdog.StateMissing])
		if o := n[watchdog.StateOrphaned]; o > 0 {
			fmt.Fprintf(&b, ", %d orphaned", o)
		}
	}
	if t.lastProblem != "" && t.last.Result != "skipped" { // a skip is the problem, said above
		b.WriteString("; last problem: " + t.lastProblem)
	}
	return strings.Join(strings.Fields(b.String()), " ")
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
