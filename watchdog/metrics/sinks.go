package metrics

import "github.com/prometheus/client_golang/prometheus"

// SinkStat is one notification sink's delivery counts since the daemon
// started, and its queue length now.
type SinkStat struct {
	Sink                       string
	Delivered, Failed, Dropped uint64
	Queue                      int
}

// SinkStats reads every sink's stats; it is called at each scrape. The
// daemon adapts the notifier's own Stats to it.
type SinkStats func() []SinkStat

// sinkCollector turns SinkStats into notifications_total{sink,result} and
// notification_queue{sink} at scrape time, so the notifier keeps its own
// counts and never hears of Prometheus.
type sinkCollector struct {
	stats        SinkStats
	total, queue *prometheus.Desc
}

func newSinkCollector(stats SinkStats) *sinkCollector {
	return &sinkCollector{
		stats: stats,
		total: prometheus.NewDesc(ns+"_notifications_total",
			"Notifications per sink by result: delivered, failed (an attempt that will be retried) or dropped (given up on).",
			[]string{"sink", "result"}, nil),
		queue: prometheus.NewDesc(ns+"_notification_queue",
			"Notifications waiting to be sent, per sink.", []string{"sink"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *sinkCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.total
	ch <- c.queue
}

// Collect implements prometheus.Collector.
func (c *sinkCollector) Collect(ch chan<- prometheus.Metric) {
	if c.stats == nil {
		return
	}
	for _, s := range c.stats() {
		for _, r := range []struct {
			result string
			n      uint64
		}{{"delivered", s.Delivered}, {"failed", s.Failed}, {"dropped", s.Dropped}} {
			ch <- prometheus.MustNewConstMetric(c.total, prometheus.CounterValue, float64(r.n), s.Sink, r.result)
		}
		ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, float64(s.Queue), s.Sink)
	}
}

var _ prometheus.Collector = (*sinkCollector)(nil)
