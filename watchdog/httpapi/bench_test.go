package httpapi_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/httpapi"
)

// BenchmarkFanout1000 serves /events on 127.0.0.1 to 1000 SSE clients (raw
// connections, one reader goroutine each, buffers allocated before the
// memory baseline) and publishes one event per iteration, waiting until
// every client has it. It reports:
//
//   - p50-ns, p99-ns: from the Publish call to the last client's receipt;
//   - B/sub: HeapInuse growth per subscriber while they are connected (the
//     server's per-connection state and queue, plus the client's socket);
//     stackB/sub: the same for goroutine stacks (both sides);
//   - publish-ns/op-0subs, publish-ns/op-1000subs and publish-ratio: what one
//     Broker.Publish call costs the tick with no client and with 1000.
func BenchmarkFanout1000(b *testing.B) {
	const subs = 1000
	broker := runBroker(b, 256) // the daemon's buffer
	api := &httpapi.Server{Broker: broker, Events: &fakeLog{}, Liveness: &watchdog.Liveness{Interval: time.Minute}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: api.Handler()}
	go srv.Serve(ln)
	defer srv.Close()
	addr := ln.Addr().String()

	ev := watchdog.Event{Time: time.Now().UTC(), Type: watchdog.EventMissing,
		Container: "claude-hooks-dev-default", Agent: "dev", Instance: "default", Detail: "not known to docker"}

	// What Publish costs with nobody listening.
	n0 := max(b.N, 50000)
	start := time.Now()
	for i := 0; i < n0; i++ {
		ev.ID = int64(i + 1)
		broker.Publish(ev)
	}
	cost0 := float64(time.Since(start).Nanoseconds()) / float64(n0)

	// Client side, allocated before the baseline.
	readers := make([]*bufio.Reader, subs)
	for i := range readers {
		readers[i] = bufio.NewReaderSize(nil, 4096)
	}
	conns := make([]net.Conn, 0, subs)
	var pending atomic.Int64
	var lastRecv atomic.Int64
	base := time.Now()
	got := make(chan struct{}, 1)
	var wg sync.WaitGroup
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	for i := 0; i < subs; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, "GET /events HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
			b.Fatal(err)
		}
		r := readers[i]
		r.Reset(c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				line, err := r.ReadSlice('\n')
				if err != nil {
					return
				}
				if len(line) > 4 && line[0] == 'i' && line[1] == 'd' && line[2] == ':' {
					if pending.Add(-1) == 0 {
						lastRecv.Store(int64(time.Since(base)))
						got <- struct{}{}
					}
				}
			}
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if n, _ := broker.Stats(); n == subs {
			break
		}
		if time.Now().After(deadline) {
			n, _ := broker.Stats()
			b.Fatalf("%d of %d clients subscribed after 30s", n, subs)
		}
		time.Sleep(time.Millisecond)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)

	lat := make([]int64, 0, b.N)
	var publishTotal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev.ID = int64(n0 + i + 1)
		pending.Store(subs)
		t0 := time.Since(base)
		broker.Publish(ev)
		publishTotal += time.Since(base) - t0
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			b.Fatalf("event %d: %d of %d clients still waiting after 10s", i, pending.Load(), subs)
		}
		lat = append(lat, lastRecv.Load()-int64(t0))
	}
	b.StopTimer()

	if n, dropped := broker.Stats(); n != subs || dropped != 0 {
		b.Fatalf("%d subscribers, %d dropped: want %d and 0", n, dropped, subs)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) }
	b.ReportMetric(pct(0.50), "p50-ns")
	b.ReportMetric(pct(0.99), "p99-ns")
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/subs, "B/sub")
	b.ReportMetric(float64(int64(after.StackInuse)-int64(before.StackInuse))/subs, "stackB/sub")
	cost1000 := float64(publishTotal.Nanoseconds()) / float64(b.N)
	b.ReportMetric(cost0, "publish-ns/op-0subs")
	b.ReportMetric(cost1000, "publish-ns/op-1000subs")
	b.ReportMetric(cost1000/cost0, "publish-ratio")

	broker.Close()
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !strings.Contains(err.Error(), "closed") {
		b.Logf("shutdown: %v", err)
	}
}
