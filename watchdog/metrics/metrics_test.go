package metrics_test

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/metrics"
	"github.com/container-watchdog/container-watchdog/watchdog/metrics/metricstest"
)

var t0 = time.Date(2026, 4, 20, 11, 55, 26, 0, time.UTC)

func scrape(t *testing.T, m *metrics.Metrics) metricstest.Families {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	fs, err := metricstest.Parse(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// want compares one counter or gauge.
func want(t *testing.T, fs metricstest.Families, v float64, name string, labels ...string) {
	t.Helper()
	if got := fs.Value(name, labels...); got != v && !(math.IsNaN(v) && math.IsNaN(got)) {
		t.Errorf("%s%v = %v, want %v", name, labels, got, v)
	}
}

func wantHistogram(t *testing.T, fs metricstest.Families, name string, count uint64, sum float64) {
	t.Helper()
	n, s, ok := fs.Histogram(name)
	if !ok || n != count || math.Abs(s-sum) > 1e-9 {
		t.Errorf("%s: count %d sum %v (present %v), want count %d sum %v", name, n, s, ok, count, sum)
	}
}

func ev(typ watchdog.EventType, container string, at time.Time) watchdog.Event {
	return watchdog.Event{Time: at, Type: typ, Container: "cw-" + container, Agent: container, Instance: "default"}
}

func inst(agent string, st watchdog.State, docker string) watchdog.InstanceState {
	return watchdog.InstanceState{Container: "cw-" + agent, Agent: agent, Instance: "default", State: st, Docker: docker}
}

func completed(instances ...watchdog.InstanceState) watchdog.TickReport {
	return watchdog.TickReport{Started: t0, Duration: 40 * time.Millisecond, Result: watchdog.TickCompleted, Instances: instances}
}

// Every metric of the contract's table is exposed with its type and
// labels, plus the Go and process collectors.
func TestExposesTheContractsSeries(t *testing.T) {
	m := metrics.New(metrics.Options{Version: "1.2.3", Prefix: "cw-", Interval: time.Minute,
		SSE:   func() (int, int64) { return 3, 2 },
		Sinks: func() []metrics.SinkStat { return []metrics.SinkStat{{Sink: "ops", Delivered: 1}} }})
	m.ObserveTick(completed(inst("dev", watchdog.StateRunning, "running")), nil)
	for _, e := range []watchdog.Event{
		ev(watchdog.EventMissing, "dev", t0),
		{Time: t0.Add(time.Second), Type: watchdog.EventRecreated, Container: "cw-dev", Agent: "dev", Instance: "default", DockerTime: t0},
	} {
		m.Publish(e)
	}
	fs := scrape(t, m)
	for _, fam := range metricstest.Contract {
		if err := fs.Check(fam, true); err != nil {
			t.Error(err)
		}
	}
	want(t, fs, 1, "container_watchdog_info", "version=1.2.3", "prefix=cw-")
	want(t, fs, 60, "container_watchdog_tick_interval_seconds")
	want(t, fs, 3, "container_watchdog_sse_clients")
	want(t, fs, 2, "container_watchdog_sse_clients_dropped_total")
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if fs[name] == nil {
			t.Errorf("%s missing: the Go and process collectors must be registered", name)
		}
	}
	// Zero from the start, so rate() and increase() see the first event.
	for _, typ := range watchdog.EventTypes() {
		if fs.Series("container_watchdog_events_total", "type="+string(typ)) == nil {
			t.Errorf("events_total{type=%q} not exposed before any such event", typ)
		}
	}
	want(t, fs, 0, "container_watchdog_ticks_total", "result=skipped")
	want(t, fs, 0, "container_watchdog_recreations_total", "agent=dev", "result=failed")
}

func TestCountsEventsAndRecreations(t *testing.T) {
	m := metrics.New(metrics.Options{})
	m.ObserveTick(completed(inst("dev", watchdog.StateRunning, "running"), inst("ops", watchdog.StateRunning, "running")), nil)
	for _, e := range []watchdog.Event{
		ev(watchdog.EventMissing, "dev", t0),
		ev(watchdog.EventRecreated, "dev", t0),
		ev(watchdog.EventMissing, "dev", t0),
		ev(watchdog.EventRecreated, "dev", t0),
		ev(watchdog.EventMissing, "ops", t0),
		ev(watchdog.EventRecreateFailed, "ops", t0),
		ev(watchdog.EventStopped, "ops", t0),
	} {
		m.Publish(e)
	}
	fs := scrape(t, m)
	want(t, fs, 3, "container_watchdog_events_total", "type=container_missing")
	want(t, fs, 2, "container_watchdog_events_total", "type=container_recreated")
	want(t, fs, 1, "container_watchdog_events_total", "type=container_recreate_failed")
	want(t, fs, 1, "container_watchdog_events_total", "type=container_stopped")
	want(t, fs, 0, "container_watchdog_events_total", "type=container_running")
	want(t, fs, 2, "container_watchdog_recreations_total", "agent=dev", "result=ok")
	want(t, fs, 0, "container_watchdog_recreations_total", "agent=dev", "result=failed")
	want(t, fs, 0, "container_watchdog_recreations_total", "agent=ops", "result=ok")
	want(t, fs, 1, "container_watchdog_recreations_total", "agent=ops", "result=failed")
	want(t, fs, 2, "container_watchdog_container_recreations_total", "container=cw-dev", "agent=dev", "instance=default")
	want(t, fs, 0, "container_watchdog_container_recreations_total", "container=cw-ops") // a failure is not one
}

// Detection delay runs from docker's own time to the stored report, and
// only for reports docker's event stream explained.
func TestDetectionDelay(t *testing.T) {
	m := metrics.New(metrics.Options{})
	e := ev(watchdog.EventMissing, "dev", t0.Add(250*time.Millisecond))
	e.DockerTime = t0
	m.Publish(e)
	m.Publish(ev(watchdog.EventMissing, "ops", t0)) // found by polling
	e = ev(watchdog.EventStopped, "db", t0.Add(2*time.Second))
	e.DockerTime = t0.Add(1500 * time.Millisecond)
	m.Publish(e)
	wantHistogram(t, scrape(t, m), "container_watchdog_detection_delay_seconds", 2, 0.75)
}

// Repair duration runs from the container_missing report to the
// container_recreated (or container_running) one of the same container,
// across failed attempts.
func TestRepairDuration(t *testing.T) {
	m := metrics.New(metrics.Options{})
	for _, e := range []watchdog.Event{
		ev(watchdog.EventRecreated, "db", t0), // no missing before it: nothing to measure
		ev(watchdog.EventMissing, "dev", t0),
		ev(watchdog.EventMissing, "ops", t0.Add(time.Second)),
		ev(watchdog.EventRecreateFailed, "dev", t0.Add(time.Second)),
		ev(watchdog.EventMissing, "dev", t0.Add(2*time.Second)), // still the same loss
		ev(watchdog.EventRecreated, "dev", t0.Add(3*time.Second)),
		ev(watchdog.EventRunning, "ops", t0.Add(1500*time.Millisecond)), // someone else brought it back
		ev(watchdog.EventRunning, "ops", t0.Add(9*time.Second)),         // nothing pending any more
	} {
		m.Publish(e)
	}
	wantHistogram(t, scrape(t, m), "container_watchdog_repair_duration_seconds", 2, 3.5)
}

func TestInstancesFollowTheTicks(t *testing.T) {
	m := metrics.New(metrics.Options{})
	unhealthy := inst("web", watchdog.StateRunning, "running")
	unhealthy.Health = watchdog.HealthUnhealthy
	healthy := inst("api", watchdog.StateRunning, "running")
	healthy.Health = watchdog.HealthHealthy
	rep := completed(
		inst("dev", watchdog.StateRunning, "running"), healthy, unhealthy,
		inst("ops", watchdog.StateStopped, "exited"),
		inst("db", watchdog.StateMissing, ""),
		inst("batch", watchdog.StateHeld, "exited"),
		inst("stray", watchdog.StateOrphaned, "running"),
	)
	m.ObserveTick(rep, nil)
	fs := scrape(t, m)
	for state, n := range map[string]float64{"running": 2, "unhealthy": 1, "stopped": 1, "missing": 1, "held": 1} {
		want(t, fs, n, "container_watchdog_instances", "state="+state)
	}
	if s := fs.Series("container_watchdog_instances", "state=orphaned"); s != nil {
		t.Errorf("orphans are not expected instances: %v", s)
	}
	for c, up := range map[string]float64{"dev": 1, "api": 1, "web": 1, "ops": 0, "db": 0, "batch": 0, "stray": math.NaN()} {
		want(t, fs, up, "container_watchdog_container_up", "container=cw-"+c)
	}
	want(t, fs, 1, "container_watchdog_container_state", "container=cw-web", "state=unhealthy")
	want(t, fs, 1, "container_watchdog_container_state", "container=cw-db", "state=missing")
	if n := len(fs.Series("container_watchdog_container_state", "container=cw-db")); n != 1 {
		t.Errorf("cw-db has %d container_state series, want 1", n)
	}
	want(t, fs, 1, "container_watchdog_ticks_total", "result=completed")
	want(t, fs, float64(t0.Add(40*time.Millisecond).UnixNano())/1e9, "container_watchdog_last_tick_timestamp_seconds")
	wantHistogram(t, fs, "container_watchdog_tick_duration_seconds", 1, 0.04)

	// db is repaired; ops (agent and container) leaves the registry.
	m.Publish(ev(watchdog.EventMissing, "ops", t0))
	m.Publish(ev(watchdog.EventRecreated, "ops", t0))
	rep = completed(inst("dev", watchdog.StateRunning, "running"), inst("db", watchdog.StateRunning, "running"))
	rep.Started = t0.Add(time.Minute)
	m.ObserveTick(rep, nil)
	fs = scrape(t, m)
	want(t, fs, 1, "container_watchdog_container_state", "container=cw-db", "state=running")
	if n := len(fs.Series("container_watchdog_container_state", "container=cw-db")); n != 1 {
		t.Errorf("cw-db has %d container_state series after a change, want 1 (the old state's is deleted)", n)
	}
	for _, name := range []string{"container_watchdog_container_up", "container_watchdog_container_state", "container_watchdog_container_recreations_total"} {
		if s := fs.Series(name, "container=cw-ops"); s != nil {
			t.Errorf("%s of cw-ops, which left the registry: %v", name, s)
		}
	}
	if s := fs.Series("container_watchdog_recreations_total", "agent=ops"); s != nil {
		t.Errorf("recreations_total of agent ops, which left the registry: %v", s)
	}
	want(t, fs, 2, "container_watchdog_instances", "state=running")
	want(t, fs, 0, "container_watchdog_instances", "state=stopped")
	want(t, fs, 2, "container_watchdog_ticks_total", "result=completed")

	// Docker unreachable: counted, the loop is alive, instances are as the
	// last completed tick saw them.
	skipped := watchdog.TickReport{Started: t0.Add(2 * time.Minute), Duration: time.Second, Result: watchdog.TickSkipped, Error: "docker: down"}
	m.ObserveTick(skipped, fmt.Errorf("%w: docker: down", watchdog.ErrSkipped))
	fs = scrape(t, m)
	want(t, fs, 1, "container_watchdog_ticks_total", "result=skipped")
	want(t, fs, float64(t0.Add(2*time.Minute+time.Second).Unix()), "container_watchdog_last_tick_timestamp_seconds")
	want(t, fs, 1, "container_watchdog_container_up", "container=cw-db")
	want(t, fs, 2, "container_watchdog_instances", "state=running")

	// Any other failure: skipped too, the loop alive all the same.
	failed := watchdog.TickReport{Started: t0.Add(3 * time.Minute), Duration: time.Second, Result: watchdog.TickSkipped, Error: "read registry: locked"}
	m.ObserveTick(failed, errors.New("read registry: locked"))
	fs = scrape(t, m)
	want(t, fs, 2, "container_watchdog_ticks_total", "result=skipped")
	want(t, fs, float64(t0.Add(3*time.Minute+time.Second).Unix()), "container_watchdog_last_tick_timestamp_seconds")
	want(t, fs, 1, "container_watchdog_container_up", "container=cw-db")
}

func TestNotificationSinksAreReadAtScrapeTime(t *testing.T) {
	stats := []metrics.SinkStat{{Sink: "ops", Delivered: 7, Failed: 2, Dropped: 1, Queue: 4}}
	m := metrics.New(metrics.Options{Sinks: func() []metrics.SinkStat { return stats }})
	fs := scrape(t, m)
	want(t, fs, 7, "container_watchdog_notifications_total", "sink=ops", "result=delivered")
	want(t, fs, 2, "container_watchdog_notifications_total", "sink=ops", "result=failed")
	want(t, fs, 1, "container_watchdog_notifications_total", "sink=ops", "result=dropped")
	want(t, fs, 4, "container_watchdog_notification_queue", "sink=ops")

	stats = append(stats, metrics.SinkStat{Sink: "mail", Delivered: 1})
	stats[0].Delivered, stats[0].Queue = 8, 0
	fs = scrape(t, m)
	want(t, fs, 8, "container_watchdog_notifications_total", "sink=ops", "result=delivered")
	want(t, fs, 0, "container_watchdog_notification_queue", "sink=ops")
	want(t, fs, 1, "container_watchdog_notifications_total", "sink=mail", "result=delivered")

	// No notifier: no series, and the exposition is still valid.
	fs = scrape(t, metrics.New(metrics.Options{}))
	if err := fs.Check(metricstest.Family{Name: "container_watchdog_notifications_total"}, false); err != nil {
		t.Error(err)
	}
	if fs["container_watchdog_notifications_total"] != nil {
		t.Errorf("notifications_total without sinks: %v", fs["container_watchdog_notifications_total"])
	}
}

// A check judges one instance and a repair brings it back without a tick:
// the instance series follow both, the others stay the tick's.
func TestInstancesFollowChecksAndRepairs(t *testing.T) {
	m := metrics.New(metrics.Options{})
	m.ObserveTick(completed(inst("dev", watchdog.StateRunning, "running"), inst("ops", watchdog.StateRunning, "running")), nil)
	m.ObserveCheck(watchdog.CheckReport{Container: "cw-dev", Result: watchdog.CheckJudged, Instance: inst("dev", watchdog.StateMissing, "")}, nil)
	m.ObserveCheck(watchdog.CheckReport{Container: "cw-ops", Result: watchdog.CheckPresent}, nil)
	fs := scrape(t, m)
	want(t, fs, 0, "container_watchdog_container_up", "container=cw-dev")
	want(t, fs, 1, "container_watchdog_container_up", "container=cw-ops")
	want(t, fs, 1, "container_watchdog_instances", "state=missing")
	want(t, fs, 1, "container_watchdog_checks_total", "result=judged")
	want(t, fs, 1, "container_watchdog_checks_total", "result=present")
	want(t, fs, 0, "container_watchdog_checks_total", "result=failed")

	m.Publish(ev(watchdog.EventRecreated, "dev", t0))
	fs = scrape(t, m)
	want(t, fs, 1, "container_watchdog_container_up", "container=cw-dev")
	want(t, fs, 1, "container_watchdog_container_state", "container=cw-dev", "state=running")
	want(t, fs, 2, "container_watchdog_instances", "state=running")
	want(t, fs, 0, "container_watchdog_instances", "state=missing")
}

// The repair pool's limit is read at scrape time; without the function
// there is no series.
func TestRepairParallelismIsReadAtScrapeTime(t *testing.T) {
	limit := 8
	m := metrics.New(metrics.Options{RepairParallelism: func() int { return limit }})
	want(t, scrape(t, m), 8, "container_watchdog_repair_parallelism")
	limit = 5
	want(t, scrape(t, m), 5, "container_watchdog_repair_parallelism")
	if fs := scrape(t, metrics.New(metrics.Options{})); fs["container_watchdog_repair_parallelism"] != nil {
		t.Error("repair_parallelism exposed without a pool to read")
	}
}
