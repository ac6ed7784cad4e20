package watchdog_test

import (
	"slices"
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
	after := func(limit, dir int) watchdog.PoolState { return watchdog.PoolState{Limit: limit, Last: last, Dir: dir} }
	cases := []struct {
		name  string
		state watchdog.PoolState
		x     watchdog.PoolSample
		want  int
	}{
		{"the first full window probes downwards by a quarter", watchdog.PoolState{Limit: 8}, full(8, 4*time.Second, 4*time.Second), 6},
		{"throughput rises: grow", at(8), full(8, 3*time.Second, 3*time.Second), 10},
		{"throughput rises though latency climbs: still grow", at(8), full(10, 4*time.Second, 5*time.Second), 10},
		{"latency climbs without throughput gain: shrink", at(10), full(10, 5*time.Second, 5*time.Second), 8},
		{"latency climbs and throughput falls: shrink", at(10), full(8, 5*time.Second, 5*time.Second), 8},
		{"throughput rises after a shrink: shrink on", after(8, -1), full(8, 3*time.Second, 3*time.Second), 6},
		{"throughput rises after a grow: grow on", after(8, +1), full(8, 3*time.Second, 3*time.Second), 10},
		{"throughput falls after a shrink, latency does not climb: grow back", after(6, -1), full(6, 4*time.Second, 4*time.Second), 7},
		{"throughput falls after a grow, latency does not climb: step back", after(8, +1), full(6, 4*time.Second, 4*time.Second), 6},
		{"throughput falls after a hold, latency does not climb: grow", at(6), full(6, 4*time.Second, 4*time.Second), 7},
		{"a shrink that cost no throughput and shortened runs: shrink on", after(8, -1), full(8, 4*time.Second, 3*time.Second), 6},
		{"runs shortened without a shrink before: hold", after(8, +1), full(8, 4*time.Second, 3*time.Second), 8},
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

// Hill climbing on model engines that serve at most knee runs per second
// (each run takes 1 s alone); beyond the knee, more at once only queue
// inside the engine (flat), or thrash it (throughput falls 10% per run
// too many). From PoolStart the pool settles around the knee, below or
// above the start, and stays within a third of it (the steps are a
// quarter): it neither runs away to the bounds nor sticks at the start.
func TestTunePoolSettlesNearTheEnginesKnee(t *testing.T) {
	for _, c := range []struct {
		knee   int
		thrash bool
	}{{3, false}, {4, true}, {6, false}, {6, true}, {16, false}, {16, true}} {
		s := watchdog.PoolState{Limit: watchdog.PoolStart}
		var seen []int
		for i := range 60 {
			n := s.Limit
			rate := float64(min(n, c.knee))
			if c.thrash && n > c.knee {
				rate *= max(0.1, 1-0.1*float64(n-c.knee))
			}
			lat := time.Duration(float64(n) / rate * float64(time.Second))
			s = watchdog.TunePool(s, full(n, lat, lat)) // n runs in one latency
			if i >= 30 {
				seen = append(seen, s.Limit)
			}
		}
		lo, hi := c.knee*2/3, c.knee*4/3+1
		if slices.Min(seen) < lo || slices.Max(seen) > hi {
			t.Errorf("knee %d (thrash %v): limits after settling %v, want within %d..%d", c.knee, c.thrash, seen, lo, hi)
		}
	}
}
