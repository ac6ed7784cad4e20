package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/heapprofiler"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/httpapi"
)

// memLog is an event log in memory for the page benchmark.
type memLog struct {
	mu  sync.Mutex
	evs []watchdog.Event
}

func (l *memLog) add(e watchdog.Event) watchdog.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.ID = int64(len(l.evs) + 1)
	l.evs = append(l.evs, e)
	return e
}

func (l *memLog) Events(_ context.Context, since int64, limit int) ([]watchdog.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if since >= int64(len(l.evs)) {
		return nil, nil
	}
	out := l.evs[since:]
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return append([]watchdog.Event(nil), out...), nil
}

func (l *memLog) LastEvents(context.Context) ([]watchdog.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	last := map[string]watchdog.Event{}
	for _, e := range l.evs {
		last[e.Container] = e
	}
	var out []watchdog.Event
	for _, e := range last {
		out = append(out, e)
	}
	return out, nil
}

// pageServer is the real httpapi.Server (page, /state, /events) over a
// tick of n instances, each with a last event carrying evidence.
type pageServer struct {
	url    string
	log    *memLog
	broker *httpapi.Broker
	insts  []watchdog.InstanceState
}

func newPageServer(b *testing.B, n int) *pageServer {
	b.Helper()
	p := &pageServer{log: &memLog{}, broker: httpapi.NewBroker(256)}
	ctx, cancel := context.WithCancel(context.Background())
	go p.broker.Run(ctx)
	now := time.Now().UTC()
	for i := range n {
		agent, in := fmt.Sprintf("agent%03d", i/10), fmt.Sprintf("i%d", i%10)
		st := watchdog.InstanceState{Container: "claude-hooks-" + agent + "-" + in, Agent: agent, Instance: in,
			State: watchdog.StateRunning, Docker: "running", Since: now.Add(-time.Hour)}
		p.insts = append(p.insts, st)
		p.log.add(watchdog.Event{Time: now.Add(-time.Hour), Type: watchdog.EventRecreated, Container: st.Container, Agent: agent, Instance: in,
			Detail:   "not known to docker; docker saw: kill signal=9, die exitCode=137, destroy (likely removed by force (docker rm -f))",
			Evidence: map[string]string{"CONTAINER_EXIT_CODE": "137", "CONTAINER_KILL_SIGNAL": "9", "CONTAINER_CAUSE": "likely removed by force (docker rm -f)"}})
	}
	live := &watchdog.Liveness{Interval: time.Minute}
	live.Record(watchdog.TickReport{Started: now, Duration: 150 * time.Millisecond, Result: watchdog.TickCompleted, Instances: p.insts}, nil, now)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	api := &httpapi.Server{Broker: p.broker, Events: p.log, Liveness: live, Addr: ln.Addr()}
	srv := &http.Server{Handler: api.Handler()}
	go srv.Serve(ln)
	b.Cleanup(func() {
		p.broker.Close()
		srv.Close()
		cancel()
	})
	p.url = "http://" + ln.Addr().String() + "/"
	return p
}

// burst stores and publishes n events to random rows, 100 every 10 ms, and
// returns the last id.
func (p *pageServer) burst(n int) int64 {
	types := []watchdog.EventType{watchdog.EventMissing, watchdog.EventRecreated, watchdog.EventStopped, watchdog.EventRunning}
	var last watchdog.Event
	for i := range n {
		in := p.insts[(i*7919)%len(p.insts)]
		last = p.log.add(watchdog.Event{Time: time.Now().UTC(), Type: types[i%len(types)], Container: in.Container, Agent: in.Agent, Instance: in.Instance,
			Detail: "burst", Evidence: map[string]string{"CONTAINER_EXIT_CODE": "1"}})
		p.broker.Publish(last)
		if i%100 == 99 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return last.ID
}

// heapMB is the page's used JavaScript heap after a full collection.
func heapMB(b *testing.B, br *browser) float64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(br.ctx, 30*time.Second)
	defer cancel()
	h, err := chromedp.Run(ctx, chromedp.Action[runtime.GetHeapUsageResult](func(ctx context.Context, t *chromedp.Target) (runtime.GetHeapUsageResult, error) {
		if _, err := cdp.Call(ctx, t, heapprofiler.CollectGarbage, cdp.Empty{}); err != nil {
			return runtime.GetHeapUsageResult{}, err
		}
		return cdp.Call(ctx, t, runtime.GetHeapUsage, cdp.Empty{})
	}))
	if err != nil {
		b.Fatalf("heap usage: %v", err)
	}
	return h.UsedSize / (1 << 20)
}

// mainThread is the page's cumulative main-thread time (ms) by activity,
// measured by the browser's thread clock: Task, Script, Layout, RecalcStyle.
func mainThread(b *testing.B, br *browser) map[string]float64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(br.ctx, 30*time.Second)
	defer cancel()
	r, err := chromedp.Run(ctx, chromedp.Action[performance.GetMetricsResult](func(ctx context.Context, t *chromedp.Target) (performance.GetMetricsResult, error) {
		if _, err := cdp.Call(ctx, t, performance.Enable, performance.EnableParams{TimeDomain: performance.EnableTimeDomainThreadTicks}); err != nil {
			return performance.GetMetricsResult{}, err
		}
		return cdp.Call(ctx, t, performance.GetMetrics, cdp.Empty{})
	}))
	if err != nil {
		b.Fatalf("performance metrics: %v", err)
	}
	out := map[string]float64{}
	for _, m := range r.Metrics {
		out[m.Name] = m.Value * 1000
	}
	return out
}

// firstRender loads url and returns the page's own mark of its first
// render of /state (ms from navigation start) and its heap.
func firstRender(b *testing.B, br *browser, url string, rows int) (ms, heap float64) {
	b.Helper()
	br.do(60*time.Second, chromedp.Navigate(url))
	br.waitFor("the first render", fmt.Sprintf(`document.body.dataset.rendered === '%d'`, rows), 60*time.Second)
	ms = eval[float64](br, `performance.getEntriesByName('cw-first-render')[0].startTime`)
	return ms, heapMB(b, br)
}

// BenchmarkDashboard1000 loads the page against the real HTTP server with
// 1,000 instances (each with a last event and its evidence), after the same
// page with none as the baseline, then streams 10,000 events to it. It
// reports the time to first render of each (the page's own performance
// mark), their ratio, the JavaScript heap after loading and after the
// events, how long the 10,000 took to show, and the longest main-thread
// task meanwhile (a freeze would show there).
func BenchmarkDashboard1000(b *testing.B) {
	br := newBrowser(b, 1280, 900)
	empty := newPageServer(b, 0)
	full := newPageServer(b, 1000)
	var ms0, ms1000, heap0, heap1000, heapAfter, eventsMS, longest float64
	busy := map[string]float64{}
	for i := 0; i < b.N; i++ {
		m0, h0 := firstRender(b, br, empty.url, 0)
		m1, h1 := firstRender(b, br, full.url, 1000)
		eval[bool](br, `window.cwLongest = 0; new PerformanceObserver(l => { for (const e of l.getEntries()) cwLongest = Math.max(cwLongest, e.duration) })
			.observe({type: 'longtask', buffered: false}); true`)
		before := mainThread(b, br)
		start := time.Now()
		last := full.burst(10000)
		br.waitFor("the 10,000 events", fmt.Sprintf(`(li => li && li.dataset.id === '%d')(document.querySelector('#feed li'))`, last), 60*time.Second)
		eventsMS += float64(time.Since(start).Milliseconds())
		after := mainThread(b, br)
		for _, k := range []string{"TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration"} {
			busy[k] += after[k] - before[k]
		}
		longest = max(longest, eval[float64](br, `window.cwLongest`))
		if n := eval[int](br, `document.querySelectorAll('#feed li').length`); n != 200 {
			b.Fatalf("feed has %d rows, want its cap of 200", n)
		}
		ms0, ms1000, heap0, heap1000 = ms0+m0, ms1000+m1, heap0+h0, heap1000+h1
		heapAfter += heapMB(b, br)
	}
	n := float64(b.N)
	b.ReportMetric(ms0/n, "render-ms-0")
	b.ReportMetric(ms1000/n, "render-ms-1000")
	b.ReportMetric(ms1000/ms0, "render-ratio")
	b.ReportMetric(heap0/n, "heap-MB-0")
	b.ReportMetric(heap1000/n, "heap-MB-1000")
	b.ReportMetric(heapAfter/n, "heap-MB-after-10k")
	b.ReportMetric(eventsMS/n, "10k-events-ms")
	b.ReportMetric(longest, "longest-task-ms")
	b.ReportMetric(busy["TaskDuration"]/n, "10k-main-ms")
	b.ReportMetric(busy["ScriptDuration"]/n, "10k-script-ms")
	b.ReportMetric((busy["LayoutDuration"]+busy["RecalcStyleDuration"])/n, "10k-layout-style-ms")
	if _, dropped := full.broker.Stats(); dropped > 0 {
		b.Logf("the page fell behind %d times and resumed from the log", dropped)
	}
}
