package httpapi_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/container-watchdog/container-watchdog/watchdog/httpapi"
)

// do sends one request with the given Host header straight to the handler.
func do(h http.Handler, method, target, host string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(""))
	req.Host = host
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func guardedServer(t *testing.T, listen string, metrics http.Handler) http.Handler {
	t.Helper()
	e := newEnv(t, 4, nil)
	addr, err := net.ResolveTCPAddr("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	s := &httpapi.Server{Broker: e.broker, Events: e.log, Liveness: e.health, Clock: e.clock, Addr: addr, Metrics: metrics}
	return s.Handler()
}

// On a loopback listener, only the listening address, localhost and
// loopback addresses may be named in Host: a rebinding page's own name is
// refused with 421 before any route runs.
func TestLoopbackListenerRefusesOtherHosts(t *testing.T) {
	h := guardedServer(t, "127.0.0.1:8787", nil)
	for host, want := range map[string]int{
		"127.0.0.1:8787":              200,
		"localhost:8787":              200,
		"LocalHost":                   200,
		"localhost":                   200,
		"127.0.0.1":                   200,
		"127.9.9.9:1":                 200,
		"[::1]:8787":                  200,
		"evil.example:8787":           421,
		"evil.example":                421,
		"localhost.evil.example":      421,
		"127.0.0.1.evil.example":      421,
		"192.168.1.10:8787":           421,
		"[2001:db8::1]:8787":          421,
		"":                            421,
		"localhost:8787@evil.example": 421,
	} {
		rec := do(h, http.MethodGet, "/healthz", host)
		code := rec.Code
		if code == http.StatusServiceUnavailable { // healthz answered: the host passed
			code = 200
		}
		if code != want {
			t.Errorf("Host %q: %d, want %d (%s)", host, rec.Code, want, rec.Body)
		}
		if code == 421 && !strings.Contains(rec.Body.String(), "misdirected") {
			t.Errorf("Host %q: body %q does not say why", host, rec.Body)
		}
	}
}

// A listener reached by name on purpose (not loopback) checks no Host.
func TestNonLoopbackListenerChecksNoHost(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:8787", "192.0.2.7:8787"} {
		h := guardedServer(t, listen, nil)
		if rec := do(h, http.MethodGet, "/state", "watchdog.example:8787"); rec.Code != 200 {
			t.Errorf("listen %s, Host watchdog.example: %d", listen, rec.Code)
		}
	}
}

// Every response says nosniff: pages, data, errors and refusals alike.
func TestNosniffOnEveryResponse(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "x 1\n") })
	h := guardedServer(t, "127.0.0.1:8787", metrics)
	for _, tc := range []struct{ method, path, host string }{
		{"GET", "/", "localhost:8787"}, {"GET", "/assets/app.js", "localhost:8787"}, {"GET", "/state", "localhost:8787"},
		{"GET", "/healthz", "localhost:8787"}, {"GET", "/metrics", "localhost:8787"}, {"GET", "/nope", "localhost:8787"},
		{"POST", "/state", "localhost:8787"}, {"GET", "/state", "evil.example"},
	} {
		rec := do(h, tc.method, tc.path, tc.host)
		if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s (Host %s) -> %d: X-Content-Type-Options %q", tc.method, tc.path, tc.host, rec.Code, got)
		}
	}
}

// /, its assets and /metrics are read-only: anything but GET (and HEAD)
// is refused before a handler runs.
func TestPageAndMetricsAreReadOnly(t *testing.T) {
	var calls atomic.Int32
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		io.WriteString(w, "x 1\n")
	})
	h := guardedServer(t, "127.0.0.1:8787", metrics)
	for _, path := range []string{"/", "/assets/app.js", "/metrics"} {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			if rec := do(h, method, path, "localhost"); rec.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d, want 405", method, path, rec.Code)
			}
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the metrics handler ran %d times for refused methods", n)
	}
	if rec := do(h, http.MethodGet, "/metrics", "localhost"); rec.Code != 200 || rec.Body.String() != "x 1\n" || calls.Load() != 1 {
		t.Errorf("GET /metrics: %d %q", rec.Code, rec.Body)
	}
	if rec := do(h, http.MethodGet, "/", "localhost"); rec.Code != 200 || !strings.Contains(rec.Body.String(), "container-watchdog") {
		t.Errorf("GET /: %d", rec.Code)
	}
}

// Without a metrics handler there is no /metrics route.
func TestNoMetricsRouteWithoutHandler(t *testing.T) {
	h := guardedServer(t, "127.0.0.1:8787", nil)
	if rec := do(h, http.MethodGet, "/metrics", "localhost"); rec.Code != http.StatusNotFound {
		t.Errorf("GET /metrics without a handler: %d, want 404", rec.Code)
	}
}
