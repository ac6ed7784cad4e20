package sqlite_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// An intent to recreate is recorded per container (again: its time moves
// on), survives a reopen (it is what a restarted daemon finds), and the
// next Observe of that container, its outcome, clears it and no other.
func TestIntentsRecordedUntilTheOutcomeIsObserved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.db")
	db := open(t, path)
	at := time.Date(2026, 4, 20, 11, 0, 0, 0, time.UTC)
	for _, c := range []string{"c1", "c2", "c1"} {
		if err := db.Intend(ctx, c, at); err != nil {
			t.Fatalf("Intend %s: %v", c, err)
		}
		at = at.Add(time.Second)
	}
	if n := scalar(t, raw(t, path), `SELECT count(*) FROM intents`); n != 2 {
		t.Errorf("%d intent rows, want one per container", n)
	}
	db.Close()
	db = open(t, path)
	if got, err := db.Intents(ctx); err != nil || len(got) != 2 || !got["c1"] || !got["c2"] {
		t.Fatalf("Intents after a reopen = %v, %v; want c1 and c2", got, err)
	}
	o := watchdog.Observation{Container: "c1", Agent: "dev", Instance: "a", State: watchdog.StateRunning, Since: at}
	if err := db.Observe(ctx, o, &watchdog.Event{Type: watchdog.EventRecreated, Container: "c1"}); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Intents(ctx); err != nil || len(got) != 1 || !got["c2"] {
		t.Errorf("Intents after c1's outcome = %v, %v; want c2 only", got, err)
	}
}

// A registry that cannot be used says which step failed.
func TestIntentsOnAClosedRegistryFail(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "registry.db"))
	db.Close()
	if err := db.Intend(ctx, "c1", time.Now()); err == nil {
		t.Error("Intend on a closed registry succeeded")
	}
	if _, err := db.Intents(ctx); err == nil || !strings.Contains(err.Error(), "read intents") {
		t.Errorf("Intents on a closed registry: %v, want a read intents error", err)
	}
}
