package notify

import (
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// burst builds events of the given types, n of each, all at at.
func burst(at time.Time, counts map[watchdog.EventType]int) []watchdog.Event {
	var evs []watchdog.Event
	for typ, n := range counts {
		for range n {
			evs = append(evs, watchdog.Event{ID: int64(len(evs) + 1), Type: typ, Container: "c", Time: at})
		}
	}
	return evs
}

// A summary names the most frequent type first, whatever its name; types
// as frequent as each other go by name, so the line is the same every time.
func TestSummaryNamesTheMostFrequentTypeFirst(t *testing.T) {
	evs := burst(t0.Add(-10*time.Second), map[watchdog.EventType]int{
		watchdog.EventStopped: 3, watchdog.EventRestarted: 2, watchdog.EventRecreated: 1, watchdog.EventMissing: 1,
	})
	want := "7 events in the last minute: 3 container_stopped, 2 container_restarted, 1 container_missing, 1 container_recreated"
	for range 20 { // map order varies from run to run: each must give the same line
		if got := SummaryMessage("ops", evs, t0).Summary; got != want {
			t.Fatalf("Summary = %q, want %q", got, want)
		}
	}
}

// "In the last minute" holds up to exactly a minute; older says since when.
func TestSummaryOfEventsExactlyAMinuteOld(t *testing.T) {
	evs := burst(t0.Add(-time.Minute), map[watchdog.EventType]int{watchdog.EventMissing: 2})
	if got, want := SummaryMessage("ops", evs, t0).Summary, "2 events in the last minute: 2 container_missing"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	if got, want := SummaryMessage("ops", evs, t0.Add(time.Nanosecond)).Summary, "2 events since 2026-04-20T11:59:00Z: 2 container_missing"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
}

// A summary names up to five containers; only more than five adds "and N
// more".
func TestSummaryNamesFiveContainersWithoutAMore(t *testing.T) {
	var evs []watchdog.Event
	for i, c := range []string{"e", "d", "c", "b", "a", "a"} {
		evs = append(evs, watchdog.Event{ID: int64(i + 1), Type: watchdog.EventMissing, Container: c, Time: t0})
	}
	if got, want := containersLine(evs), "containers: a, b, c, d, e"; got != want {
		t.Errorf("containersLine = %q, want %q", got, want)
	}
	evs = append(evs, watchdog.Event{ID: 7, Type: watchdog.EventMissing, Container: "f", Time: t0})
	if got, want := containersLine(evs), "containers: a, b, c, d, e and 1 more"; got != want {
		t.Errorf("containersLine = %q, want %q", got, want)
	}
}
