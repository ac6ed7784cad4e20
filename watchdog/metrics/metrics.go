package metrics

import (
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

const ns = "container_watchdog"

// Instance states as the instances and container_state series label them.
// A running container whose docker health is unhealthy counts as
// unhealthy, not running, so the states partition the expected instances.
const stateUnhealthy = "unhealthy"

var instanceStates = []string{string(watchdog.StateRunning), string(watchdog.StateStopped), string(watchdog.StateMissing),
	string(watchdog.StateHeld), stateUnhealthy}

// Options describe the daemon the metrics belong to.
type Options struct {
	Version, Prefix string
	// Interval is the daemon's tick interval (tick_interval_seconds), so an
	// alert can say "not ticking" in intervals.
	Interval time.Duration
	// SSE reports the broker's connected and dropped clients at scrape time.
	SSE func() (clients int, dropped int64)
	// Sinks reports the notification sinks at scrape time (nil: none).
	Sinks SinkStats
	// RepairParallelism reports how many repairs may run at once, at
	// scrape time: --repair-parallelism, or the adaptive pool's current
	// limit (nil: no such series).
	RepairParallelism func() int
}

// Metrics holds every series. Publish, ObserveTick and ObserveCheck may be called from
// any goroutine.
type Metrics struct {
	reg *prometheus.Registry

	events               *prometheus.CounterVec
	recreations          *prometheus.CounterVec
	containerRecreations *prometheus.CounterVec
	instances            *prometheus.GaugeVec
	up                   *prometheus.GaugeVec
	state                *prometheus.GaugeVec
	ticks                *prometheus.CounterVec
	checks               *prometheus.CounterVec
	tickDuration         prometheus.Histogram
	lastTick             prometheus.Gauge
	detection            prometheus.Histogram
	repair               prometheus.Histogram

	mu         sync.Mutex
	containers map[string]*container
	agents     map[string]bool
	// last is every instance as the last completed tick saw it, with what
	// checks and repairs saw since: the instance series' source.
	last []watchdog.InstanceState
}

// container is what the metrics remember of one expected container.
type container struct {
	agent, instance string
	state           string // its container_state label; "" before a tick saw it
	// missingSince is the time of the container_missing report whose
	// repair is awaited (zero when none is).
	missingSince time.Time
}

// New registers every series, with the Go and process collectors.
func New(o Options) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "events_total",
			Help: "Events stored and published, by type."}, []string{"type"}),
		recreations: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "recreations_total",
			Help: "Recreations of missing containers, by agent and result (ok, failed)."}, []string{"agent", "result"}),
		containerRecreations: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "container_recreations_total",
			Help: "Successful recreations of each expected container (a flapping instance shows here)."}, []string{"container", "agent", "instance"}),
		instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "instances",
			Help: "Expected instances by state at the last completed tick; a running one whose health is unhealthy counts as unhealthy."}, []string{"state"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "container_up",
			Help: "1 when the expected container runs, else 0, at the last completed tick."}, []string{"container", "agent", "instance"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "container_state",
			Help: "1 for the state each expected container was in at the last completed tick (running, stopped, missing, held, unhealthy)."}, []string{"container", "agent", "instance", "state"}),
		ticks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "ticks_total",
			Help: "Ticks by result: completed, or skipped (docker could not be listed)."}, []string{"result"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "checks_total",
			Help: "Targeted checks of one removed or died container (one docker call each), by result: judged; present, unregistered or failed (left to a tick); removing (left to its destroy's check)."}, []string{"result"}),
		tickDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "tick_duration_seconds",
			Help: "How long each tick took.", Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}),
		lastTick: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "last_tick_timestamp_seconds",
			Help: "When the last tick (completed or skipped) ended, in unix seconds."}),
		detection: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "detection_delay_seconds",
			Help: "From docker's own event time (timeNano) to the watchdog's stored report.", Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}}),
		repair: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "repair_duration_seconds",
			Help: "From the report of a missing container to seeing it run again.", Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}}),
		containers: map[string]*container{},
		agents:     map[string]bool{},
	}
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "info",
		Help: "Always 1; the version and container name prefix as labels."}, []string{"version", "prefix"})
	info.WithLabelValues(o.Version, o.Prefix).Set(1)
	interval := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "tick_interval_seconds",
		Help: "The configured time between ticks."})
	interval.Set(o.Interval.Seconds())
	sse := o.SSE
	if sse == nil {
		sse = func() (int, int64) { return 0, 0 }
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		info, interval, m.events, m.recreations, m.containerRecreations, m.instances, m.up, m.state,
		m.ticks, m.checks, m.tickDuration, m.lastTick, m.detection, m.repair,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "sse_clients",
			Help: "Connected /events clients."}, func() float64 { n, _ := sse(); return float64(n) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "sse_clients_dropped_total",
			Help: "/events clients dropped for falling behind (they resume with Last-Event-ID)."}, func() float64 { _, d := sse(); return float64(d) }),
		newSinkCollector(o.Sinks),
	)
	if f := o.RepairParallelism; f != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "repair_parallelism",
			Help: "Repairs that may run at once: --repair-parallelism, or where the adaptive pool stands."}, func() float64 { return float64(f()) }))
	}
	// Zero series from the start, so increase() and rate() see the first one.
	for _, t := range watchdog.EventTypes() {
		m.events.WithLabelValues(string(t))
	}
	for _, r := range []string{"completed", "skipped"} {
		m.ticks.WithLabelValues(r)
	}
	for _, r := range watchdog.CheckResults {
		m.checks.WithLabelValues(string(r))
	}
	for _, s := range instanceStates {
		m.instances.WithLabelValues(s)
	}
	return m
}

// ObserveCheck counts one targeted check, as the loop's AfterCheck sees
// it. A check judges one container: the instance series stay the last
// completed tick's.
func (m *Metrics) ObserveCheck(rep watchdog.CheckReport, _ error) {
	m.checks.WithLabelValues(string(rep.Result)).Inc()
	if rep.Result == watchdog.CheckJudged {
		m.observeOne(rep.Instance)
	}
}

// observeOne sets one instance's series as a check or a repair saw it,
// within the last completed tick's view (one no tick has seen waits for
// a tick).
func (m *Metrics) observeOne(in watchdog.InstanceState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := slices.IndexFunc(m.last, func(x watchdog.InstanceState) bool { return x.Container == in.Container })
	if i < 0 {
		return
	}
	m.last[i] = in
	m.observeLocked(m.last)
}

// Handler serves the exposition.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is where the series live, for tests and further collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

var _ watchdog.Publisher = (*Metrics)(nil)

// Publish implements watchdog.Publisher: it counts a stored event.
func (m *Metrics) Publish(e watchdog.Event) {
	if e.Type == watchdog.EventRecreated {
		// Running again, as no tick may look before the next interval.
		defer m.observeOne(watchdog.InstanceState{Container: e.Container, Agent: e.Agent, Instance: e.Instance, State: watchdog.StateRunning})
	}
	m.events.WithLabelValues(string(e.Type)).Inc()
	if !e.DockerTime.IsZero() {
		m.detection.Observe(max(0, e.Time.Sub(e.DockerTime).Seconds()))
	}
	switch e.Type {
	case watchdog.EventRecreated:
		m.recreations.WithLabelValues(e.Agent, "ok").Inc()
	case watchdog.EventRecreateFailed:
		m.recreations.WithLabelValues(e.Agent, "failed").Inc()
	case watchdog.EventMissing, watchdog.EventRunning:
	default:
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.container(e)
	switch e.Type {
	case watchdog.EventMissing:
		if c.missingSince.IsZero() {
			c.missingSince = e.Time
		}
	case watchdog.EventRecreated, watchdog.EventRunning:
		if e.Type == watchdog.EventRecreated {
			m.containerRecreations.WithLabelValues(e.Container, c.agent, c.instance).Inc()
		}
		if !c.missingSince.IsZero() {
			m.repair.Observe(max(0, e.Time.Sub(c.missingSince).Seconds()))
			c.missingSince = time.Time{}
		}
	}
}

// container returns the record of e's container, making one; m.mu is held.
func (m *Metrics) container(e watchdog.Event) *container {
	c := m.containers[e.Container]
	if c == nil {
		c = &container{agent: e.Agent, instance: e.Instance}
		m.containers[e.Container] = c
	}
	return c
}

// ObserveTick records one tick, completed or not, as the loop's AfterTick
// sees it. Only a completed tick says anything about instances; a skipped
// one leaves them as the last completed tick saw them.
func (m *Metrics) ObserveTick(rep watchdog.TickReport, err error) {
	result := string(rep.Result)
	if result == "" {
		result = "skipped"
	}
	m.ticks.WithLabelValues(result).Inc()
	m.tickDuration.Observe(rep.Duration.Seconds())
	// As for /healthz and the systemd watchdog, any tick that ended, however
	// it went, proves the loop alive.
	m.lastTick.Set(float64(rep.Started.Add(rep.Duration).UnixNano()) / 1e9)
	if err != nil {
		return // nothing was judged
	}
	m.observeInstances(rep.Instances)
}

// observeInstances sets the instance series from a completed tick and
// deletes those of containers and agents that left the registry.
func (m *Metrics) observeInstances(instances []watchdog.InstanceState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last = slices.Clone(instances)
	m.observeLocked(instances)
}

// observeLocked is observeInstances with m.mu held.
func (m *Metrics) observeLocked(instances []watchdog.InstanceState) {
	counts := make(map[string]int, len(instanceStates))
	seen := make(map[string]bool, len(instances))
	agents := map[string]bool{}
	for _, in := range instances {
		if in.State == watchdog.StateOrphaned {
			continue // not in the registry: not an expected instance
		}
		seen[in.Container], agents[in.Agent] = true, true
		c := m.containers[in.Container]
		if c == nil {
			c = &container{agent: in.Agent, instance: in.Instance}
			m.containers[in.Container] = c
		}
		s := stateLabel(in)
		counts[s]++
		if c.state == "" { // first seen: from zero, so increase() sees the first
			m.containerRecreations.WithLabelValues(in.Container, c.agent, c.instance)
		}
		if s != c.state {
			if c.state != "" {
				m.state.DeleteLabelValues(in.Container, c.agent, c.instance, c.state)
			}
			m.state.WithLabelValues(in.Container, c.agent, c.instance, s).Set(1)
			c.state = s
		}
		m.up.WithLabelValues(in.Container, c.agent, c.instance).Set(boolValue(up(in)))
	}
	for _, s := range instanceStates {
		m.instances.WithLabelValues(s).Set(float64(counts[s]))
	}
	for s, n := range counts {
		if !isInstanceState(s) { // a state this package does not know yet
			m.instances.WithLabelValues(s).Set(float64(n))
		}
	}
	for name, c := range m.containers {
		if !seen[name] {
			m.forget(name, c)
		}
	}
	for a := range agents {
		if !m.agents[a] {
			m.recreations.WithLabelValues(a, "ok")
			m.recreations.WithLabelValues(a, "failed")
		}
	}
	for a := range m.agents {
		if !agents[a] {
			m.recreations.DeletePartialMatch(prometheus.Labels{"agent": a})
		}
	}
	m.agents = agents
}

// forget deletes a container's series; m.mu is held.
func (m *Metrics) forget(name string, c *container) {
	m.up.DeleteLabelValues(name, c.agent, c.instance)
	m.containerRecreations.DeleteLabelValues(name, c.agent, c.instance)
	if c.state != "" {
		m.state.DeleteLabelValues(name, c.agent, c.instance, c.state)
	}
	delete(m.containers, name)
}

func stateLabel(in watchdog.InstanceState) string {
	if in.State == watchdog.StateRunning && in.Health == watchdog.HealthUnhealthy {
		return stateUnhealthy
	}
	return string(in.State)
}

// up says the container runs as docker sees it. An instance the tick did
// not judge (a repair or a lease under way) has no docker state; its
// state is the last judged one.
func up(in watchdog.InstanceState) bool {
	if in.Docker != "" {
		return in.Docker == "running"
	}
	return in.State == watchdog.StateRunning
}

func isInstanceState(s string) bool {
	for _, x := range instanceStates {
		if x == s {
			return true
		}
	}
	return false
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
