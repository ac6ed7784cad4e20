package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
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
	"github.com/container-watchdog/container-watchdog/watchdog/httpapi"
	"github.com/container-watchdog/container-watchdog/watchdog/sqlite"
)

// BenchmarkTickSubscribers measures what 1000 attached SSE clients cost the
// tick: the real Watcher over the real docker adapter (a scripted `docker
// ps` of 20 containers, one of which flips between running and exited so
// every tick emits one event), the real SQLite registry, publishing to a
// Broker, first with no client, then with 1000 reading over loopback. It
// reports tick-ns-0subs, tick-ns-1000subs and their ratio (goal <= 1.05).
//
// The scripted listing is instant, which makes the tick far shorter than a
// real one; BenchmarkTickSubscribersRealPS pays a real `docker ps` call.
func BenchmarkTickSubscribers(b *testing.B) { benchTickSubscribers(b, false) }

// BenchmarkTickSubscribersRealPS is BenchmarkTickSubscribers with each
// listing also paying for a real `docker ps -a --filter` call to the local
// engine (of a prefix nothing has, so the scripted containers stay the
// answer): the tick's real cost, with the clients' cost on top.
func BenchmarkTickSubscribersRealPS(b *testing.B) {
	if err := osexec.Command("docker", "version").Run(); err != nil {
		b.Skipf("no docker engine answers: %v", err)
	}
	benchTickSubscribers(b, true)
}

// tickRig is the watched world of the tick benchmarks: the real Watcher
// and SQLite registry over a scripted `docker ps` of 20 containers, one of
// which flips between running and exited so every tick emits one event,
// publishing to a Broker. With realPS each listing also pays a real
// `docker ps` call of a prefix nothing has.
func tickRig(b *testing.B, realPS bool) (*watchdog.Watcher, *httpapi.Broker) {
	const containers = 20
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "r.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	var instances []string
	for i := 0; i < containers; i++ {
		instances = append(instances, fmt.Sprintf("i%02d", i))
	}
	agent := watchdog.Agent{Name: "dev", Image: "agent:1", StatePath: "/state", Instances: instances}
	if _, err := db.AddAgent(ctx, agent); err != nil {
		b.Fatal(err)
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
		for i, in := range instances {
			state := "running"
			if i == 0 && flip.Add(1)%2 == 0 {
				state = "exited"
			}
			fmt.Fprintf(&out, "%012d\tclaude-hooks-dev-%s\t%s\ttrue\tdev\t%s\t%s\tUp 1 hour\n", i, in, state, in, agent.ConfigHash())
		}
		return exec.Result{Stdout: []byte(out.String())}, nil
	}}
	dc := &docker.Client{Runner: runner, Program: "docker"}
	broker := runBroker(b, 256)
	w := &watchdog.Watcher{
		Docker: dc, Registry: db, Reconciler: &watchdog.Reconciler{Docker: dc, Prefix: "claude-hooks-"},
		Publisher: broker, Prefix: "claude-hooks-", Log: slog.New(slog.DiscardHandler),
	}
	return w, broker
}

func benchTickSubscribers(b *testing.B, realPS bool) {
	const subs = 1000
	ctx := context.Background()
	w, broker := tickRig(b, realPS)
	var received atomic.Int64
	delivered := func(want int64) {
		for deadline := time.Now().Add(30 * time.Second); received.Load() < want; time.Sleep(50 * time.Microsecond) {
			if time.Now().After(deadline) {
				b.Fatalf("clients received %d of %d events", received.Load(), want)
			}
		}
	}
	// ticks times n ticks. With clients attached it lets each tick's event
	// reach every client before the next tick, untimed: ticks are an
	// interval apart in the daemon, and this measures what the clients cost
	// a tick, not a tick racing the previous fan-out for the CPU.
	ticks := func(n, clients int) time.Duration {
		var total time.Duration
		for i := 0; i < n; i++ {
			want := received.Load() + int64(clients)
			start := time.Now()
			rep, err := w.Tick(ctx)
			total += time.Since(start)
			if err != nil || len(rep.Events) != 1 {
				b.Fatalf("tick: %v, %d events, want 1", err, len(rep.Events))
			}
			delivered(want)
		}
		return total
	}
	if _, err := w.Tick(ctx); err != nil { // first sight: no event yet
		b.Fatal(err)
	}
	ticks(20, 0) // warm the registry and the caches

	n := max(b.N, 200)
	bare := ticks(n, 0)

	api := &httpapi.Server{Broker: broker, Events: &fakeLog{}, Liveness: &watchdog.Liveness{Interval: time.Minute}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: api.Handler()}
	go srv.Serve(ln)
	defer srv.Close()
	for i := 0; i < subs; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatalf("dial %d: %v", i, err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /events HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
			b.Fatal(err)
		}
		go func() {
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadSlice('\n')
				if err != nil {
					return
				}
				if strings.HasPrefix(string(line), "id:") {
					received.Add(1)
				}
			}
		}()
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		if got, _ := broker.Stats(); got == subs {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("clients did not all subscribe within 30s")
		}
	}
	b.ResetTimer()
	loaded := ticks(n, subs) // fails unless every client had every event
	b.StopTimer()
	if got, dropped := broker.Stats(); got != subs || dropped != 0 {
		b.Fatalf("%d subscribers, %d dropped", got, dropped)
	}
	b.ReportMetric(float64(bare.Nanoseconds())/float64(n), "tick-ns-0subs")
	b.ReportMetric(float64(loaded.Nanoseconds())/float64(n), "tick-ns-1000subs")
	b.ReportMetric(float64(loaded)/float64(bare), "tick-ratio")
}
