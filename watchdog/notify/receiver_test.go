package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/notify"
	"github.com/container-watchdog/container-watchdog/watchdog/notify/webhook"
	"github.com/container-watchdog/container-watchdog/watchdog/sqlite"
)

// receiver is a real HTTP webhook receiver. It checks every request's
// signature and headers, answers as told, and records what it accepted:
// event ids in order of receipt (a summary's events expanded).
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	secret string
	// answer decides the n-th request's status and headers (1-based);
	// nil accepts everything.
	answer func(n int) (int, map[string]string)
	// hang, when set, makes requests wait until it is closed.
	hang chan struct{}

	mu        sync.Mutex
	requests  int
	attempts  []time.Time
	ids       []int64
	keys      []string
	summaries []string
}

func newReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{t: t, secret: secret}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.requests++
	n := r.requests
	r.attempts = append(r.attempts, time.Now())
	hang, answer := r.hang, r.answer
	r.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-req.Context().Done():
			return
		}
	}
	mac := hmac.New(sha256.New, []byte(r.secret))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if r.secret == "" {
		want = "" // an unsigned sink sends no signature
	}
	if !hmac.Equal([]byte(want), []byte(req.Header.Get(webhook.SignatureHeader))) {
		r.t.Errorf("request %d: bad signature %q", n, req.Header.Get(webhook.SignatureHeader))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		r.t.Errorf("request %d: Content-Type %q", n, ct)
	}
	if answer != nil {
		code, h := answer(n)
		for k, v := range h {
			w.Header().Set(k, v)
		}
		if code/100 != 2 {
			w.WriteHeader(code)
			fmt.Fprintf(w, "refused request %d", n)
			return
		}
	}
	var m struct {
		ID      int64            `json:"id"`
		Type    string           `json:"type"`
		Message string           `json:"message"`
		Events  []watchdog.Event `json:"events"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		r.t.Errorf("request %d: body %s: %v", n, body, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, req.Header.Get("Idempotency-Key"))
	if m.Type == string(notify.EventTypeSummary) {
		r.summaries = append(r.summaries, m.Message)
		for _, e := range m.Events {
			r.ids = append(r.ids, e.ID)
		}
		return
	}
	r.ids = append(r.ids, m.ID)
}

func (r *receiver) delivered() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.ids...)
}

func (r *receiver) snapshot() (requests int, attempts []time.Time, keys, summaries []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, append([]time.Time(nil), r.attempts...), append([]string(nil), r.keys...), append([]string(nil), r.summaries...)
}

func (r *receiver) setHang(ch chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hang = ch
}

// rig is a registry, a Sender over it with real webhook transports, and
// a way to store events as the tick does.
type rig struct {
	t      *testing.T
	db     *sqlite.DB
	sender *notify.Sender
	cancel context.CancelFunc
	done   chan struct{}
}

var fast = notify.Policy{RetryInitial: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond, GiveUp: time.Hour,
	BurstLimit: 10, BurstWindow: time.Minute}

func newRig(t *testing.T, pol notify.Policy) *rig {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := &notify.Sender{
		// A generous per-request timeout: on a loaded machine a loopback
		// answer has taken more than 300 ms, which counted as a failed attempt.
		Outbox: db, Policy: pol, Timeout: 5 * time.Second, Poll: time.Hour,
		Log: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		Open: func(_ context.Context, s notify.Sink) (notify.Transport, error) {
			return webhook.New(s, "test")
		},
	}
	return &rig{t: t, db: db, sender: s}
}

func (r *rig) addSink(name, url, secret string) {
	r.t.Helper()
	if err := r.db.AddSink(context.Background(), notify.Sink{Name: name, URL: url, Secret: secret, MinPriority: 7, CreatedAt: time.Now()}); err != nil {
		r.t.Fatal(err)
	}
	r.sender.Wake()
}

func (r *rig) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		if err := r.sender.Run(ctx); err != nil {
			r.t.Errorf("Run: %v", err)
		}
	}()
	r.t.Cleanup(r.stop)
}

func (r *rig) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.cancel = nil
}

// emit stores n events as the tick does and publishes them; it returns their ids.
func (r *rig) emit(n int, typ watchdog.EventType) []int64 {
	r.t.Helper()
	var ids []int64
	for i := 0; i < n; i++ {
		e := &watchdog.Event{Type: typ, Container: fmt.Sprintf("claude-hooks-dev-i%02d", i), Agent: "dev", Instance: fmt.Sprintf("i%02d", i)}
		if err := r.db.AppendEvent(context.Background(), e); err != nil {
			r.t.Fatal(err)
		}
		ids = append(ids, e.ID)
		r.sender.Publish(*e)
	}
	return ids
}

func (r *rig) stats(sink string) notify.SinkStats {
	for _, s := range r.sender.Stats() {
		if s.Sink == sink {
			return s
		}
	}
	r.t.Fatalf("no stats for sink %s", sink)
	return notify.SinkStats{}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
