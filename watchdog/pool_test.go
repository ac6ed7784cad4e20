package watchdog_test

import (
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// The pool's rule needs no fakes: each case is a state, one window of
// recreations, and the limit it leads to.

// full is a window of runs completed over span, the pool full throughout,
// whose median run took lat.
func full(runs int, span, lat time.Duration) watchdog.PoolSample {
	return watchdog.PoolSample{Runs: runs, Span: span, Latency: lat, Full: true}
}

func TestTunePool(t *testing.T) {
	// The last window: 8 runs in 4 s (2/s), 4 s each.
	last := full(8, 4*time.Second, 4*time.Second)
	at := func(limit int) watchdog.PoolState { return watchdog.PoolState{Limit: limit, Last: last} }
	cases := []struct {
		name  string
		state watchdog.PoolState
		x     watchdog.PoolSample
		want  int
	}{
		{"the first full window probes upwards by a quarter", watchdog.PoolState{Limit: 8}, full(8, 4*time.Second, 4*time.Second), 10},
		{"throughput rises: grow", at(8), full(8, 3*time.Second, 3*time.Second), 10},
		{"throughput rises though latency climbs: still grow", at(8), full(10, 4*time.Second, 5*time.Second), 10},
		{"latency climbs without throughput gain: shrink", at(10), full(10, 5*time.Second, 5*time.Second), 8},
		{"latency climbs and throughput falls: shrink", at(10), full(8, 5*time.Second, 5*time.Second), 8},
		{"throughput falls, latency does not climb (shrunk too far): grow back", at(6), full(6, 4*time.Second, 4*time.Second), 7},
		{"changes within the noise: hold", at(8), full(8, 3800*time.Millisecond, 4300*time.Millisecond), 8},
		{"a window the pool was not full for says nothing", at(8), watchdog.PoolSample{Runs: 8, Span: time.Second, Latency: time.Second}, 8},
		{"too few runs say nothing", at(8), full(3, time.Second, time.Second), 8},
		{"an empty span says nothing", at(8), full(8, 0, time.Second), 8},
		{"never above the maximum", at(watchdog.PoolMax), full(8, time.Second, time.Second), watchdog.PoolMax},
		{"never below the minimum", at(watchdog.PoolMin), full(8, 8*time.Second, 8*time.Second), watchdog.PoolMin},
		{"a small limit steps by one", at(2), full(8, 8*time.Second, 8*time.Second), 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := watchdog.TunePool(c.state, c.x)
			if got.Limit != c.want {
				t.Errorf("limit %d, want %d (rate %.2f/s after %.2f/s, latency %s after %s)",
					got.Limit, c.want, c.x.Rate(), c.state.Last.Rate(), c.x.Latency, c.state.Last.Latency)
			}
			counted := c.x.Full && c.x.Runs >= 4 && c.x.Span > 0
			if counted && got.Last != c.x || !counted && got.Last != c.state.Last {
				t.Errorf("last window %+v: want the sample kept only when it counts", got.Last)
			}
		})
	}
}

// Hill climbing on a model engine that serves at most 6 runs at once at
// 1 s each (more queue inside it): from 8 the pool comes down near 6 and
// stays within the steps around it, however long it runs.
func TestTunePoolSettlesNearTheEnginesKnee(t *testing.T) {
	const knee = 6
	s := watchdog.PoolState{Limit: watchdog.PoolStart}
	seen := map[int]bool{}
	for i := range 40 {
		n := s.Limit
		rate := float64(min(n, knee)) // runs per second
		lat := time.Duration(float64(n) / rate * float64(time.Second))
		s = watchdog.TunePool(s, full(n, time.Duration(float64(n)/rate*float64(time.Second)), lat))
		if i >= 10 {
			seen[s.Limit] = true
		}
	}
	for l := range seen {
		if l < knee-2 || l > knee+2 {
			t.Errorf("limits visited after settling %v: want within 2 of the knee %d", seen, knee)
		}
	}
}
