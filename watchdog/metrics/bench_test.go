package metrics_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/exec"
	"github.com/container-watchdog/container-watchdog/exec/fakeexec"
	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/docker"
	"github.com/container-watchdog/container-watchdog/watchdog/metrics"
	"github.com/container-watchdog/container-watchdog/watchdog/sqlite"
)

// fleet is n expected instances over agents of 10 instances each.
func fleet(n int) []watchdog.InstanceState {
	out := make([]watchdog.InstanceState, n)
	for i := range out {
		agent := fmt.Sprintf("agent%02d", i/10)
		in := fmt.Sprintf("i%d", i%10)
		out[i] = watchdog.InstanceState{Container: "claude-hooks-" + agent + "-" + in, Agent: agent, Instance: in,
			State: watchdog.StateRunning, Docker: "running"}
	}
	return out
}

// BenchmarkScrape500 is one /metrics scrape (the handler, text format) of a
// daemon watching 500 instances, with every histogram holding samples.
func BenchmarkScrape500(b *testing.B) {
	m := metrics.New(metrics.Options{Version: "bench", Prefix: "claude-hooks-", Interval: time.Minute,
		SSE: func() (int, int64) { return 3, 0 }})
	insts := fleet(500)
	now := time.Now()
	m.ObserveTick(watchdog.TickReport{Started: now, Duration: 150 * time.Millisecond, Result: watchdog.TickCompleted, Instances: insts}, nil)
	for i, in := range insts[:50] {
		at := now.Add(time.Duration(i) * time.Second)
		m.Publish(watchdog.Event{Time: at, DockerTime: at.Add(-50 * time.Millisecond), Type: watchdog.EventMissing, Container: in.Container, Agent: in.Agent, Instance: in.Instance})
		m.Publish(watchdog.Event{Time: at.Add(400 * time.Millisecond), Type: watchdog.EventRecreated, Container: in.Container, Agent: in.Agent, Instance: in.Instance})
	}
	h := m.Handler()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	var size int
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "bytes/scrape")
}

// BenchmarkTickWithScrapes is what 10 scrapes a second cost the tick: the
// real Watcher, docker adapter and SQLite registry over a scripted `docker
// ps` of 500 containers (one flips each tick, so each tick reports an
// event), publishing to Metrics and observed by it, as in the daemon. Ticks
// run in blocks alternating with and without a scraper GETting /metrics
// over loopback 10 times a second, so both modes share the machine's
// moments. It reports tick-ns-bare, tick-ns-scraped and their ratio.
func BenchmarkTickWithScrapes(b *testing.B) { benchTickWithScrapes(b, false) }

// BenchmarkTickWithScrapesRealPS has each listing also pay a real `docker
// ps` of the local engine (of a prefix nothing has), as a tick does.
func BenchmarkTickWithScrapesRealPS(b *testing.B) {
	if err := osexec.Command("docker", "version").Run(); err != nil {
		b.Skipf("no docker engine answers: %v", err)
	}
	benchTickWithScrapes(b, true)
}

func benchTickWithScrapes(b *testing.B, realPS bool) {
	const containers, block = 500, 10
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "r.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	insts := fleet(containers)
	agents := map[string]*watchdog.Agent{}
	for _, in := range insts {
		a := agents[in.Agent]
		if a == nil {
			a = &watchdog.Agent{Name: in.Agent, Image: "agent:1", StatePath: "/state"}
			agents[in.Agent] = a
		}
		a.Instances = append(a.Instances, in.Instance)
	}
	for _, a := range agents {
		if _, err := db.AddAgent(ctx, *a); err != nil {
			b.Fatal(err)
		}
	}
	var flip atomic.Int64
	runner := &fakeexec.Runner{Handler: func(_ context.Context, _ string, args []string, _ func(string)) (exec.Result, error) {
		if args[0] != "ps" {
			return exec.Result{ExitCode: 1, Stderr: []byte("unexpected " + args[0])}, nil
		}
		if realPS {
			out, err := osexec.Command("docker", "ps", "-a", "--filter", "name=^cwbench-nothing-", "--format", "{{.ID}}").CombinedOutput()
			if err != nil || len(out) != 0 {
				return exec.Result{ExitCode: 1, Stderr: out}, nil
			}
		}
		var out strings.Builder
		for i, in := range insts {
			state := "running"
			if i == 0 && flip.Add(1)%2 == 0 {
				state = "exited"
			}
			fmt.Fprintf(&out, "%012d\t%s\t%s\ttrue\t%s\t%s\t%s\tUp 1 hour\n", i, in.Container, state, in.Agent, in.Instance, agents[in.Agent].ConfigHash())
		}
		return exec.Result{Stdout: []byte(out.String())}, nil
	}}
	dc := &docker.Client{Runner: runner, Program: "docker"}
	m := metrics.New(metrics.Options{Version: "bench", Prefix: "claude-hooks-", Interval: time.Minute})
	w := &watchdog.Watcher{
		Docker: dc, Registry: db, Reconciler: &watchdog.Reconciler{Docker: dc, Prefix: "claude-hooks-"},
		Publisher: m, Prefix: "claude-hooks-", Log: slog.New(slog.DiscardHandler),
	}
	tick := func() time.Duration {
		start := time.Now()
		rep, err := w.Tick(ctx)
		m.ObserveTick(rep, err)
		d := time.Since(start)
		if err != nil || len(rep.Events) != 1 {
			b.Fatalf("tick: %v, %d events, want 1", err, len(rep.Events))
		}
		return d
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: m.Handler()}
	go srv.Serve(ln)
	defer srv.Close()
	var scraping atomic.Bool
	var scrapes atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // 10 a second, while scraping is on
		defer close(done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if !scraping.Load() {
				continue
			}
			resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
			if err != nil {
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			scrapes.Add(1)
		}
	}()
	defer func() { close(stop); <-done }()

	if _, err := w.Tick(ctx); err != nil { // first sight: no event yet
		b.Fatal(err)
	}
	for range 20 { // warm the registry and the caches
		tick()
	}
	n := max(b.N, 400)
	var bare, scraped time.Duration
	runs := 0
	b.ResetTimer()
	for ; runs < n; runs += block {
		scraping.Store(false)
		for range block {
			bare += tick()
		}
		scraping.Store(true)
		for range block {
			scraped += tick()
		}
	}
	b.StopTimer()
	scraping.Store(false)
	if scrapes.Load() == 0 {
		b.Fatal("no scrape happened")
	}
	b.ReportMetric(float64(bare.Nanoseconds())/float64(runs), "tick-ns-bare")
	b.ReportMetric(float64(scraped.Nanoseconds())/float64(runs), "tick-ns-scraped")
	b.ReportMetric(float64(scraped)/float64(bare), "tick-ratio")
	b.ReportMetric(float64(scrapes.Load()), "scrapes")
}
