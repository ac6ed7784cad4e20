package watchdog

import (
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	b := DefaultBackoff
	want := []time.Duration{0, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
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
	// Max caps even the first wait, and need not be Initial times a power of two.
	odd := Backoff{Initial: 3 * time.Second, Max: 10 * time.Second}
	for n, w := range []time.Duration{0, 3 * time.Second, 6 * time.Second, 10 * time.Second, 10 * time.Second} {
		if got := odd.delay(n); got != w {
			t.Errorf("%+v delay(%d) = %v, want %v", odd, n, got, w)
		}
	}
	if got := (Backoff{Initial: time.Minute, Max: time.Second}).delay(1); got != time.Second {
		t.Errorf("Initial above Max: delay(1) = %v, want Max", got)
	}
}

func TestWatcherBackoffDefaults(t *testing.T) {
	if got := (&Watcher{}).backoff(); got != DefaultBackoff {
		t.Errorf("zero Backoff = %+v, want DefaultBackoff", got)
	}
	custom := Backoff{Initial: time.Second, Max: time.Minute, Reset: time.Hour}
	if got := (&Watcher{Backoff: custom}).backoff(); got != custom {
		t.Errorf("Backoff = %+v, want %+v", got, custom)
	}
	if DefaultBackoff != (Backoff{Initial: 10 * time.Second, Max: 5 * time.Minute, Reset: 10 * time.Minute}) {
		t.Errorf("DefaultBackoff = %+v, want 10s doubling to 5m, reset after 10m", DefaultBackoff)
	}
	if n := DefaultParallelism(); n < 4 {
		t.Errorf("DefaultParallelism = %d, want at least 4", n)
	}
	if cap((&Watcher{}).state().sem) != DefaultParallelism() || cap((&Watcher{Parallelism: 3}).state().sem) != 3 {
		t.Error("the repair pool is not sized by Parallelism")
	}
}
