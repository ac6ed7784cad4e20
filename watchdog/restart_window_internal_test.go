package watchdog

import (
	"testing"
	"time"
)

// The restart limit counts the unhealthy restarts of the last
// RestartWindow: one exactly a window old has left it, one a nanosecond
// younger still counts.
func TestRestartWindowDropsARestartExactlyAWindowOld(t *testing.T) {
	now := time.Date(2026, 4, 20, 12, 0, 0, 0, time.UTC)
	rs := newRepairs(1, DefaultBackoff, nil)
	rs.with("c", func(r *record) {
		r.restarts = []time.Time{now.Add(-RestartWindow), now.Add(-RestartWindow + time.Nanosecond), now.Add(-time.Minute)}
	})
	l := Look{Container: "c", Now: now}
	rs.look(&l)
	if l.Restarts != 2 {
		t.Errorf("Restarts = %d, want 2 (the one exactly %s old is out of the window)", l.Restarts, RestartWindow)
	}
}
