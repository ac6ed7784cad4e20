package watchdog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// ledger is the Watcher's account of the registry, kept so that a registry
// that cannot be read or written (disk full, read-only, locked by another
// process past the busy timeout) costs nothing but freshness: the watcher
// goes on from the last state it read, and holds the writes it could not
// make, in order, until it can. Nothing reported is lost or reported twice.
type ledger struct {
	log *slog.Logger
	// max bounds the writes held; past it the oldest are dropped (and
	// counted), so an outage cannot exhaust memory.
	max int

	mu sync.Mutex
	// The last expected set and state read, for when the registry cannot
	// be read.
	agentsRead bool
	lastAgents []Agent
	last       *snapshot
	backlog    []write
	// unsaved is each container's newest observation still in the backlog:
	// what the next tick must take as the previous state.
	unsaved map[string]Observation
	dropped int
	// Why the last reads failed and why writes are held (nil: they did
	// not, none are).
	agentsErr, stateErr, writeErr error
}

// snapshot is what a tick reads from the registry after listing docker.
type snapshot struct {
	observations map[string]Observation
	leased       map[string]bool
	holds        map[string]Hold
	intents      map[string]bool
}

// write is one observation and its events, not yet stored.
type write struct {
	obs    Observation
	events []Event
}

// maxBacklog is how many writes an outage may hold: at one event a
// second, most of three hours.
const maxBacklog = 10000

func newLedger(log *slog.Logger) *ledger {
	return &ledger{log: log, max: maxBacklog, unsaved: map[string]Observation{}}
}

// agents reads the registry's agents, or returns the last ones read when
// it cannot; it fails only when it never could.
func (l *ledger) agents(ctx context.Context, reg Registry) ([]Agent, error) {
	as, err := reg.Agents(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.agentsErr = fmt.Errorf("read registry: %w", err)
		if !l.agentsRead {
			return nil, l.agentsErr
		}
		return l.lastAgents, nil
	}
	l.agentsRead, l.lastAgents, l.agentsErr = true, as, nil
	return as, nil
}

// read returns the registry's state at now, or the last state read when it
// cannot be read, with the writes still held laid over it.
func (l *ledger) read(ctx context.Context, reg Registry, now time.Time) (snapshot, error) {
	s, err := readSnapshot(ctx, reg, now)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stateErr = err
	switch {
	case err == nil:
		l.last = &s
	case l.last == nil:
		return snapshot{}, err
	default:
		s = *l.last
	}
	prev := make(map[string]Observation, len(s.observations)+len(l.unsaved))
	for k, o := range s.observations {
		prev[k] = o
	}
	for k, o := range l.unsaved {
		prev[k] = o
	}
	s.observations = prev
	return s, nil
}

func readSnapshot(ctx context.Context, reg Registry, now time.Time) (snapshot, error) {
	var s snapshot
	var err error
	if s.observations, err = reg.Observations(ctx); err != nil {
		return s, fmt.Errorf("read observations: %w", err)
	}
	if s.leased, err = reg.Leased(ctx, now); err != nil {
		return s, fmt.Errorf("read leases: %w", err)
	}
	if s.holds, err = reg.Holds(ctx); err != nil {
		return s, fmt.Errorf("read holds: %w", err)
	}
	if s.intents, err = reg.Intents(ctx); err != nil {
		return s, fmt.Errorf("read intents: %w", err)
	}
	return s, nil
}

// store queues one observation with its events behind any writes still
// held, then writes what it can, in order. It returns the events stored
// now (older held ones first), with their ids, for publishing.
func (l *ledger) store(ctx context.Context, reg Registry, o Observation, evs []Event) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.backlog = append(l.backlog, write{obs: o, events: evs})
	l.unsaved[o.Container] = o
	if over := len(l.backlog) - l.max; over > 0 {
		l.dropped += over
		l.log.Error("registry unwritable too long: dropping the oldest unsaved events", "dropped", over, "held", l.max)
		for range over {
			l.pop()
		}
	}
	return l.flushLocked(ctx, reg)
}

// flush writes the held writes it can, in order, and returns their events.
func (l *ledger) flush(ctx context.Context, reg Registry) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flushLocked(ctx, reg)
}

func (l *ledger) flushLocked(ctx context.Context, reg Registry) []Event {
	var stored []Event
	for len(l.backlog) > 0 {
		w := l.backlog[0]
		if err := l.storeHead(ctx, reg); err != nil {
			if l.writeErr == nil {
				l.log.Error("registry unwritable: holding events until it is", "container", w.obs.Container, "err", err)
			}
			l.writeErr = fmt.Errorf("registry unwritable, %d writes held: %w", len(l.backlog), err)
			return stored
		}
		l.pop()
		stored = append(stored, w.events...)
	}
	if l.writeErr != nil {
		l.log.Info("registry writable again: held events stored", "events", len(stored))
		l.writeErr = nil
	}
	return stored
}

// storeHead stores the oldest write held, its events' ids filled in.
// Should that panic (a bug, not an outage), the write is dropped before
// the panic goes on: it must not hold every later write behind it.
func (l *ledger) storeHead(ctx context.Context, reg Registry) error {
	defer func() {
		if v := recover(); v != nil {
			l.pop()
			panic(v)
		}
	}()
	w := l.backlog[0]
	ptrs := make([]*Event, len(w.events))
	for i := range w.events {
		ptrs[i] = &w.events[i]
	}
	return reg.Observe(ctx, w.obs, ptrs...)
}

// pop drops the oldest write held (stored, or given up on).
func (l *ledger) pop() {
	w := l.backlog[0]
	l.backlog = l.backlog[1:]
	if l.unsaved[w.obs.Container] == w.obs {
		delete(l.unsaved, w.obs.Container)
	}
}

// holds reads the holds, or returns the last ones read.
func (l *ledger) holds(ctx context.Context, reg Registry) map[string]Hold {
	hs, err := reg.Holds(ctx)
	if err == nil {
		return hs
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		return nil
	}
	return l.last.holds
}

// health says why the registry is degraded, or "" when it is not.
func (l *ledger) health() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ps []string
	for _, err := range []error{l.agentsErr, l.stateErr, l.writeErr} {
		if err != nil {
			ps = append(ps, err.Error())
		}
	}
	if l.dropped > 0 {
		ps = append(ps, fmt.Sprintf("%d unsaved writes dropped", l.dropped))
	}
	return strings.Join(ps, "; ")
}
