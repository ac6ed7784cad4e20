package watchdog

import (
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	// The contract's pacing: three at once, then 10 s doubling to 5 min.
	b := DefaultBackoff
	want := []time.Duration{0, 0, 0, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 5 * time.Minute, 5 * time.Minute, 5 * time.Minute}
	for n, w := range want {
		if got := b.delay(n); got != w {
			t.Errorf("delay(%d) = %v, want %v", n, got, w)
		}
	}
	// A long streak stays at Max (no overflow of the doubling).
	for _, n := range []int{62, 63, 64, 1000, 1 << 30} {
		if got := b.delay(n); got != b.Max {
			t.Errorf("delay(%d) = %v, want Max %v", n, got, b.Max)
		}
	}
	// No burst: only the first at once, then Initial doubling.
	single := Backoff{Initial: 10 * time.Second, Max: 5 * time.Minute, Burst: 1}
	for n, w := range []time.Duration{0, 10 * time.Second, 20 * time.Second, 40 * time.Second} {
		if got := single.delay(n); got != w {
			t.Errorf("%+v delay(%d) = %v, want %v", single, n, got, w)
		}
	}
	// Max caps even the first wait, and need not be Initial times a power of two.
	odd := Backoff{Initial: 3 * time.Second, Max: 10 * time.Second, Burst: 1}
	for n, w := range []time.Duration{0, 3 * time.Second, 6 * time.Second, 10 * time.Second, 10 * time.Second} {
		if got := odd.delay(n); got != w {
			t.Errorf("%+v delay(%d) = %v, want %v", odd, n, got, w)
		}
	}
	if got := (Backoff{Initial: time.Minute, Max: time.Second, Burst: 1}).delay(1); got != time.Second {
		t.Errorf("Initial above Max: delay(1) = %v, want Max", got)
	}
}

func TestWatcherDefaults(t *testing.T) {
	w := &Watcher{}
	w.setup()
	if w.Backoff != DefaultBackoff || w.Clock == nil || w.Log == nil || w.Publisher == nil || w.Wake == nil {
		t.Errorf("zero Watcher after setup = %+v, want every default filled", w)
	}
	w.Publisher.Publish(Event{}) // must not panic
	w.Wake()
	custom := Backoff{Initial: time.Second, Max: time.Minute, Reset: time.Hour}
	wc := &Watcher{Backoff: custom}
	wc.setup()
	if wc.Backoff != custom {
		t.Errorf("Backoff = %+v, want %+v", wc.Backoff, custom)
	}
	if DefaultBackoff != (Backoff{Initial: 10 * time.Second, Max: 5 * time.Minute, Reset: 10 * time.Minute, Burst: 3}) {
		t.Errorf("DefaultBackoff = %+v, want three at once, then 10s doubling to 5m, reset after 10m", DefaultBackoff)
	}
	w3 := &Watcher{Parallelism: 3}
	w3.setup()
	if !w.repairs.pool.adaptive || w.RepairLimit() != PoolStart || w3.repairs.pool.adaptive || w3.RepairLimit() != 3 {
		t.Errorf("limits %d and %d: want an adaptive pool at %d by default, a fixed one sized by Parallelism", w.RepairLimit(), w3.RepairLimit(), PoolStart)
	}
}
