package watchdog_test

import (
	"context"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/exec"
)

// A remover that deletes the container the moment `docker run` has made
// it: the contract allows at most 10 docker run calls in any 5 minutes.
// The watchdog is given every chance to exceed that: it ticks every 2 s
// and exactly when a paced repair falls due (a loop ticks at most that
// often: the destroy's trigger, the due time), for an hour of the fake
// clock. The count is a property of the pacing, not of speed, so this is
// a test; scripts/bench-engine.sh prints its figure (-v).
func TestRemovalLoopRunsAtMostTenPerFiveMinutes(t *testing.T) {
	const (
		window = 5 * time.Minute
		limit  = 10
		span   = time.Hour
		step   = 2 * time.Second
	)
	e := newTickEnv(t, agent("dev"))
	name := cname("dev", "default")
	var runs []time.Time
	e.fake.intercept(func(ctx context.Context, args []string, emit func(string), next nextCall) (exec.Result, error) {
		res, err := next(ctx, emit)
		if args[0] == "run" && err == nil && res.ExitCode == 0 {
			runs = append(runs, e.clock.Now())
			e.fake.remove(name)
		}
		return res, err
	})
	e.fake.remove(name)
	start := e.clock.Now()
	for e.clock.Now().Sub(start) < span {
		if _, err := e.w.Tick(e.ctx); err != nil {
			t.Fatal(err)
		}
		e.w.Wait()
		d := step
		if due := e.w.NextWake(); due.After(e.clock.Now()) && due.Sub(e.clock.Now()) < d {
			d = due.Sub(e.clock.Now())
		}
		e.clock.Advance(d)
	}
	most, at := mostInWindow(runs, window)
	t.Logf("removal loop over %s: %d docker run calls; at most %d in any %s (from %s); first six at %v",
		span, len(runs), most, window, at.Sub(start), offsets(start, runs[:min(6, len(runs))]))
	if most > limit {
		t.Errorf("%d docker run calls within %s from %s, want at most %d", most, window, at.Sub(start), limit)
	}
	if first := offsets(start, runs[:3]); first[2] > 2*step {
		t.Errorf("first three recreations at %v, want them at once (one per tick)", first)
	}
	// Pacing must not starve it either: from the cap on, one a Max.
	if len(runs) < int(span/(5*time.Minute)) {
		t.Errorf("%d recreations in %s, want at least one every 5 minutes once capped", len(runs), span)
	}
}

// mostInWindow is the largest number of times within any window (half
// open, starting at one of them), and where that window starts.
func mostInWindow(ts []time.Time, window time.Duration) (most int, at time.Time) {
	j := 0
	for i := range ts {
		for j < len(ts) && ts[j].Sub(ts[i]) < window {
			j++
		}
		if j-i > most {
			most, at = j-i, ts[i]
		}
	}
	return most, at
}

func offsets(start time.Time, ts []time.Time) []time.Duration {
	out := make([]time.Duration, len(ts))
	for i, t := range ts {
		out[i] = t.Sub(start)
	}
	return out
}
