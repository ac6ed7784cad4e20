package httpapi_test

// Test helpers of the package: a fake event log, a running broker, events
// to publish, a strict SSE reader, and env (a Server over httptest).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/clock/fakeclock"
	"github.com/container-watchdog/container-watchdog/watchdog/httpapi"
)

// ------------------------------------------------------------------ fakes

// fakeLog is the persisted event log. hook, when set, runs inside the first
// Events call, before (hookBefore) or after the snapshot is taken: that is
// where a tick persists and publishes while a client is being replayed to.
type fakeLog struct {
	mu         sync.Mutex
	events     []watchdog.Event
	calls      int
	hook       func()
	hookBefore bool
	err        error
	lastCalls  int // LastEvents calls (lastevents_test.go)
}

func (l *fakeLog) append(evs ...watchdog.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, evs...)
}

func (l *fakeLog) Events(_ context.Context, since int64, limit int) ([]watchdog.Event, error) {
	l.mu.Lock()
	l.calls++
	hook := l.hook
	if l.calls != 1 {
		hook = nil
	}
	err := l.err
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if hook != nil && l.hookBefore {
		hook()
	}
	l.mu.Lock()
	var out []watchdog.Event
	for _, e := range l.events {
		if e.ID > since && (limit <= 0 || len(out) < limit) {
			out = append(out, e)
		}
	}
	l.mu.Unlock()
	if hook != nil && !l.hookBefore {
		hook()
	}
	return out, nil
}

// runBroker returns a broker whose fan-out runs until the test ends.
func runBroker(tb testing.TB, buffer int) *httpapi.Broker {
	b := httpapi.NewBroker(buffer)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
	return b
}

var t0 = time.Date(2026, 4, 20, 11, 55, 26, 123000000, time.UTC)

func event(id int64) watchdog.Event {
	types := []watchdog.EventType{watchdog.EventMissing, watchdog.EventRecreated, watchdog.EventStopped, watchdog.EventRecreateFailed}
	e := watchdog.Event{
		ID: id, Time: t0.Add(time.Duration(id) * time.Millisecond), Type: types[id%int64(len(types))],
		Container: "claude-hooks-dev-default", Agent: "dev", Instance: "default",
	}
	if e.Type == watchdog.EventRecreateFailed {
		e.Detail = "docker: Error response from daemon: boom\nsecond line"
	}
	return e
}

func events(from, to int64) []watchdog.Event {
	var out []watchdog.Event
	for id := from; id <= to; id++ {
		out = append(out, event(id))
	}
	return out
}

// ------------------------------------------------------------- SSE reading

type frame struct {
	id, event, data, retry string
	hasID, hasData         bool
	comments               []string
	raw                    string
}

// stream reads SSE frames from a response body in the background.
type stream struct {
	t      *testing.T
	resp   *http.Response
	frames chan frame
	done   chan error
}

func openStream(t *testing.T, ctx context.Context, client *http.Client, url string, header map[string]string) *stream {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: status %d: %s", url, resp.StatusCode, b)
	}
	s := &stream{t: t, resp: resp, frames: make(chan frame, 100000), done: make(chan error, 1)}
	go func() {
		s.done <- parseFrames(resp.Body, func(f frame) { s.frames <- f })
		close(s.frames)
	}()
	return s
}

func parseFrames(r io.Reader, fn func(frame)) error {
	br := bufio.NewReaderSize(r, 64*1024)
	var f frame
	var raw strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && line == "" {
				return nil
			}
			return err
		}
		raw.WriteString(line)
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			f.raw = raw.String()
			fn(f)
			f, raw = frame{}, strings.Builder{}
			continue
		}
		if strings.HasPrefix(line, ":") {
			f.comments = append(f.comments, strings.TrimPrefix(line[1:], " "))
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimPrefix(v, " ")
		switch k {
		case "id":
			f.id, f.hasID = v, true
		case "event":
			f.event = v
		case "data":
			if f.hasData {
				f.data += "\n"
			}
			f.data, f.hasData = f.data+v, true
		case "retry":
			f.retry = v
		default:
			return fmt.Errorf("unknown field in %q", line)
		}
	}
}

// next returns the next frame, failing after a deadline.
func (s *stream) next() frame {
	s.t.Helper()
	select {
	case f, ok := <-s.frames:
		if !ok {
			s.t.Fatalf("stream ended: %v", <-s.done)
		}
		return f
	case <-time.After(10 * time.Second):
		s.t.Fatal("no frame within 10s")
	}
	return frame{}
}

// nextEvent skips comment-only frames and returns the next event's id.
func (s *stream) nextEvent() (frame, watchdog.Event) {
	s.t.Helper()
	for {
		f := s.next()
		if !f.hasData {
			continue
		}
		var e watchdog.Event
		if err := json.Unmarshal([]byte(f.data), &e); err != nil {
			s.t.Fatalf("data is not an event: %v: %q", err, f.data)
		}
		if f.id != strconv.FormatInt(e.ID, 10) || f.event != string(e.Type) {
			s.t.Fatalf("frame id %q event %q, data says %d %s", f.id, f.event, e.ID, e.Type)
		}
		return f, e
	}
}

func (s *stream) expectIDs(ids ...int64) {
	s.t.Helper()
	for _, want := range ids {
		_, e := s.nextEvent()
		if e.ID != want {
			s.t.Fatalf("got event %d, want %d", e.ID, want)
		}
	}
}

// expectEnd waits for the server to end the stream.
func (s *stream) expectEnd() {
	s.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-s.frames:
			if !ok {
				return
			}
			if f.hasData {
				s.t.Fatalf("unexpected event before the end: %q", f.raw)
			}
		case <-deadline:
			s.t.Fatal("stream still open after 10s")
		}
	}
}

// waitSubscribers polls the broker until n clients are subscribed.
func waitSubscribers(t *testing.T, b *httpapi.Broker, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ := b.Stats()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers after 10s, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

type env struct {
	broker *httpapi.Broker
	log    *fakeLog
	health *watchdog.Liveness
	clock  *fakeclock.Clock
	api    *httpapi.Server
	srv    *httptest.Server
}

func newEnv(t *testing.T, buffer int, tweak func(*httpapi.Server)) *env {
	t.Helper()
	e := &env{broker: runBroker(t, buffer), log: &fakeLog{}, health: &watchdog.Liveness{Interval: 10 * time.Second}, clock: fakeclock.At(t0)}
	e.api = &httpapi.Server{Broker: e.broker, Events: e.log, Liveness: e.health, Clock: e.clock}
	if tweak != nil {
		tweak(e.api)
	}
	e.srv = httptest.NewServer(e.api.Handler())
	t.Cleanup(func() {
		e.broker.Close()
		e.srv.Close()
	})
	return e
}

// publish persists then publishes, as the tick does.
func (e *env) publish(evs ...watchdog.Event) {
	for _, ev := range evs {
		e.log.append(ev)
		e.broker.Publish(ev)
	}
}
