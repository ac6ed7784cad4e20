package main

// The daemon wired as `run` wires it (RunCmd.wire), in-process: a fake
// notifier, the fake clock and a docker whose every `docker ps` waits for
// the test to answer it. That proves, without timing anything, that
// WATCHDOG=1 follows a tick that ended and nothing else: a blind timer
// would ping while a tick hangs, and the clock runs past many intervals
// then. testdata/daemon_stuck_tick.txtar shows the same with the real
// binary; units/systemd_test.go, systemd acting on it.

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/container-watchdog/container-watchdog/exec"
	"github.com/container-watchdog/container-watchdog/exec/fakeexec"
	"github.com/container-watchdog/container-watchdog/watchdog/clock/fakeclock"
	"github.com/container-watchdog/container-watchdog/watchdog/sqlite"
)

// realWait bounds, in real time, how long the test waits for the daemon
// to do what it must; it only turns a hang into a failure.
const realWait = 10 * time.Second

func TestDaemonPingsOnlyAfterTicks(t *testing.T) {
	const interval = time.Minute
	h := wireDaemon(t, interval)

	// The first tick hangs in docker ps while the clock runs past many
	// intervals: no READY=1 (the loop has not proved itself), no ping,
	// not even STATUS=. The HTTP side serves meanwhile (each request is
	// also a moment for any stray timer to fire its ping).
	ps := h.nextPS(t)
	for range 3 {
		if code := h.get(t, "/healthz"); code != http.StatusServiceUnavailable {
			t.Errorf("/healthz before any tick completed: %d, want 503", code)
		}
		h.advance(5 * interval)
	}
	h.notes.expect(t, nil)

	ps.answer(exec.Result{}) // no containers
	h.notes.waitFor(t, "STATUS=0 running, 0 stopped, 0 missing", daemon.SdNotifyWatchdog, daemon.SdNotifyReady)

	// The next tick is due an interval later, and hangs too: the pings
	// stop while the HTTP side still answers and says the loop is stale.
	if !h.clock.BlockUntil(1, realWait) {
		t.Fatal("the loop never waited for its next tick")
	}
	h.advance(interval)
	ps = h.nextPS(t)
	h.advance(3 * interval)
	h.notes.expect(t, []string{"STATUS=0 running, 0 stopped, 0 missing", daemon.SdNotifyWatchdog, daemon.SdNotifyReady})
	if code := h.get(t, "/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz while a tick hangs past two intervals: %d, want 503", code)
	}

	// It ends skipped (docker does not answer): that still proves the
	// loop alive, so STATUS= says degraded and the ping follows.
	ps.answer(exec.Result{ExitCode: 1, Stderr: []byte("Cannot connect to the Docker daemon\n")})
	h.notes.waitFor(t, "STATUS=degraded: tick skipped: docker ps: Cannot connect to the Docker daemon", daemon.SdNotifyWatchdog)

	// A registry that cannot be read degrades the tick, which goes on
	// from what it read last: STATUS= says why, and the loop is alive.
	if !h.clock.BlockUntil(1, realWait) {
		t.Fatal("the loop never waited for its next tick")
	}
	if err := h.db.Close(); err != nil {
		t.Fatal(err)
	}
	h.advance(interval)
	h.nextPS(t).answer(exec.Result{})
	h.notes.waitFor(t, "STATUS=degraded: read registry: .*database is closed.*; 0 running, 0 stopped, 0 missing", daemon.SdNotifyWatchdog)

	// Cancelling says STOPPING=1, and run returns nil.
	h.stop()
	if err := h.wait(t); err != nil {
		t.Errorf("run returned %v, want nil", err)
	}
	h.notes.expect(t, []string{
		"STATUS=0 running, 0 stopped, 0 missing", daemon.SdNotifyWatchdog, daemon.SdNotifyReady,
		"STATUS=degraded: tick skipped: docker ps: Cannot connect to the Docker daemon", daemon.SdNotifyWatchdog,
		"STATUS=degraded: read registry: .*database is closed.*; 0 running, 0 stopped, 0 missing", daemon.SdNotifyWatchdog,
		daemon.SdNotifyStopping,
	})
}

// daemonHarness is one daemon built by RunCmd.wire and running.
type daemonHarness struct {
	clock *fakeclock.Clock
	notes *notifyLog
	db    *sqlite.DB
	base  string // http://127.0.0.1:port
	ps    chan psCall
	stop  context.CancelFunc
	done  chan struct{} // closed when run has returned err
	err   error
}

// wireDaemon wires the daemon over an empty registry, with docker events
// off (the follower would ask for extra ticks), and runs it until the test
// ends.
func wireDaemon(t *testing.T, interval time.Duration) *daemonHarness {
	h := &daemonHarness{clock: fakeclock.New(), notes: newNotifyLog(), ps: make(chan psCall), done: make(chan struct{})}
	runner := &fakeexec.Runner{Handler: h.docker(t)}
	g := &Globals{DB: filepath.Join(t.TempDir(), "registry.db"), Docker: "docker", Prefix: "cwtest-", DockerTimeout: 5 * time.Second}
	e := &env{g: g, stdout: t.Output(), stderr: t.Output(), clock: h.clock,
		log: slog.New(slog.NewTextHandler(t.Output(), nil)), runner: runner}
	ctx, cancel := context.WithCancel(context.Background())
	var err error
	if h.db, err = e.openRegistry(ctx); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.base = "http://" + ln.Addr().String()
	c := &RunCmd{Interval: interval, NoEvents: true, Settle: 100 * time.Millisecond,
		BackoffInitial: 10 * time.Second, BackoffMax: 5 * time.Minute, BackoffReset: 10 * time.Minute}
	d := c.wire(e, h.db, ln, interval, h.notes)
	h.stop = cancel
	go func() { h.err = d.run(ctx); close(h.done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(realWait):
			t.Error("run did not return after its context ended")
		}
		ln.Close()
		h.db.Close()
	})
	return h
}

// psCall is one docker ps waiting for the test's answer.
type psCall struct{ reply chan exec.Result }

func (c psCall) answer(r exec.Result) { c.reply <- r }

// docker answers docker ps with what the test says, when it says it; any
// other call is a failure (an empty registry needs no repair).
func (h *daemonHarness) docker(t *testing.T) fakeexec.Handler {
	return func(ctx context.Context, _ string, args []string, _ func(string)) (exec.Result, error) {
		if len(args) == 0 || args[0] != "ps" {
			t.Errorf("unexpected docker %s", strings.Join(args, " "))
			return exec.Result{ExitCode: 1}, nil
		}
		call := psCall{reply: make(chan exec.Result)}
		select {
		case h.ps <- call:
		case <-ctx.Done():
			return exec.Result{}, ctx.Err()
		}
		select {
		case r := <-call.reply:
			return r, nil
		case <-ctx.Done():
			return exec.Result{}, ctx.Err()
		}
	}
}

// nextPS waits until a tick runs docker ps.
func (h *daemonHarness) nextPS(t *testing.T) psCall {
	t.Helper()
	select {
	case c := <-h.ps:
		return c
	case <-h.done:
		t.Fatalf("the daemon stopped (%v) instead of listing containers", h.err)
	case <-time.After(realWait):
		t.Fatal("no docker ps: the loop did not tick")
	}
	return psCall{}
}

// advance moves the fake clock in steps of a tenth of d, so anything
// waiting on it fires on the way.
func (h *daemonHarness) advance(d time.Duration) {
	for range 10 {
		h.clock.Advance(d / 10)
	}
}

func (h *daemonHarness) get(t *testing.T, path string) int {
	t.Helper()
	resp, err := http.Get(h.base + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (h *daemonHarness) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-h.done:
		return h.err
	case <-time.After(realWait):
		t.Fatal("run did not return after its context ended")
		return nil
	}
}

// notifyLog is the fake notifier: it keeps every sd_notify message.
type notifyLog struct {
	mu      sync.Mutex
	msgs    []string
	changed chan struct{}
}

var _ notifier = (*notifyLog)(nil)

func newNotifyLog() *notifyLog { return &notifyLog{changed: make(chan struct{})} }

func (n *notifyLog) Notify(state string) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.msgs = append(n.msgs, state)
	close(n.changed)
	n.changed = make(chan struct{})
	return true, nil
}

func (n *notifyLog) all() ([]string, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.msgs), n.changed
}

// expect fails unless the messages so far are exactly want, each a
// regular expression for a whole message.
func (n *notifyLog) expect(t *testing.T, want []string) {
	t.Helper()
	if got, _ := n.all(); !matchAll(got, want) {
		t.Fatalf("sd_notify messages:\n%q\nwant:\n%q", got, want)
	}
}

// waitFor waits until the messages end with want (regular expressions, in
// that order), and fails when another message comes first or not all of
// want within realWait.
func (n *notifyLog) waitFor(t *testing.T, want ...string) {
	t.Helper()
	got, _ := n.all()
	before := len(got)
	deadline := time.After(realWait)
	for {
		got, changed := n.all()
		news := got[before:]
		if !matchAll(news, want[:min(len(news), len(want))]) {
			t.Fatalf("sd_notify messages after %q:\n%q\nwant:\n%q", got[:before], news, want)
		}
		if len(news) == len(want) {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("sd_notify messages after %q:\n%q\nwant (within %s):\n%q", got[:before], news, realWait, want)
		}
	}
}

func matchAll(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !regexp.MustCompile("^(?:" + want[i] + ")$").MatchString(got[i]) {
			return false
		}
	}
	return true
}
