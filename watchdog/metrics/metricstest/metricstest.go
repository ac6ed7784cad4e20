package metricstest

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Family is one metric the contract promises: its name, type and labels.
type Family struct {
	Name   string
	Type   dto.MetricType
	Labels []string
}

// Contract is CONTRACT.md's Metrics table, plus the series this project
// adds for its alert rules.
var Contract = []Family{
	{"container_watchdog_info", dto.MetricType_GAUGE, []string{"prefix", "version"}},
	{"container_watchdog_instances", dto.MetricType_GAUGE, []string{"state"}},
	{"container_watchdog_container_up", dto.MetricType_GAUGE, []string{"agent", "container", "instance"}},
	{"container_watchdog_events_total", dto.MetricType_COUNTER, []string{"type"}},
	{"container_watchdog_recreations_total", dto.MetricType_COUNTER, []string{"agent", "result"}},
	{"container_watchdog_ticks_total", dto.MetricType_COUNTER, []string{"result"}},
	{"container_watchdog_tick_duration_seconds", dto.MetricType_HISTOGRAM, nil},
	{"container_watchdog_last_tick_timestamp_seconds", dto.MetricType_GAUGE, nil},
	{"container_watchdog_detection_delay_seconds", dto.MetricType_HISTOGRAM, nil},
	{"container_watchdog_repair_duration_seconds", dto.MetricType_HISTOGRAM, nil},
	{"container_watchdog_sse_clients", dto.MetricType_GAUGE, nil},
	{"container_watchdog_notifications_total", dto.MetricType_COUNTER, []string{"result", "sink"}},
	{"container_watchdog_notification_queue", dto.MetricType_GAUGE, []string{"sink"}},
	// Beyond the contract, for the alert rules.
	{"container_watchdog_container_state", dto.MetricType_GAUGE, []string{"agent", "container", "instance", "state"}},
	{"container_watchdog_container_recreations_total", dto.MetricType_COUNTER, []string{"agent", "container", "instance"}},
	{"container_watchdog_tick_interval_seconds", dto.MetricType_GAUGE, nil},
}

// Families is a parsed exposition, by metric name.
type Families map[string]*dto.MetricFamily

// Parse reads the text format.
func Parse(r io.Reader) (Families, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fs, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse exposition: %w", err)
	}
	return fs, nil
}

// Scrape GETs url as Prometheus does and parses the answer.
func Scrape(ctx context.Context, url string) (Families, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		return nil, fmt.Errorf("GET %s: Content-Type %q, want text/plain", url, ct)
	}
	return Parse(resp.Body)
}

// Check says how the exposition differs from fam: missing, of another
// type, or with a series whose label names are not exactly fam's. A family
// without series (a vector nobody has used yet) is not in the exposition
// at all, so wantSeries says whether one is required.
func (f Families) Check(fam Family, wantSeries bool) error {
	mf := f[fam.Name]
	if mf == nil {
		if wantSeries {
			return fmt.Errorf("%s: not exposed", fam.Name)
		}
		return nil
	}
	if mf.GetType() != fam.Type {
		return fmt.Errorf("%s: type %s, want %s", fam.Name, mf.GetType(), fam.Type)
	}
	if wantSeries && len(mf.GetMetric()) == 0 {
		return fmt.Errorf("%s: no series", fam.Name)
	}
	want := strings.Join(fam.Labels, ",")
	for _, m := range mf.GetMetric() {
		var got []string
		for _, l := range m.GetLabel() {
			got = append(got, l.GetName())
		}
		sort.Strings(got)
		if strings.Join(got, ",") != want {
			return fmt.Errorf("%s: a series with labels [%s], want [%s]", fam.Name, strings.Join(got, ","), want)
		}
	}
	return nil
}

// Series returns the series of name whose labels include every k=v in
// labels (nil when there is none).
func (f Families) Series(name string, labels ...string) []*dto.Metric {
	mf := f[name]
	if mf == nil {
		return nil
	}
	var out []*dto.Metric
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}

// Value is the value of the one counter or gauge series of name matching
// labels; NaN when there is none, or more than one.
func (f Families) Value(name string, labels ...string) float64 {
	s := f.Series(name, labels...)
	if len(s) != 1 {
		return math.NaN()
	}
	switch {
	case s[0].Counter != nil:
		return s[0].Counter.GetValue()
	case s[0].Gauge != nil:
		return s[0].Gauge.GetValue()
	case s[0].Untyped != nil:
		return s[0].Untyped.GetValue()
	}
	return math.NaN()
}

// Histogram is the sample count and sum of the one histogram series of name
// matching labels; ok is false when there is none.
func (f Families) Histogram(name string, labels ...string) (count uint64, sum float64, ok bool) {
	s := f.Series(name, labels...)
	if len(s) != 1 || s[0].Histogram == nil {
		return 0, 0, false
	}
	return s[0].Histogram.GetSampleCount(), s[0].Histogram.GetSampleSum(), true
}
