package notify_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/exec"
	"github.com/container-watchdog/container-watchdog/exec/fakeexec"
	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/docker"
	"github.com/container-watchdog/container-watchdog/watchdog/notify"
	"github.com/container-watchdog/container-watchdog/watchdog/notify/webhook"
	"github.com/container-watchdog/container-watchdog/watchdog/sqlite"
)

// BenchmarkTickNotify measures what notifications cost the tick: two real
// Watchers over the real SQLite registry and a scripted `docker ps` of 20
// containers, 10 of which flip between running and exited on every tick
// (10 events a tick, stored with their outbox rows), each ticking every
// 100 ms (100 events a second each), alternately, so both see the same
// machine. One registry has no sink; the other has 5 webhook sinks taking
// every event, 4 answering at once and 1 hanging (its attempts time out).
// A Sender with the default policy runs on each. It reports the mean tick
// time with 0 and with 5 sinks (tick-ns-0sinks, tick-ns-5sinks), their
// ratio (goal <= 1.05) and the median ratio.
//
// The scripted listing is instant, so this tick is all registry work, far
// shorter than a real one; BenchmarkTickNotifyRealPS pays a real `docker
// ps` per listing.
//
//	scripts/bench-notify.sh
func BenchmarkTickNotify(b *testing.B) { benchTickNotify(b, notify.Policy{}, false) }

// BenchmarkTickNotifyBusy is BenchmarkTickNotify with a one-second burst
// window, so the 4 answering sinks get a summary every second instead of
// one a minute: the sender works all the time the ticks are measured.
func BenchmarkTickNotifyBusy(b *testing.B) {
	benchTickNotify(b, notify.Policy{BurstWindow: time.Second}, false)
}

// BenchmarkTickNotifyRealPS is BenchmarkTickNotify with each listing also
// paying for a real `docker ps -a --filter` call to the local engine (of a
// prefix nothing has, so the scripted containers stay the answer).
func BenchmarkTickNotifyRealPS(b *testing.B) {
	if err := osexec.Command("docker", "version").Run(); err != nil {
		b.Skipf("no docker engine answers: %v", err)
	}
	benchTickNotify(b, notify.Policy{}, true)
}

func benchTickNotify(b *testing.B, pol notify.Policy, realPS bool) {
	const pace = 50 * time.Millisecond // one tick every 50 ms, alternating: 100 ms each
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var received atomic.Int64
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { received.Add(1) }))
	defer ok.Close()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)

	bare := newBenchWatcher(b, ctx, pol, realPS, nil)
	var urls []string
	for i := 0; i < 4; i++ {
		urls = append(urls, fmt.Sprintf("%s/sink%d", ok.URL, i))
	}
	loaded := newBenchWatcher(b, ctx, pol, realPS, append(urls, hang.URL))

	tick := func(w *watchdog.Watcher) time.Duration {
		start := time.Now()
		rep, err := w.Tick(ctx)
		d := time.Since(start)
		if err != nil || len(rep.Events) != 10 {
			b.Fatalf("tick: %v, %d events, want 10", err, len(rep.Events))
		}
		return d
	}
	for i := 0; i < 20; i++ { // warm the registries and the caches
		tick(bare)
		tick(loaded)
	}
	n := max(b.N, 100)
	var t0, t5 []time.Duration
	next := time.Now()
	b.ResetTimer()
	for i := 0; i < n; i++ {
		for _, w := range []*watchdog.Watcher{bare, loaded} {
			time.Sleep(time.Until(next))
			next = next.Add(pace)
			if w == bare {
				t0 = append(t0, tick(w))
			} else {
				t5 = append(t5, tick(w))
			}
		}
	}
	b.StopTimer()
	if received.Load() == 0 {
		b.Fatal("the answering sinks received nothing: the sender did not run")
	}
	mean := func(ds []time.Duration) float64 {
		var s time.Duration
		for _, d := range ds {
			s += d
		}
		return float64(s.Nanoseconds()) / float64(len(ds))
	}
	median := func(ds []time.Duration) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[len(s)/2].Nanoseconds())
	}
	b.ReportMetric(mean(t0), "tick-ns-0sinks")
	b.ReportMetric(mean(t5), "tick-ns-5sinks")
	b.ReportMetric(mean(t5)/mean(t0), "tick-ratio")
	b.ReportMetric(median(t5)/median(t0), "tick-ratio-p50")
	b.ReportMetric(float64(received.Load()), "requests")
}

// newBenchWatcher is a Watcher over its own registry with the given sinks
// and a running Sender that the tick's publish wakes.
func newBenchWatcher(b *testing.B, ctx context.Context, pol notify.Policy, realPS bool, urls []string) *watchdog.Watcher {
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "r.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	var instances []string
	for i := 0; i < 20; i++ {
		instances = append(instances, fmt.Sprintf("i%02d", i))
	}
	agent := watchdog.Agent{Name: "dev", Image: "agent:1", StatePath: "/state", Instances: instances}
	if _, err := db.AddAgent(ctx, agent); err != nil {
		b.Fatal(err)
	}
	for i, u := range urls {
		if err := db.AddSink(ctx, notify.Sink{Name: fmt.Sprintf("s%d", i), URL: u, MinPriority: 7, CreatedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	sender := &notify.Sender{
		Outbox: db, Policy: pol, Log: slog.New(slog.DiscardHandler),
		Open: func(_ context.Context, s notify.Sink) (notify.Transport, error) { return webhook.New(s, "bench") },
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = sender.Run(ctx) }()
	b.Cleanup(func() { <-done })

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
		down := flip.Add(1)%2 == 0
		var out strings.Builder
		for i, in := range instances {
			state := "running"
			if i < 10 && down {
				state = "exited"
			}
			fmt.Fprintf(&out, "%012d\tclaude-hooks-dev-%s\t%s\ttrue\tdev\t%s\t%s\tUp 1 hour\n", i, in, state, in, agent.ConfigHash())
		}
		return exec.Result{Stdout: []byte(out.String())}, nil
	}}
	dc := &docker.Client{Runner: runner, Program: "docker"}
	w := &watchdog.Watcher{
		Docker: dc, Registry: db, Reconciler: &watchdog.Reconciler{Docker: dc, Prefix: "claude-hooks-"},
		Publisher: sender, Prefix: "claude-hooks-", Log: slog.New(slog.DiscardHandler),
	}
	if _, err := w.Tick(ctx); err != nil { // first sight: no events yet
		b.Fatal(err)
	}
	return w
}
