package watchdog

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// switchRegistry answers reads from its fields, or fails them all while
// down; writes fail while down too.
type switchRegistry struct {
	Registry
	down  bool
	holds map[string]Hold
}

var errDown = errors.New("database is locked")

func (r *switchRegistry) Observations(context.Context) (map[string]Observation, error) {
	if r.down {
		return nil, errDown
	}
	return map[string]Observation{}, nil
}

func (r *switchRegistry) Leased(context.Context, time.Time) (map[string]bool, error) {
	return map[string]bool{}, nil
}

func (r *switchRegistry) Holds(context.Context) (map[string]Hold, error) {
	if r.down {
		return nil, errDown
	}
	return r.holds, nil
}

func (r *switchRegistry) Intents(context.Context) (map[string]bool, error) {
	return map[string]bool{}, nil
}

func (r *switchRegistry) Observe(context.Context, Observation, ...*Event) error {
	if r.down {
		return errDown
	}
	return nil
}

// A repair asks for the holds afresh; when the registry cannot answer, the
// last holds read stand (a hold an operator placed is not forgotten by an
// outage), and before any were read there are none.
func TestLedgerHoldsFallBackToTheLastRead(t *testing.T) {
	ctx := context.Background()
	l := newLedger(slog.New(slog.DiscardHandler))
	reg := &switchRegistry{down: true}
	if hs := l.holds(ctx, reg); hs != nil {
		t.Fatalf("nothing read yet, registry down: holds %v, want none", hs)
	}
	reg.down, reg.holds = false, map[string]Hold{"c": {Container: "c", Reason: "restore"}}
	if _, err := l.read(ctx, reg, time.Now()); err != nil {
		t.Fatal(err)
	}
	reg.holds = map[string]Hold{"c": {Container: "c", Reason: "restore"}, "d": {Container: "d", Reason: "new"}}
	if hs := l.holds(ctx, reg); len(hs) != 2 {
		t.Errorf("registry up: holds %v, want its current two", hs)
	}
	reg.down = true
	if hs := l.holds(ctx, reg); hs["c"].Reason != "restore" || len(hs) != 1 {
		t.Errorf("registry down: holds %v, want the last read (c)", hs)
	}
}

// An outage of the registry is logged once, when writes start being held,
// not at every failed retry; its end is logged once too.
func TestLedgerLogsAnOutageOnceAndItsEnd(t *testing.T) {
	var logged bytes.Buffer
	l := newLedger(slog.New(slog.NewTextHandler(&logged, nil)))
	ctx := context.Background()
	reg := &switchRegistry{down: true}
	l.store(ctx, reg, Observation{Container: "a", State: StateMissing}, []Event{{Type: EventMissing, Container: "a"}})
	l.flush(ctx, reg)
	l.flush(ctx, reg)
	if n := strings.Count(logged.String(), "registry unwritable: holding"); n != 1 {
		t.Errorf("three failed writes logged the outage %d times, want once:\n%s", n, logged.String())
	}
	if !strings.Contains(l.health(), "1 writes held") {
		t.Errorf("health %q, want the held write counted", l.health())
	}
	reg.down = false
	if evs := l.flush(ctx, reg); len(evs) != 1 {
		t.Errorf("flush after the outage stored %v, want the held event", evs)
	}
	l.flush(ctx, reg)
	if n := strings.Count(logged.String(), "registry writable again"); n != 1 {
		t.Errorf("recovery logged %d times, want once:\n%s", n, logged.String())
	}
	if h := l.health(); h != "" {
		t.Errorf("health %q after recovery, want none", h)
	}
}
