package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/container-watchdog/container-watchdog/watchdog/httpapi/dashboard"
)

// stubAPI serves the real page with a /state that has what the daemon does
// not send yet: health and holds (issue 8), and a tick that can be switched
// to skipped. /events sends the frames given, then stays open.
type stubAPI struct {
	skipped atomic.Bool
	frames  []string
}

func (s *stubAPI) handler() http.Handler {
	mux := http.NewServeMux()
	dash := dashboard.Handler()
	mux.Handle("GET /{$}", dash)
	mux.Handle("GET /assets/", dash)
	mux.HandleFunc("GET /state", s.state)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		status := map[string]string{"status": "ok"}
		if s.skipped.Load() {
			status = map[string]string{"status": "degraded", "reason": "docker is unreachable"}
		}
		json.NewEncoder(w).Encode(status)
	})
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 1000\n\n")
		if r.Header.Get("Last-Event-ID") == "" {
			for _, f := range s.frames {
				fmt.Fprint(w, f)
			}
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	return mux
}

func (s *stubAPI) state(w http.ResponseWriter, _ *http.Request) {
	now := time.Now().UTC()
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
	tick := map[string]any{"time": at(-time.Second), "duration_ms": 12.5, "duration": "12.5ms", "result": "completed"}
	instances := []map[string]any{
		{"container": "claude-hooks-web-default", "agent": "web", "instance": "default", "state": "running", "since": at(-time.Hour),
			"docker_state": "running", "health": "unhealthy",
			"last_event": map[string]any{"id": 9, "time": at(-time.Hour), "type": "container_unhealthy", "container": "claude-hooks-web-default",
				"agent": "web", "instance": "default", "detail": "probe exit 1: connection refused"}},
		{"container": "claude-hooks-batch-default", "agent": "batch", "instance": "default", "state": "held", "since": at(-time.Hour),
			"held": true, "hold_reason": "disk maintenance", "hold_until": at(2 * time.Hour)},
		{"container": "claude-hooks-db-default", "agent": "db", "instance": "default", "state": "stopped", "since": at(-time.Hour),
			"docker_state": "exited", "health": "starting",
			"last_event": map[string]any{"id": 10, "time": at(-time.Hour), "type": "container_stopped", "container": "claude-hooks-db-default",
				"agent": "db", "instance": "default", "detail": "docker state exited (Exited (137))",
				"evidence": map[string]string{"CONTAINER_OOM": "true", "CONTAINER_EXIT_CODE": "137", "CONTAINER_CAUSE": "likely killed by the OOM killer"}}},
	}
	if s.skipped.Load() {
		tick["result"], tick["error"], instances = "skipped", "tick skipped: docker ps: Cannot connect to the Docker daemon", nil
	}
	if instances == nil {
		instances = []map[string]any{}
	}
	json.NewEncoder(w).Encode(map[string]any{"tick": tick, "instances": instances, "last_event_id": 10})
}

// newStubServer serves stub until the test ends; the page's event stream
// is cut first, or Close would wait for it.
func newStubServer(t *testing.T, stub *stubAPI) *httptest.Server {
	srv := httptest.NewServer(stub.handler())
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

func stubFrame(id int, typ, container, agent string) string {
	b, _ := json.Marshal(map[string]any{"id": id, "time": time.Now().UTC().Format(time.RFC3339Nano), "type": typ,
		"container": container, "agent": agent, "instance": "default", "detail": "from the stream"})
	return fmt.Sprintf("id: %d\nevent: %s\ndata: %s\n\n", id, typ, b)
}

// Health, holds, evidence, the docker-unreachable banner and the feed's
// filters, at 360 px wide in the dark theme.
func TestDashboardRendersHealthHoldsAndEvidence(t *testing.T) {
	b := newBrowser(t, 360, 800)
	stub := &stubAPI{frames: []string{
		stubFrame(11, "container_healthy", "claude-hooks-web-default", "web"),
		stubFrame(12, "container_released", "claude-hooks-batch-default", "batch"),
		stubFrame(13, "container_orphaned", "claude-hooks-old-x", "old"),
	}}
	srv := newStubServer(t, stub)
	b.do(20*time.Second,
		chromedp.EmulateViewport(360, 800),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
			return err
		}),
		chromedp.Navigate(srv.URL+"/"))
	b.waitFor("three rows", `document.querySelectorAll('#rows tr').length === 3`, 10*time.Second)

	cell := func(container, col string) string {
		return eval[string](b, fmt.Sprintf(`document.querySelector('tr[data-container=%q] td.%s').textContent`, container, col))
	}
	if got := cell("claude-hooks-db-default", "health"); got != "starting" {
		t.Errorf("db health %q, want starting", got)
	}
	if got := cell("claude-hooks-db-default", "state"); !strings.Contains(got, "stopped") {
		t.Errorf("db state %q", got)
	}
	chips := eval[[]string](b, `[...document.querySelectorAll('tr[data-container="claude-hooks-db-default"] td.last .chip')].map(c => c.textContent)`)
	if fmt.Sprint(chips) != "[exit 137 OOM likely killed by the OOM killer]" {
		t.Errorf("db evidence %q, want exit 137, OOM and the cause", chips)
	}
	// The stream's events update rows in place: web becomes healthy, the
	// hold on batch ends.
	b.waitFor("web healthy", `document.querySelector('tr[data-container="claude-hooks-web-default"] td.health').textContent === 'healthy'`, 5*time.Second)
	b.waitFor("batch released", `document.querySelector('tr[data-container="claude-hooks-batch-default"]').dataset.state === 'released'`, 5*time.Second)
	// The feed is redrawn at most 4 times a second.
	b.waitFor("the 3 events in the feed", `document.querySelectorAll('#feed li').length === 3`, 5*time.Second)

	// A hold as /state reports it: reason and end.
	stub2 := &stubAPI{}
	srv2 := newStubServer(t, stub2)
	b.do(20*time.Second, chromedp.Navigate(srv2.URL+"/"))
	b.waitFor("three rows", `document.querySelectorAll('#rows tr').length === 3`, 10*time.Second)
	hold := cell("claude-hooks-batch-default", "hold")
	if !strings.Contains(hold, "held") || !strings.Contains(hold, "disk maintenance") || !strings.Contains(hold, "until ") {
		t.Errorf("batch hold %q, want held, its reason and its end", hold)
	}
	for _, want := range []string{"unhealthy", "probe exit 1: connection refused"} {
		if got := cell("claude-hooks-web-default", "health") + cell("claude-hooks-web-default", "last"); !strings.Contains(got, want) {
			t.Errorf("web row %q lacks %q", got, want)
		}
	}
	if !strings.Contains(eval[string](b, `document.getElementById('counts').textContent`), "1 unhealthy") {
		t.Errorf("counts %q do not count the unhealthy container", eval[string](b, `document.getElementById('counts').textContent`))
	}

	// Usable at 360 px: nothing wider than the screen; the dark theme is on.
	if w := eval[int](b, `document.documentElement.scrollWidth`); w > 360 {
		t.Errorf("page is %d px wide at a 360 px viewport", w)
	}
	if w := eval[[]int](b, `(t => [t.scrollWidth, t.clientWidth])(document.getElementById('table'))`); w[0] > w[1] {
		t.Errorf("the table scrolls sideways at 360 px (%d px in %d)", w[0], w[1])
	}
	if bg := eval[string](b, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(15, 18, 23)" {
		t.Errorf("body background %q under prefers-color-scheme: dark, want the dark theme's rgb(15, 18, 23)", bg)
	}
	// Every control has an accessible name, as the browser computes it.
	actx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	tree, err := chromedp.Run(actx, chromedp.Action[*accessibility.GetFullAXTreeResult](func(ctx context.Context, tg *chromedp.Target) (*accessibility.GetFullAXTreeResult, error) {
		r, err := cdp.Call(ctx, tg, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
		return &r, err
	}))
	if err != nil {
		t.Fatal(err)
	}
	controls := 0
	for _, n := range tree.Nodes {
		if n.Ignored || n.Role == nil {
			continue
		}
		switch strings.Trim(string(n.Role.Value), `"`) {
		case "combobox", "button", "textbox", "checkbox", "link":
			controls++
			if n.Name == nil || strings.Trim(string(n.Name.Value), `" `) == "" {
				t.Errorf("a %s without an accessible name", n.Role.Value)
			}
		}
	}
	if controls < 2 {
		t.Errorf("found %d named controls, want the two filters at least", controls)
	}

	// Filters: by type, then by agent.
	b.do(5*time.Second, chromedp.Navigate(srv.URL+"/"))
	b.waitFor("the feed", `document.querySelectorAll('#feed li').length === 3`, 10*time.Second)
	eval[bool](b, `(() => { const s = document.getElementById('filter-type'); s.value = 'container_orphaned'; s.dispatchEvent(new Event('change')); return true })()`)
	if got := eval[[]string](b, `[...document.querySelectorAll('#feed li')].map(li => li.dataset.type)`); fmt.Sprint(got) != "[container_orphaned]" {
		t.Errorf("type filter shows %v", got)
	}
	eval[bool](b, `(() => { const t = document.getElementById('filter-type'); t.value = ''; t.dispatchEvent(new Event('change'));
		const a = document.getElementById('filter-agent'); a.value = 'web'; a.dispatchEvent(new Event('change')); return true })()`)
	if got := eval[[]string](b, `[...document.querySelectorAll('#feed li')].map(li => li.dataset.type)`); fmt.Sprint(got) != "[container_healthy]" {
		t.Errorf("agent filter shows %v", got)
	}
	b.screenshot("dashboard-360-dark.png")

	// Docker unreachable: a banner, the rows kept as last seen.
	stub.skipped.Store(true)
	b.waitFor("the docker banner", `!document.getElementById('docker-down').hidden`, 10*time.Second)
	if text := eval[string](b, `document.getElementById('docker-down').textContent`); !strings.Contains(text, "Cannot connect to the Docker daemon") {
		t.Errorf("docker banner %q does not say why", text)
	}
	if n := eval[int](b, `document.querySelectorAll('#rows tr').length`); n != 3 || !eval[bool](b, `document.getElementById('empty').hidden`) {
		t.Errorf("after a skipped tick: %d rows, empty state shown %v; want the rows kept", n, !eval[bool](b, `document.getElementById('empty').hidden`))
	}
	if h := eval[string](b, `document.getElementById('tick').textContent`); !strings.Contains(h, "degraded") || !strings.Contains(h, "docker is unreachable") {
		t.Errorf("tick %q, want degraded and why", h)
	}
	b.screenshot("dashboard-docker-down.png")
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}
