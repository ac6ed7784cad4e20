package httpapi_test

// GET /events: the SSE format, keep-alives, replay from a resume point,
// the broker's lifecycle and what happens to clients too slow to keep up.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/httpapi"
)

func TestEventsFormat(t *testing.T) {
	e := newEnv(t, 16, func(s *httpapi.Server) { s.Retry = 1500 * time.Millisecond })
	s := openStream(t, context.Background(), nil, e.srv.URL+"/events", nil)
	if ct := s.resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := s.resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control %q", cc)
	}
	first := s.next()
	if first.retry != "1500" || first.hasData || first.hasID || len(first.comments) == 0 {
		t.Fatalf("first frame %q: want a retry of 1500 ms and a comment, no event", first.raw)
	}
	waitSubscribers(t, e.broker, 1)

	ev := event(7) // recreate_failed, with a two-line detail
	e.publish(ev)
	f, got := s.nextEvent()
	data, _ := json.Marshal(ev)
	want := fmt.Sprintf("id: 7\nevent: container_recreate_failed\ndata: %s\n\n", data)
	if f.raw != want {
		t.Fatalf("frame\n%q\nwant\n%q", f.raw, want)
	}
	if !reflect.DeepEqual(got, ev) {
		t.Fatalf("data decodes to %+v, want %+v", got, ev)
	}
	// The contract's field names, exactly.
	var m map[string]any
	_ = json.Unmarshal([]byte(f.data), &m)
	for _, k := range []string{"id", "time", "type", "container", "agent", "instance", "detail"} {
		if _, ok := m[k]; !ok {
			t.Errorf("data lacks %q: %s", k, f.data)
		}
	}
	ts, _ := m["time"].(string)
	if tm, err := time.Parse(time.RFC3339Nano, ts); err != nil || !tm.Equal(ev.Time) || !strings.HasSuffix(ts, "Z") {
		t.Errorf("time %q, want %s in RFC 3339, UTC", ts, ev.Time)
	}
}

func TestEventsKeepalive(t *testing.T) {
	e := newEnv(t, 16, func(s *httpapi.Server) { s.Keepalive = 20 * time.Millisecond })
	s := openStream(t, context.Background(), nil, e.srv.URL+"/events", nil)
	keepalives := 0
	for keepalives < 3 {
		f := s.next()
		if f.hasData || f.hasID {
			t.Fatalf("unexpected event %q", f.raw)
		}
		if f.retry == "" {
			if len(f.comments) == 0 {
				t.Fatalf("empty frame %q", f.raw)
			}
			keepalives++
		}
	}
	// Keepalives do not disturb events.
	e.publish(event(1))
	s.expectIDs(1)
}

func TestEventsDefaultRetryAndKeepalive(t *testing.T) {
	// The contract: a comment at least every 15 s. Only the retry default is
	// observable quickly; check it and that the first comment comes at once.
	e := newEnv(t, 16, nil)
	s := openStream(t, context.Background(), nil, e.srv.URL+"/events", nil)
	f := s.next()
	if f.retry != "2000" || len(f.comments) == 0 {
		t.Fatalf("first frame %q", f.raw)
	}
}

func TestEventsReplay(t *testing.T) {
	for _, tc := range []struct {
		name   string
		path   string
		header map[string]string
		want   []int64
	}{
		{"Last-Event-ID", "/events", map[string]string{"Last-Event-ID": "2"}, []int64{3, 4, 5}},
		{"since", "/events?since=3", nil, []int64{4, 5}},
		{"since 0 is everything", "/events?since=0", nil, []int64{1, 2, 3, 4, 5}},
		{"header wins over since", "/events?since=4", map[string]string{"Last-Event-ID": "1"}, []int64{2, 3, 4, 5}},
		{"past the end", "/events?since=99", nil, nil},
		{"no resume point, no replay", "/events", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 16, nil)
			e.log.append(events(1, 5)...)
			s := openStream(t, context.Background(), nil, e.srv.URL+tc.path, tc.header)
			s.expectIDs(tc.want...)
			waitSubscribers(t, e.broker, 1)
			// Then live events, on the same stream.
			e.publish(event(100))
			s.expectIDs(100)
		})
	}
}

func TestEventsBadResumePoint(t *testing.T) {
	e := newEnv(t, 16, nil)
	for _, tc := range []struct {
		path   string
		header string
		want   string
	}{
		{"/events?since=abc", "", `since "abc"`},
		{"/events?since=-1", "", `since "-1"`},
		{"/events?since=1.5", "", `since "1.5"`},
		{"/events", "abc", `Last-Event-ID "abc"`},
	} {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+tc.path, nil)
		if tc.header != "" {
			req.Header.Set("Last-Event-ID", tc.header)
		}
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("%s %q: %v", tc.path, tc.header, err)
		}
		b, _ := io.ReadAll(resp.Body) // a stream would time out here
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s %q: status %d %q, want 400 naming %s", tc.path, tc.header, resp.StatusCode, b, tc.want)
		}
	}
	if n, _ := e.broker.Stats(); n != 0 {
		t.Errorf("%d subscribers left behind by refused requests", n)
	}
}

func TestEventsReplayPages(t *testing.T) {
	e := newEnv(t, 16, nil)
	const n = 1234 // more than two pages
	e.log.append(events(1, n)...)
	s := openStream(t, context.Background(), nil, e.srv.URL+"/events?since=0", nil)
	for id := int64(1); id <= n; id++ {
		s.expectIDs(id)
	}
	e.publish(event(n + 1))
	s.expectIDs(n + 1)
	if e.log.calls < 3 {
		t.Errorf("%d log queries for %d events: replay should page", e.log.calls, n)
	}
}

// Events persisted and published while a client is being replayed to reach
// it exactly once, in order: whether the replay's snapshot holds them
// (they also sit in the client's queue: skip) or not (the queue has them).
func TestEventsReplayWhilePublishing(t *testing.T) {
	for _, before := range []bool{true, false} {
		t.Run(fmt.Sprintf("snapshot includes them=%v", before), func(t *testing.T) {
			e := newEnv(t, 16, nil)
			e.log.append(events(1, 5)...)
			e.log.hookBefore = before
			e.log.hook = func() { e.publish(event(6), event(7)) }
			s := openStream(t, context.Background(), nil, e.srv.URL+"/events?since=0", nil)
			s.expectIDs(1, 2, 3, 4, 5, 6, 7)
			e.publish(event(8))
			s.expectIDs(8)
			// Nothing else arrives: publish a marker and expect it next.
			e.publish(event(9))
			s.expectIDs(9)
		})
	}
}

func TestEventsReplayFailureEndsStream(t *testing.T) {
	e := newEnv(t, 16, nil)
	e.log.err = errors.New("database is locked")
	s := openStream(t, context.Background(), nil, e.srv.URL+"/events?since=0", nil)
	sawComment := false
	for f := range s.frames {
		if f.hasData {
			t.Fatalf("event after a failed replay: %q", f.raw)
		}
		for _, c := range f.comments {
			sawComment = sawComment || strings.Contains(c, "database is locked")
		}
	}
	if !sawComment {
		t.Error("the failure was not reported in a comment")
	}
}

func TestEventsClientGoneUnsubscribes(t *testing.T) {
	e := newEnv(t, 16, nil)
	ctx, cancel := context.WithCancel(context.Background())
	s := openStream(t, ctx, nil, e.srv.URL+"/events", nil)
	s.next()
	waitSubscribers(t, e.broker, 1)
	cancel()
	waitSubscribers(t, e.broker, 0)
}

func TestBrokerCloseEndsStreams(t *testing.T) {
	e := newEnv(t, 16, nil)
	a := openStream(t, context.Background(), nil, e.srv.URL+"/events", nil)
	b := openStream(t, context.Background(), nil, e.srv.URL+"/events?since=0", nil)
	waitSubscribers(t, e.broker, 2)
	e.broker.Close()
	a.expectEnd()
	b.expectEnd()
	if n, _ := e.broker.Stats(); n != 0 {
		t.Errorf("%d subscribers after Close", n)
	}
	e.broker.Publish(event(1)) // harmless after Close
	resp, err := http.Get(e.srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET /events after Close: %d, want 503", resp.StatusCode)
	}
	// Shutdown returns promptly: no stream holds it up.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Config.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// pipeListener serves connections made with net.Pipe: a write on one end
// blocks until the other end reads, so a client that never reads stalls its
// handler at once, whatever the kernel's socket buffers would absorb.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// A client that never reads is dropped once its queue fills; a fast client
// keeps getting every event, in order; Publish never waits for either.
func TestSlowClientDropped(t *testing.T) {
	const buffer, total = 64, 10000
	broker := runBroker(t, buffer)
	api := &httpapi.Server{Broker: broker, Events: &fakeLog{}, Liveness: &watchdog.Liveness{Interval: time.Second},
		WriteTimeout: time.Minute} // the drop, not a write timeout, must free the tick
	ln := newPipeListener()
	srv := &http.Server{Handler: api.Handler()}
	go srv.Serve(ln)
	t.Cleanup(func() {
		if t.Failed() {
			// A Publish blocked on the stuck client would hold the broker's
			// lock forever: do not wait on it.
			go srv.Close()
			return
		}
		broker.Close()
		srv.Close()
	})

	// The slow client: sends its request, never reads a byte.
	slow, err := ln.DialContext(context.Background(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	go io.WriteString(slow, "GET /events HTTP/1.1\r\nHost: pipe\r\n\r\n")
	waitSubscribers(t, broker, 1)

	// The fast client reads as it comes.
	client := &http.Client{Transport: &http.Transport{DialContext: ln.DialContext}}
	fast := openStream(t, context.Background(), client, "http://pipe/events", nil)
	waitSubscribers(t, broker, 2)
	var received atomic.Int64
	var order []int64
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for f := range fast.frames {
			if !f.hasData {
				continue
			}
			id, _ := strconv.ParseInt(f.id, 10, 64)
			order = append(order, id)
			received.Add(1)
			if id == total {
				return
			}
		}
	}()

	published := make(chan error, 1)
	go func() {
		for id := int64(1); id <= total; id++ {
			broker.Publish(event(id))
			// A fast client: never more than a quarter of its queue behind.
			if id%(buffer/4) == 0 {
				deadline := time.Now().Add(10 * time.Second)
				for received.Load() < id-buffer/4 {
					if time.Now().After(deadline) {
						published <- fmt.Errorf("fast client stuck at %d of %d", received.Load(), id)
						return
					}
					time.Sleep(50 * time.Microsecond)
				}
			}
		}
		published <- nil
	}()
	select {
	case err := <-published:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Publish blocked: 10000 events not published within 30s")
	}
	select {
	case <-readerDone:
	case <-time.After(10 * time.Second):
		t.Fatalf("fast client got %d of %d events", received.Load(), total)
	}
	for i, id := range order {
		if id != int64(i+1) {
			t.Fatalf("fast client: event %d at position %d", id, i+1)
		}
	}
	if len(order) != total {
		t.Fatalf("fast client got %d events, want %d", len(order), total)
	}
	subs, dropped := broker.Stats()
	if subs != 1 || dropped != 1 {
		t.Fatalf("subscribers %d dropped %d, want 1 and 1 (the slow client)", subs, dropped)
	}

	// With only a stuck client left, Publish is as quick as ever.
	slow2, _ := ln.DialContext(context.Background(), "", "")
	defer slow2.Close()
	go io.WriteString(slow2, "GET /events HTTP/1.1\r\nHost: pipe\r\n\r\n")
	waitSubscribers(t, broker, 2)
	start := time.Now()
	for id := int64(total + 1); id <= 2*total; id++ {
		broker.Publish(event(id))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("10000 Publish calls took %s with a stuck client", d)
	}
	if _, dropped := broker.Stats(); dropped < 2 {
		t.Fatalf("dropped %d, want the second stuck client dropped too", dropped)
	}
}
