package watchdog_test

import (
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// Record prunes by the same inclusive MaxAge that Recent reads by: an
// event exactly MaxAge older than the newest is still evidence, so a
// report made at the newest event's time sees both.
func TestEvidenceRecordKeepsAnEventExactlyMaxAgeOld(t *testing.T) {
	at := time.Date(2026, 4, 20, 11, 0, 0, 0, time.UTC)
	ev := watchdog.NewEvidence(16, 10*time.Minute)
	ev.Record(lc("a", at, "kill", "signal=9"))
	ev.Record(lc("a", at.Add(10*time.Minute), "die", "exitCode=137"))
	if got := ev.Recent("a", at.Add(10*time.Minute)); len(got) != 2 || got[0].Action != "kill" {
		t.Errorf("Recent = %v, want the kill (exactly MaxAge old) and the die", got)
	}
	// A nanosecond older is gone, from Record as from Recent.
	ev.Record(lc("a", at.Add(10*time.Minute+time.Nanosecond), "destroy"))
	if got := ev.Recent("a", at.Add(10*time.Minute)); len(got) != 2 || got[0].Action != "die" {
		t.Errorf("Recent = %v, want the die and the destroy only", got)
	}
}
