package main

// Chromium for the dashboard tests and benchmarks: Debian's `chromium`,
// headless, driven by chromedp. A missing chromium skips, except under
// CI=true, where it fails (scripts/ci-setup.sh installs it).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browserBudget bounds a whole browser test, chromium included.
const browserBudget = 2 * time.Minute

// skipOrFailBrowser skips without chromium, or fails under CI=true.
func skipOrFailBrowser(tb testing.TB, msg string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("browser test cannot run, and CI=true requires it: %s (scripts/ci-setup.sh installs Debian's chromium)", msg)
	}
	tb.Skipf("skipping browser test: %s (CI=true makes this fatal)", msg)
}

// browser is one headless chromium with one tab, and what its console said.
type browser struct {
	ctx context.Context
	tb  testing.TB

	mu      sync.Mutex
	console []consoleLine
}

type consoleLine struct {
	source, level, text string
}

func (c consoleLine) String() string { return c.source + "/" + c.level + ": " + c.text }

// newBrowser starts chromium (stopped at cleanup, by chromedp, which
// started it) and opens a tab whose console is recorded from the start.
func newBrowser(tb testing.TB, width, height int) *browser {
	tb.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		skipOrFailBrowser(tb, "no chromium on PATH")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(width, height), chromedp.UserDataDir(filepath.Join(tb.TempDir(), "profile")))
	// The budget ends chromium too, so a stuck step cannot hold the test.
	budget, cancelBudget := context.WithTimeout(context.Background(), browserBudget)
	actx, cancelAlloc := chromedp.NewExecAllocator(budget, opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	tb.Cleanup(func() {
		// Close the browser the polite way first, so chromium reaps its own
		// helper processes; then the allocator waits for it (killing it,
		// by its pid, if it lingers).
		_ = chromedp.Cancel(ctx)
		cancelTab()
		cancelAlloc()
		cancelBudget()
	})
	b := &browser{ctx: ctx, tb: tb}
	if err := chromedp.Do(ctx); err != nil { // start it, open the tab
		skipOrFailBrowser(tb, fmt.Sprintf("chromium %s does not start: %v", path, err))
	}
	if err := chromedp.Listen(ctx, b.record); err != nil {
		tb.Fatal(err)
	}
	return b
}

func (b *browser) record(ev any) {
	var l consoleLine
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		l.source, l.level = "console", string(e.Type)
		for _, a := range e.Args {
			l.text += string(a.Value) + a.Description + " "
		}
	case *runtime.EventExceptionThrown:
		l.source, l.level, l.text = "exception", "error", e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			l.text += " " + e.ExceptionDetails.Exception.Description
		}
	case *log.EventEntryAdded:
		l.source, l.level, l.text = string(e.Entry.Source), string(e.Entry.Level), e.Entry.Text+" "+e.Entry.URL
	default:
		return
	}
	b.mu.Lock()
	b.console = append(b.console, l)
	b.mu.Unlock()
}

// errors returns the console's errors and exceptions so far, leaving out
// those from a source in allowed.
func (b *browser) errors(allowed ...string) []consoleLine {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []consoleLine
next:
	for _, l := range b.console {
		if l.level != "error" && l.source != "exception" && !strings.Contains(strings.ToLower(l.text), "content security policy") {
			continue
		}
		for _, a := range allowed {
			if l.source == a {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

// do runs actions with a deadline.
func (b *browser) do(within time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, within)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.tb.Fatalf("browser: %v; console: %v", err, b.errors())
	}
}

// eval evaluates a JavaScript expression in the page into T.
func eval[T any](b *browser, expr string) T {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.tb.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript predicate in the page until it is true.
func (b *browser) waitFor(what, predicate string, within time.Duration) {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, within+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(within))); err != nil {
		b.tb.Fatalf("waiting for %s (%s) within %s: %v; console: %v", what, predicate, within, err, b.errors())
	}
}

// screenshot saves the page to $CW_SCREENSHOT_DIR/name when that is set.
func (b *browser) screenshot(name string) {
	b.tb.Helper()
	dir := os.Getenv("CW_SCREENSHOT_DIR")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.tb.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		b.tb.Fatal(err)
	}
	b.tb.Logf("screenshot: %s", filepath.Join(dir, name))
}
