package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/clock"
	"github.com/container-watchdog/container-watchdog/watchdog/httpapi/dashboard"
	"github.com/container-watchdog/container-watchdog/watchdog/notify"
)

// EventLog is the persisted log replay and /state's last events read from.
type EventLog interface {
	Events(ctx context.Context, since int64, limit int) ([]watchdog.Event, error)
	// LastEvents returns the newest event of each container.
	LastEvents(ctx context.Context) ([]watchdog.Event, error)
}

// Liveness is what the loop last did and whether it is alive
// (*watchdog.Liveness).
type Liveness interface {
	Last() (rep watchdog.TickReport, ok bool)
	Healthy(now time.Time) watchdog.LivenessVerdict
}

// Server is the HTTP handler set. Nothing it serves changes anything.
type Server struct {
	Broker *Broker
	// Events is the persisted event log that replays come from.
	Events   EventLog
	Liveness Liveness
	Clock    clock.Clock
	// Keepalive is the longest a stream stays silent (default 15 s).
	Keepalive time.Duration
	// Retry is the reconnection delay suggested to clients (default 2 s).
	Retry time.Duration
	// WriteTimeout bounds each write to a client, so a stuck one is let go.
	WriteTimeout time.Duration
	// Addr is the listener's address: on loopback, requests naming another
	// host are refused (guard.go).
	Addr net.Addr
	// Metrics, when set, serves GET /metrics.
	Metrics http.Handler
	// Notifications, when set, gives each sink's queue and last error for /state.
	Notifications func() []notify.SinkStats

	last lastEvents
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /events", s.events)
	mux.HandleFunc("GET /state", s.state)
	mux.HandleFunc("GET /healthz", s.healthz)
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics)
	}
	dash := dashboard.Handler()
	mux.Handle("GET /{$}", dash)
	mux.Handle("GET /assets/", dash)
	return guard(s.Addr, mux)
}

const replayPage = 500

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	since, replay, err := lastEventID(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// Subscribe before replaying so nothing published meanwhile is lost;
	// duplicates are skipped by id below.
	sub, ok := s.Broker.subscribe()
	if !ok {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.Broker.unsubscribe(sub)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	st := &stream{w: w, rc: http.NewResponseController(w), timeout: s.writeTimeout()}
	if !st.write([]byte(fmt.Sprintf("retry: %d\n: container-watchdog event stream\n\n", s.retry().Milliseconds()))) {
		return
	}
	last := since
	if replay {
		if last, ok = s.replay(r.Context(), st, last); !ok {
			return
		}
	}
	s.follow(r.Context(), st, sub, last)
}

// stream writes SSE frames to one client, each bounded by a write
// deadline so a client that stopped reading cannot hold a handler.
type stream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

// write sends b and flushes it; false means the client is gone.
func (st *stream) write(b []byte) bool {
	_ = st.rc.SetWriteDeadline(time.Now().Add(st.timeout))
	if _, err := st.w.Write(b); err != nil {
		return false
	}
	return st.rc.Flush() == nil
}

// replay sends the logged events after last, a page at a time; it returns
// the last id sent, and false when the stream must end.
func (s *Server) replay(ctx context.Context, st *stream, last int64) (int64, bool) {
	for {
		evs, err := s.Events.Events(ctx, last, replayPage)
		if err != nil {
			st.write([]byte(fmt.Sprintf(": replay failed: %s\n\n", strings.ReplaceAll(err.Error(), "\n", " "))))
			return last, false
		}
		for _, e := range evs {
			if !st.write(render(e).data) {
				return last, false
			}
			last = e.ID
		}
		if len(evs) < replayPage {
			return last, true
		}
	}
}

// follow sends what the broker publishes after last, and a keepalive
// comment when nothing was sent for a while, until the client goes, is
// dropped for falling behind, or the server stops.
func (s *Server) follow(ctx context.Context, st *stream, sub *subscriber, last int64) {
	keepalive := time.NewTicker(s.keepalive())
	defer keepalive.Stop()
	for {
		select {
		case f := <-sub.ch:
			if f.id <= last {
				continue
			}
			if !st.write(f.data) {
				return
			}
			last = f.id
		case <-keepalive.C:
			if !st.write([]byte(": keepalive\n\n")) {
				return
			}
		case <-sub.gone:
			return // too slow, or shutting down: the client resumes with Last-Event-ID
		case <-ctx.Done():
			return
		}
	}
}

// lastEventID reads the resume point; without one there is no replay.
func lastEventID(r *http.Request) (int64, bool, error) {
	v := r.Header.Get("Last-Event-ID")
	what := "Last-Event-ID"
	if v == "" {
		v, what = r.URL.Query().Get("since"), "since"
	}
	if v == "" {
		return 0, false, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 0 {
		return 0, false, fmt.Errorf("bad %s %q: want a non-negative event id", what, v)
	}
	return id, true, nil
}

type stateJSON struct {
	Tick      *tickJSON      `json:"tick"`
	Instances []instanceJSON `json:"instances"`
	// LastEventID is the newest event in the log: a client that follows
	// /events?since= it misses nothing after this answer.
	LastEventID    int64              `json:"last_event_id"`
	LastEventError string             `json:"last_event_error,omitempty"`
	Notifications  []notify.SinkStats `json:"notifications,omitempty"`
}

type tickJSON struct {
	Time       time.Time           `json:"time"`
	DurationMS float64             `json:"duration_ms"`
	Duration   string              `json:"duration"`
	Result     watchdog.TickResult `json:"result"`
	Error      string              `json:"error,omitempty"`
	// Degraded says why a completed tick could not use the registry.
	Degraded string `json:"degraded,omitempty"`
}

func (s *Server) state(w http.ResponseWriter, r *http.Request) {
	rep, ok := s.Liveness.Last()
	var out stateJSON
	if ok {
		out.Tick = &tickJSON{
			Time: rep.Started, DurationMS: float64(rep.Duration.Microseconds()) / 1000,
			Duration: rep.Duration.String(), Result: rep.Result, Error: rep.Error, Degraded: rep.Degraded,
		}
	}
	out.Instances, out.LastEventID, out.LastEventError = s.last.attach(r.Context(), s.Events, rep.Instances)
	if s.Notifications != nil {
		out.Notifications = s.Notifications()
	}
	writeJSON(w, http.StatusOK, out)
}

// healthz answers whether the loop is alive (watchdog.Liveness.Healthy):
// 200 while a tick completed within two intervals, with "degraded" and why
// when it could not look at docker; else 503.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	v := s.Liveness.Healthy(clock.Or(s.Clock).Now())
	body := map[string]string{"status": string(v.Status)}
	if v.Reason != "" {
		body["reason"] = v.Reason
	}
	if !v.LastCompleted.IsZero() {
		body["last_completed"] = v.LastCompleted.UTC().Format(time.RFC3339Nano)
	}
	code := http.StatusOK
	if !v.Alive() {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (s *Server) keepalive() time.Duration { return orDefault(s.Keepalive, 15*time.Second) }
func (s *Server) retry() time.Duration     { return orDefault(s.Retry, 2*time.Second) }
func (s *Server) writeTimeout() time.Duration {
	return orDefault(s.WriteTimeout, 10*time.Second)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

var _ Liveness = (*watchdog.Liveness)(nil)
