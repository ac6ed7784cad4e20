package main

// The daemon under test in the real-engine tests (see engine_test.go):
// started and stopped by pid, and read through its HTTP side: /state,
// /healthz and the SSE stream, checked against the contract as it goes.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// engDaemon is a running `container-watchdog run`.
type engDaemon struct {
	cmd      *osexec.Cmd
	base     string // http://127.0.0.1:port
	log      string
	interval time.Duration
	done     chan struct{}
}

// startDaemon starts `run` with --interval, --listen 127.0.0.1:0 and an
// address file, waits until it listens, and stops it (SIGTERM by pid, then
// SIGKILL) when the test ends. env adds to or overrides the environment.
func (s *engScenario) startDaemon(tb testing.TB, interval time.Duration, env []string, args ...string) *engDaemon {
	tb.Helper()
	addrFile := filepath.Join(s.dir, fmt.Sprintf("addr-%s", engRandomHex(3)))
	d := &engDaemon{log: addrFile + ".log", interval: interval, done: make(chan struct{})}
	logf, err := os.Create(d.log)
	engMust(tb, err)
	argv := append(s.globals(), "run", "--interval", interval.String(), "--listen", "127.0.0.1:0", "--addr-file", addrFile)
	d.cmd = osexec.Command(s.bin, append(argv, args...)...)
	d.cmd.Env = append(slices.Clone(s.env), env...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	// Dies with the test binary, also when go test's timeout kills it before any cleanup runs.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	engMust(tb, d.cmd.Start())
	go func() { _ = d.cmd.Wait(); logf.Close(); close(d.done) }()
	tb.Cleanup(func() {
		d.stop(tb)
		if tb.Failed() {
			b, _ := os.ReadFile(d.log)
			tb.Logf("daemon log (%s):\n%s", d.log, engTail(string(b), 60))
		}
	})
	deadline := time.Now().Add(engineWait)
	for {
		b, err := os.ReadFile(addrFile)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			d.base = "http://" + strings.TrimSpace(string(b))
			return d
		}
		select {
		case <-d.done:
			b, _ := os.ReadFile(d.log)
			tb.Fatalf("daemon exited before listening: %v\n%s", d.cmd.ProcessState, b)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("daemon wrote no address to %s within %s", addrFile, engineWait)
		}
	}
}

// stop sends SIGTERM to the daemon's pid and waits; SIGKILL after 15 s.
func (d *engDaemon) stop(tb testing.TB) {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		tb.Errorf("daemon pid %d did not stop within 15s of SIGTERM; killing it", d.cmd.Process.Pid)
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

type engState struct {
	Tick *struct {
		Time       time.Time `json:"time"`
		DurationMS float64   `json:"duration_ms"`
		Result     string    `json:"result"`
		Error      string    `json:"error"`
	} `json:"tick"`
	Instances []watchdog.InstanceState `json:"instances"`
}

func (d *engDaemon) state(tb testing.TB) engState {
	tb.Helper()
	var st engState
	resp, err := http.Get(d.base + "/state")
	engMust(tb, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET /state: %s", resp.Status)
	}
	engMust(tb, json.NewDecoder(resp.Body).Decode(&st))
	return st
}

func (d *engDaemon) healthz(tb testing.TB) int {
	tb.Helper()
	code, _ := d.health(tb)
	return code
}

// health returns /healthz's status code and body.
func (d *engDaemon) health(tb testing.TB) (int, map[string]string) {
	tb.Helper()
	resp, err := http.Get(d.base + "/healthz")
	engMust(tb, err)
	defer resp.Body.Close()
	body := map[string]string{}
	engMust(tb, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

// ticksAfter waits until /state has shown n different ticks that started
// after t0: at least n ticks ran since.
func (d *engDaemon) ticksAfter(tb testing.TB, t0 time.Time, n int) engState {
	tb.Helper()
	seen := map[time.Time]bool{}
	deadline := time.Now().Add(time.Duration(n+2)*d.interval + engineWait)
	for {
		st := d.state(tb)
		if st.Tick != nil && st.Tick.Time.After(t0) {
			seen[st.Tick.Time] = true
			if len(seen) >= n {
				if os.Getenv("CW_ENGINE_DEBUG") != "" {
					tb.Logf("ticks seen: %v (now %s)", seen, time.Now().Format("15:04:05.000"))
				}
				return st
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("saw %d ticks after %s, want %d", len(seen), t0.Format(time.StampMilli), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ready waits for the daemon's first ticks (the start-up one, and the one
// its docker events follower asks for once connected) and returns right
// after one ended, so the test acts between ticks: see quiet.
func (d *engDaemon) ready(tb testing.TB) engState {
	tb.Helper()
	return d.ticksAfter(tb, time.Time{}, 2)
}

// quiet returns right after a tick that began after the call has ended:
// the next periodic tick is an interval away. The scenarios act then, so
// each sees the plain sequence of reports; testStartupRace acts inside a
// tick on purpose.
func (d *engDaemon) quiet(tb testing.TB) engState {
	tb.Helper()
	return d.ticksAfter(tb, time.Now(), 1)
}

// engEvent is one event as the stream carried it.
type engEvent struct {
	watchdog.Event
	Index int       // position in the stream
	Got   time.Time // when this client read it
}

func (e engEvent) String() string {
	return fmt.Sprintf("#%d %s %s %s %q", e.ID, e.Time.Format("15:04:05.000"), e.Type, e.Container, e.Detail)
}

// engSSE reads GET /events?since=0 (the whole log, then live events)
// and checks each frame against the contract as it goes.
type engSSE struct {
	mu      sync.Mutex
	evs     []engEvent
	bad     []string
	changed chan struct{}
	err     error
}

func (d *engDaemon) subscribe(tb testing.TB) *engSSE {
	tb.Helper()
	return d.subscribeSince(tb, 0)
}

// subscribeSince reads the events after id, then live ones.
func (d *engDaemon) subscribeSince(tb testing.TB, id int64) *engSSE {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/events?since=%d", d.base, id), nil)
	engMust(tb, err)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		tb.Fatalf("GET /events: %v", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		tb.Fatalf("GET /events: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	c := &engSSE{changed: make(chan struct{})}
	finished := make(chan struct{})
	tb.Cleanup(func() {
		cancel()
		<-finished
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, b := range c.bad {
			tb.Errorf("SSE: %s", b)
		}
		if tb.Failed() {
			var lines []string
			for _, e := range c.evs {
				lines = append(lines, e.String())
			}
			tb.Logf("SSE events:\n%s", strings.Join(lines, "\n"))
		}
	})
	go func() {
		defer close(finished)
		defer resp.Body.Close()
		err := readSSE(resp.Body, func(f sseFrame) error {
			if f.data != "" {
				c.add(f.id, f.event, f.data)
			}
			return nil
		})
		if errors.Is(err, errUnknownField) {
			c.mu.Lock()
			c.bad = append(c.bad, err.Error())
			c.mu.Unlock()
		}
		c.mu.Lock()
		c.err = err
		if c.err == nil {
			c.err = io.EOF
		}
		close(c.changed)
		c.mu.Unlock()
	}()
	return c
}

func (c *engSSE) add(id, typ, data string) {
	got := time.Now()
	var ev watchdog.Event
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := json.Unmarshal([]byte(data), &ev); err != nil {
		c.bad = append(c.bad, fmt.Sprintf("data %q: %v", data, err))
		return
	}
	if id != strconv.FormatInt(ev.ID, 10) || typ != string(ev.Type) {
		c.bad = append(c.bad, fmt.Sprintf("frame id %q event %q disagree with data %s", id, typ, data))
	}
	if n := len(c.evs); n > 0 && c.evs[n-1].ID >= ev.ID {
		c.bad = append(c.bad, fmt.Sprintf("event id %d after %d: ids must increase", ev.ID, c.evs[n-1].ID))
	}
	c.evs = append(c.evs, engEvent{Event: ev, Index: len(c.evs), Got: got})
	close(c.changed)
	c.changed = make(chan struct{})
}

// all returns the events read so far.
func (c *engSSE) all() []engEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.evs)
}

// wait returns the first event at index >= from that matches, waiting up to
// timeout for it.
func (c *engSSE) wait(tb testing.TB, timeout time.Duration, from int, what string, match func(engEvent) bool) engEvent {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for _, e := range c.evs[min(from, len(c.evs)):] {
			if match(e) {
				c.mu.Unlock()
				return e
			}
		}
		ch, err := c.changed, c.err
		c.mu.Unlock()
		if err != nil {
			tb.Fatalf("waiting for %s: event stream ended: %v", what, err)
		}
		select {
		case <-ch:
		case <-deadline.C:
			tb.Fatalf("no %s on the event stream within %s", what, timeout)
		}
	}
}

func engIs(typ watchdog.EventType, container string) func(engEvent) bool {
	return func(e engEvent) bool { return e.Type == typ && e.Container == container }
}

// engNoEvents fails when any event after index from matches.
func engNoEvents(tb testing.TB, evs []engEvent, from int, what string, match func(engEvent) bool) {
	tb.Helper()
	for _, e := range evs[min(from, len(evs)):] {
		if match(e) {
			tb.Errorf("unexpected %s: %s", what, e)
		}
	}
}

// engOnly fails unless the events from index from are exactly types.
func engOnly(tb testing.TB, evs []engEvent, from int, types ...watchdog.EventType) {
	tb.Helper()
	var got []watchdog.EventType
	for _, e := range evs[min(from, len(evs)):] {
		got = append(got, e.Type)
	}
	if !slices.Equal(got, types) {
		tb.Errorf("events %v, want exactly %v", got, types)
	}
}

func engInstanceState(st engState, name string) watchdog.State {
	for _, in := range st.Instances {
		if in.Container == name {
			return in.State
		}
	}
	return ""
}
