package watchdog

import (
	"testing"
	"time"
)

// A recreation streak ends once the container has run for Reset since the
// last attempt; a container that stayed stopped or missing that long has
// not proved itself, so its pacing goes on.
func TestStreakEndsOnlyByRunningForReset(t *testing.T) {
	t0 := time.Date(2026, 4, 20, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		state     State
		after     time.Duration
		wantReset bool
	}{
		{StateRunning, DefaultBackoff.Reset, true},
		{StateRunning, DefaultBackoff.Reset - time.Nanosecond, false},
		{StateStopped, DefaultBackoff.Reset, false},
		{StateMissing, time.Hour, false},
		{StateHeld, time.Hour, false},
	} {
		rs := newRepairs(1, DefaultBackoff, nil)
		for i := range 4 { // past the burst: the next attempt is paced
			at := t0.Add(time.Duration(i) * time.Minute)
			if !rs.begin("c", at) {
				t.Fatalf("attempt %d refused", i+1)
			}
			rs.end("c", at)
		}
		last := t0.Add(3 * time.Minute)
		rs.apply("c", Verdict{Obs: Observation{Container: "c", State: c.state}}, last.Add(c.after))
		next := rs.nextTry("c")
		if reset := next.IsZero(); reset != c.wantReset {
			t.Errorf("%s for %s after the last attempt: next try %v; want the streak ended: %v", c.state, c.after, next, c.wantReset)
		}
	}
}
