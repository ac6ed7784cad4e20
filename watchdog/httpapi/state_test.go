package httpapi_test

// GET /state and /healthz, and the methods and paths every endpoint refuses.

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

func TestState(t *testing.T) {
	e := newEnv(t, 16, nil)
	get := func() (map[string]any, string) {
		t.Helper()
		resp, err := http.Get(e.srv.URL + "/state")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("status %d Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("not JSON: %v: %s", err, b)
		}
		return m, string(b)
	}

	m, raw := get()
	if m["tick"] != nil || !reflect.DeepEqual(m["instances"], []any{}) {
		t.Fatalf("before any tick: %s; want tick null and instances []", raw)
	}

	since := t0.Add(-time.Hour)
	e.health.Record(watchdog.TickReport{
		Started: t0, Duration: 1500 * time.Millisecond, Result: "completed",
		Instances: []watchdog.InstanceState{
			{Container: "claude-hooks-dev-default", Agent: "dev", Instance: "default", State: watchdog.StateRunning, Since: since, Docker: "running"},
			{Container: "claude-hooks-dev-b", Agent: "dev", Instance: "b", State: watchdog.StateMissing, Since: since},
		},
	}, nil, t0.Add(1500*time.Millisecond))
	m, raw = get()
	tick, _ := m["tick"].(map[string]any)
	want := map[string]any{"time": "2026-04-20T11:55:26.123Z", "duration_ms": 1500.0, "duration": "1.5s", "result": "completed"}
	if !reflect.DeepEqual(tick, want) {
		t.Errorf("tick %v, want %v (%s)", tick, want, raw)
	}
	insts, _ := m["instances"].([]any)
	if len(insts) != 2 {
		t.Fatalf("instances: %s", raw)
	}
	first, _ := insts[0].(map[string]any)
	wantInst := map[string]any{"container": "claude-hooks-dev-default", "agent": "dev", "instance": "default",
		"state": "running", "since": "2026-04-20T10:55:26.123Z", "docker_state": "running"}
	if !reflect.DeepEqual(first, wantInst) {
		t.Errorf("instance %v, want %v", first, wantInst)
	}
	if second, _ := insts[1].(map[string]any); second["state"] != "missing" {
		t.Errorf("second instance %v", second)
	}

	e.health.Record(watchdog.TickReport{Started: t0, Duration: 3 * time.Millisecond, Result: "skipped", Error: "tick skipped: docker ps: timed out"}, watchdog.ErrSkipped, t0)
	m, raw = get()
	tick, _ = m["tick"].(map[string]any)
	// A skipped tick saw nothing: the instances the last tick saw stand.
	if tick["result"] != "skipped" || tick["error"] != "tick skipped: docker ps: timed out" || !reflect.DeepEqual(m["instances"], insts) {
		t.Errorf("skipped tick: %s; want its error and the instances seen before", raw)
	}
}

func TestHealthz(t *testing.T) {
	e := newEnv(t, 16, nil) // Interval 10s
	check := func(now time.Time, want int, reason string) {
		t.Helper()
		e.clock.Set(now)
		resp, err := http.Get(e.srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || !strings.Contains(string(b), reason) {
			t.Errorf("at %s: %d %s; want %d with %q", now.Sub(t0), resp.StatusCode, b, want, reason)
		}
		if resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
		}
	}
	check(t0, 503, "no tick has completed yet")

	e.health.Record(watchdog.TickReport{Result: "completed"}, nil, t0)
	check(t0, 200, `"status": "ok"`)
	check(t0.Add(15*time.Second), 200, "ok")
	check(t0.Add(20*time.Second), 200, "ok")
	check(t0.Add(20*time.Second+time.Millisecond), 503, "more than two intervals")
	check(t0.Add(time.Hour), 503, "more than two intervals")

	// A skipped tick counts as completed (the loop is alive), and says
	// it is degraded; an old one is as stale as any.
	e.health.Record(watchdog.TickReport{Result: "skipped", Error: "tick skipped: docker ps: timed out"}, watchdog.ErrSkipped, t0.Add(time.Hour))
	check(t0.Add(time.Hour), 200, `"status": "degraded"`)
	check(t0.Add(time.Hour), 200, "docker ps: timed out")
	check(t0.Add(time.Hour+21*time.Second), 503, "more than two intervals")
}

func TestOnlyGET(t *testing.T) {
	e := newEnv(t, 16, nil)
	for _, path := range []string{"/events", "/state", "/healthz"} {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader("{}"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d, want 405", method, path, resp.StatusCode)
			}
			if allow := resp.Header.Get("Allow"); !strings.Contains(allow, "GET") {
				t.Errorf("%s %s: Allow %q", method, path, allow)
			}
		}
	}
	resp, err := http.Get(e.srv.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope: %d", resp.StatusCode)
	}
	if n, _ := e.broker.Stats(); n != 0 {
		t.Errorf("%d subscribers from refused requests", n)
	}
}
