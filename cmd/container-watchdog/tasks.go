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

func newHTTPTask(ln net.Listener, h http.Handler) *httpTask {
	// No WriteTimeout: it would cut SSE streams; each stream bounds its own writes.
	return &httpTask{ln: ln, srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}, ready: make(chan struct{})}
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
	ready chan struct{}
	once  sync.Once
}

func newLoopTask(w *watchdog.Watcher, interval, settle time.Duration, e *env, afterTick func(watchdog.TickReport, error)) *loopTask {
	trigger, fire := watchdog.NewTrigger()
	w.Wake = fire
	t := &loopTask{fire: fire, ready: make(chan struct{})}
	t.loop = &watchdog.Loop{
		Watcher: w, Interval: interval, Clock: e.clock, Trigger: trigger, Settle: settle,
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
