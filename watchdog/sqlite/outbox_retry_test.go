package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/notify"
)

// A retry's schedule is stored with the row and read back: Pending gives
// the attempts made and when the next is due (across a reopen, so a
// restarted daemon does not retry at once), and zero for a row never
// tried.
func TestPendingReadsBackTheRetrySchedule(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	db := open(t, path)
	if err := db.AddSink(ctx, notify.Sink{Name: "s", URL: "https://a.example/h", MinPriority: 7}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := db.AppendEvent(ctx, &watchdog.Event{Type: watchdog.EventMissing, Container: "c"}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := db.Pending(ctx, "s", 10)
	if err != nil || len(rows) != 2 {
		t.Fatalf("Pending = %+v, %v", rows, err)
	}
	next := time.Date(2026, 4, 20, 12, 0, 8, 250_000_000, time.UTC)
	if err := db.Settle(ctx, "s", notify.Outcome{Retry: []int64{rows[0].ID}, Attempts: 3, NextAttempt: next,
		Failed: true, Error: "HTTP 503", At: next.Add(-8 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = open(t, path)
	got, err := db.Pending(ctx, "s", 10)
	if err != nil || len(got) != 2 {
		t.Fatalf("Pending after reopen = %+v, %v", got, err)
	}
	if got[0].Attempts != 3 || !got[0].NextAttempt.Equal(next) {
		t.Errorf("retried row: attempts %d, next %v; want 3, %v", got[0].Attempts, got[0].NextAttempt, next)
	}
	if got[1].Attempts != 0 || !got[1].NextAttempt.IsZero() {
		t.Errorf("untried row: attempts %d, next %v; want 0 and none", got[1].Attempts, got[1].NextAttempt)
	}
}
