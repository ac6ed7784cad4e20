package watchdog

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// lockedRegistry refuses every write, as a registry locked by another
// process does; nothing else is called by the ledger's store.
type lockedRegistry struct{ Registry }

func (lockedRegistry) Observe(context.Context, Observation, ...*Event) error {
	return errors.New("database is locked")
}

// The backlog holds max writes: filling it to exactly max drops nothing
// and says nothing of dropping; the write after drops the oldest one, and
// both the log and the registry's health say so.
func TestLedgerBacklogHoldsMaxBeforeDropping(t *testing.T) {
	var logged bytes.Buffer
	l := newLedger(slog.New(slog.NewTextHandler(&logged, nil)))
	l.max = 3
	ctx := context.Background()
	for _, c := range []string{"a", "b", "c"} {
		l.store(ctx, lockedRegistry{}, Observation{Container: c, State: StateMissing}, nil)
	}
	if strings.Contains(logged.String(), "dropping") || strings.Contains(l.health(), "dropped") {
		t.Fatalf("backlog exactly full: log %q, health %q; want no drop", logged.String(), l.health())
	}
	l.store(ctx, lockedRegistry{}, Observation{Container: "d", State: StateMissing}, nil)
	if !strings.Contains(logged.String(), "dropping the oldest") || !strings.Contains(l.health(), "1 unsaved writes dropped") {
		t.Errorf("one past the bound: log %q, health %q; want one drop reported", logged.String(), l.health())
	}
	if len(l.backlog) != 3 || l.backlog[0].obs.Container != "b" {
		t.Errorf("backlog %+v, want b, c, d (the oldest dropped)", l.backlog)
	}
	if _, ok := l.unsaved["a"]; ok {
		t.Error("the dropped write is still taken as a's previous state")
	}
}
