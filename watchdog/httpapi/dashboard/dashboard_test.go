package dashboard_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/httpapi/dashboard"
)

func get(t *testing.T, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	dashboard.Handler().ServeHTTP(rec, req)
	return rec
}

// The page loads nothing from elsewhere and runs no inline code, under a
// policy that says so.
func TestPageIsSelfContainedUnderAStrictPolicy(t *testing.T) {
	rec := get(t, "/")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	csp := rec.Header().Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP %q lacks %q", csp, d)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "*") {
		t.Errorf("CSP %q is not strict", csp)
	}
	page := rec.Body.String()
	scripts := regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`).FindAllStringSubmatch(page, -1)
	if len(scripts) == 0 {
		t.Error("the page has no script")
	}
	for _, sc := range scripts {
		if !strings.Contains(sc[1], "src=") || strings.TrimSpace(sc[2]) != "" {
			t.Errorf("inline script %q", sc[0])
		}
	}
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)\son[a-z]+\s*=`),                 // inline handlers
		regexp.MustCompile(`(?i)\sstyle\s*=|<style`),             // inline style
		regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//`), // anything from elsewhere
		regexp.MustCompile(`(?i)javascript:`),
	} {
		if m := bad.FindString(page); m != "" {
			t.Errorf("page has %q (matched %s)", m, bad)
		}
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 3 {
		t.Fatalf("page references %v; want its script, style and icon", refs)
	}
	wantType := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
	for _, ref := range refs {
		p := ref[1]
		if !strings.HasPrefix(p, "/assets/") {
			t.Errorf("page references %q, not an embedded asset", p)
			continue
		}
		r := get(t, p)
		ext := p[strings.LastIndex(p, "."):]
		if r.Code != 200 || r.Header().Get("Content-Type") != wantType[ext] || r.Body.Len() == 0 {
			t.Errorf("GET %s: %d %q (%d bytes), want 200 %q", p, r.Code, r.Header().Get("Content-Type"), r.Body.Len(), wantType[ext])
		}
		if r.Header().Get("Content-Security-Policy") != csp {
			t.Errorf("GET %s: CSP %q", p, r.Header().Get("Content-Security-Policy"))
		}
	}
	if !strings.Contains(page, `<script type="module" src="/assets/app.js"></script>`) {
		t.Errorf("the page does not load its module")
	}
	if !strings.Contains(page, "container-watchdog agent add NAME --image IMG") {
		t.Errorf("the empty state does not say how to add an agent")
	}
}

func TestOnlyTheEmbeddedFiles(t *testing.T) {
	for _, p := range []string{"/assets/", "/assets/nope.js", "/assets/../dashboard.go", "/index.html", "/assets/assets/app.js"} {
		if rec := get(t, p); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, rec.Code)
		}
	}
}

func TestRevalidatesWithAnETag(t *testing.T) {
	rec := get(t, "/assets/app.js")
	etag := rec.Header().Get("ETag")
	if etag == "" || rec.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q Cache-Control %q", etag, rec.Header().Get("Cache-Control"))
	}
	if rec := get(t, "/assets/app.js", "If-None-Match", etag); rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match the same ETag: %d, want 304", rec.Code)
	}
	if other := get(t, "/assets/style.css").Header().Get("ETag"); other == etag {
		t.Errorf("two files share ETag %s", etag)
	}
}

// EventSource dispatches by event type with no wildcard: the page must
// listen for every type the watchdog can send.
func TestPageListensForEveryEventType(t *testing.T) {
	js := get(t, "/assets/app.js").Body.String()
	m := regexp.MustCompile(`(?s)export const EVENT_TYPES = \[(.*?)\];`).FindStringSubmatch(js)
	if m == nil {
		t.Fatal("app.js has no EVENT_TYPES list")
	}
	listed := map[string]bool{}
	for _, q := range regexp.MustCompile(`"([a-z_]+)"`).FindAllStringSubmatch(m[1], -1) {
		listed[q[1]] = true
	}
	for _, typ := range watchdog.EventTypes() {
		if !listed[string(typ)] {
			t.Errorf("app.js EVENT_TYPES lacks %s: the page would never see it", typ)
		}
	}
}
