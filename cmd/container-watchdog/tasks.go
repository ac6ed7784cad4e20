package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// shutdownGrace bounds how long stopping the HTTP server may take before
// we give up on stragglers; systemd's TimeoutStopSec is longer.
const shutdownGrace = 5 * time.Second

// readyFunc is a task that is ready as soon as it starts: the broker, the
// event follower.
type readyFunc func(ctx context.Context) error

func readyTask(run func(ctx context.Context) error) task { return readyFunc(run) }

func (f readyFunc) Run(ctx context.Context) error { return f(ctx) }

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (readyFunc) Ready() <-chan struct{} { return closedChan }

// httpTask serves the API on a listener bound before it starts. It is
// ready once it serves (connections made before then wait in the
// listener's backlog), and shuts down gracefully when ctx ends.
type httpTask struct {
	ln    net.Listener
	srv   *http.Server
	ready chan struct{}
}

// httpLimits bound what a client can hold of the server: a connection
// that sends no request or stops mid-header, one left idle after its
// request, and the size of a request's header. No WriteTimeout: it would
// cut SSE streams; each stream bounds its own writes.
type httpLimits struct {
	readHeader, idle time.Duration
	maxHeaderBytes   int
}

// serverLimits are the daemon's. The API needs small headers (a
// dashboard's cookies for localhost among them); Go's default of 1 MiB
// let every abusive request hold a megabyte. Without an idle timeout a
// keep-alive connection whose client vanished stays forever.
var serverLimits = httpLimits{readHeader: 5 * time.Second, idle: 30 * time.Second, maxHeaderBytes: 64 << 10}

func newHTTPTask(ln net.Listener, h http.Handler, lim httpLimits) *httpTask {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: lim.readHeader, IdleTimeout: lim.idle, MaxHeaderBytes: lim.maxHeaderBytes}
	return &httpTask{ln: ln, srv: srv, ready: make(chan struct{})}
}

func (t *httpTask) Ready() <-chan struct{} { return t.ready }

func (t *httpTask) Run(ctx context.Context) error {
	served := make(chan error, 1)
	go func() { served <- t.srv.Serve(t.ln) }()
	close(t.ready)
	select {
	case err := <-served:
		return fmt.Errorf("serve HTTP on %s: %w", t.ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := t.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down HTTP: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve HTTP on %s: %w", t.ln.Addr(), err)
	}
	return nil
}

// loopTask runs the tick loop. It is ready after its first tick, and on
// stopping waits for repairs under way.
type loopTask struct {
	loop  *watchdog.Loop
	fire  func() // asks for a tick soon
	asks  *watchdog.Asks
	ready chan struct{}
	once  sync.Once
}

func newLoopTask(w *watchdog.Watcher, interval, settle time.Duration, e *env, afterTick func(watchdog.TickReport, error), afterCheck func(watchdog.CheckReport, error)) *loopTask {
	trigger, fire := watchdog.NewTrigger()
	w.Wake = fire
	t := &loopTask{fire: fire, asks: watchdog.NewAsks(), ready: make(chan struct{})}
	t.loop = &watchdog.Loop{
		Watcher: w, Interval: interval, Clock: e.clock, Trigger: trigger, Settle: settle,
		Asks: t.asks, AfterCheck: afterCheck,
		AfterTick: func(rep watchdog.TickReport, err error) {
			afterTick(rep, err)
			t.once.Do(func() { close(t.ready) })
		},
	}
	return t
}

func (t *loopTask) Ready() <-chan struct{} { return t.ready }

func (t *loopTask) Run(ctx context.Context) error {
	err := t.loop.Run(ctx)
	t.loop.Watcher.Wait()
	return err
}
