package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/clock"
)

// Outbox is the durable queue as the Sender needs it (the registry).
type Outbox interface {
	// Sinks lists every sink.
	Sinks(ctx context.Context) ([]Sink, error)
	// Pending returns up to limit of a sink's queued rows, oldest first.
	Pending(ctx context.Context, sink string, limit int) ([]Pending, error)
	// Settle applies one step's outcome to a sink's rows and counters.
	Settle(ctx context.Context, sink string, o Outcome) error
	// Stats returns every sink's counters and queue length.
	Stats(ctx context.Context) ([]SinkStats, error)
}

// SinkStats is a sink's delivery record. Delivered and Dropped count
// events (each event a summary folds counts); Failed counts failed
// attempts. They persist in the registry; Queue is the outbox's length.
type SinkStats struct {
	Sink      string `json:"sink"`
	Delivered uint64 `json:"delivered"`
	Failed    uint64 `json:"failed"`
	Dropped   uint64 `json:"dropped"`
	Queue     int    `json:"queue"`
	LastError string `json:"last_error"`
}

// Opener makes the transport for a sink (a webhook or a shoutrrr service).
type Opener func(ctx context.Context, s Sink) (Transport, error)

// Sender is the daemon's delivery task: one worker per sink drains that
// sink's rows in order, so a sink that fails or hangs delays only itself.
// It never runs on the tick's path: the tick only queues rows (in the
// event's own transaction) and Publish only wakes the Sender.
type Sender struct {
	Outbox Outbox
	Open   Opener
	Policy Policy
	// Timeout bounds each attempt, connection included (default 10 s).
	Timeout time.Duration
	// Poll is the backstop: how often sinks and queues are looked at
	// without a wake (default 5 s), so rows queued by another process
	// (`run --once`) or left by a crash go out too.
	Poll time.Duration
	Log  *slog.Logger
	// Clock paces retries, bursts and polls (the system clock when nil).
	Clock clock.Clock

	once  sync.Once
	wake  chan struct{}
	mu    sync.Mutex
	cache []SinkStats
}

var _ watchdog.Publisher = (*Sender)(nil)

func (s *Sender) init() {
	s.once.Do(func() {
		s.wake = make(chan struct{}, 1)
		s.Policy = s.Policy.orDefault()
		if s.Timeout <= 0 {
			s.Timeout = 10 * time.Second
		}
		if s.Poll <= 0 {
			s.Poll = 5 * time.Second
		}
		s.Clock = clock.Or(s.Clock)
		if s.Log == nil {
			s.Log = slog.New(slog.DiscardHandler)
		}
	})
}

// Publish implements watchdog.Publisher: a stored event may have queued
// rows, so look now. It never blocks.
func (s *Sender) Publish(watchdog.Event) { s.Wake() }

// Wake asks the Sender to look at the outbox soon; many wakes count as one.
func (s *Sender) Wake() {
	s.init()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends. Workers follow the sinks in the registry:
// one starts for each new sink, and stops when its sink is removed.
func (s *Sender) Run(ctx context.Context) error {
	s.init()
	workers := map[string]*worker{}
	var wg sync.WaitGroup
	defer func() {
		for _, w := range workers {
			w.stop()
		}
		wg.Wait()
	}()
	for {
		sinks, err := s.Outbox.Sinks(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.Log.Error("notifications: read sinks", "err", err)
		default:
			s.follow(ctx, sinks, workers, &wg)
		}
		for _, w := range workers {
			w.poke()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-s.Clock.After(s.Poll):
		}
	}
}

// follow starts a worker for each new (or re-added) sink and stops those
// whose sink is gone.
func (s *Sender) follow(ctx context.Context, sinks []Sink, workers map[string]*worker, wg *sync.WaitGroup) {
	seen := map[string]bool{}
	for _, sk := range sinks {
		seen[sk.Name] = true
		if w := workers[sk.Name]; w != nil {
			if w.sink.URL == sk.URL && w.sink.Secret == sk.Secret && w.sink.CreatedAt.Equal(sk.CreatedAt) {
				continue
			}
			w.stop()
		}
		wctx, cancel := context.WithCancel(ctx)
		w := &worker{s: s, sink: sk, pokes: make(chan struct{}, 1), cancel: cancel}
		workers[sk.Name] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(wctx)
		}()
	}
	for name, w := range workers {
		if !seen[name] {
			w.stop()
			delete(workers, name)
		}
	}
}

// Stats implements the metrics adapter: every sink's counters and queue.
// It reads the registry; when that fails it returns the last answer.
func (s *Sender) Stats() []SinkStats {
	s.init()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := s.Outbox.Stats(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.Log.Warn("notifications: read stats", "err", err)
		return append([]SinkStats(nil), s.cache...)
	}
	s.cache = st
	return append([]SinkStats(nil), st...)
}

// worker drains one sink's queue, in order.
type worker struct {
	s      *Sender
	sink   Sink
	pokes  chan struct{}
	cancel context.CancelFunc
	pace   pace
	tr     Transport
}

func (w *worker) stop() { w.cancel() }

func (w *worker) poke() {
	select {
	case w.pokes <- struct{}{}:
	default:
	}
}

func (w *worker) run(ctx context.Context) {
	for ctx.Err() == nil {
		d, idle := w.step(ctx)
		switch {
		case idle:
			select {
			case <-ctx.Done():
			case <-w.pokes:
			case <-w.s.Clock.After(w.s.Poll):
			}
		case d > 0:
			// A known wait (backoff, a burst's hold): a wake changes nothing.
			select {
			case <-ctx.Done():
			case <-w.s.Clock.After(d):
			}
		}
	}
}

// step does one thing for the sink and says how long to wait before the
// next (idle: until a wake).
func (w *worker) step(ctx context.Context) (time.Duration, bool) {
	pol := w.s.Policy
	rows, err := w.s.Outbox.Pending(ctx, w.sink.Name, pol.MaxFold)
	if err != nil {
		if ctx.Err() == nil {
			w.s.Log.Error("notifications: read queue", "sink", w.sink.Name, "err", err)
		}
		return w.s.Poll, false
	}
	now := w.s.Clock.Now()
	a, p := plan(now, rows, w.pace, pol)
	w.pace = p
	switch a.Kind {
	case actIdle:
		return 0, true
	case actWait:
		return max(a.At.Sub(now), time.Millisecond), false
	case actDrop:
		w.record(ctx, Outcome{Dropped: ids(a.Rows), At: now})
		w.s.Log.Warn("notifications dropped: undelivered for too long", "sink", w.sink.Name,
			"count", len(a.Rows), "first_event", a.Rows[0].Event.ID, "give_up", pol.GiveUp)
		return 0, false
	}
	m := SingleMessage(w.sink.Name, a.Rows[0].Event, now)
	if a.Fold {
		evs := make([]watchdog.Event, len(a.Rows))
		for i, r := range a.Rows {
			evs[i] = r.Event
		}
		m = SummaryMessage(w.sink.Name, evs, now)
	}
	err = w.send(ctx, m)
	if ctx.Err() != nil {
		return 0, false // stopping: the rows stay queued for the next run
	}
	o, p := settle(w.s.Clock.Now(), a, err, w.pace, pol)
	w.pace = p
	o.Error = w.sink.Redact(o.Error)
	w.record(ctx, o)
	switch {
	case err == nil:
	case len(o.Dropped) > 0:
		w.s.Log.Warn("notification refused for good; dropped", "sink", w.sink.Name, "count", len(o.Dropped), "err", o.Error)
	default:
		w.s.Log.Warn("notification failed; will retry", "sink", w.sink.Name, "attempt", o.Attempts,
			"next", o.NextAttempt.UTC().Format(time.RFC3339), "err", o.Error)
	}
	return 0, false
}

// send opens the transport on first use (a chat service may log in) and
// delivers m within the per-attempt timeout.
func (w *worker) send(ctx context.Context, m Message) error {
	ctx, cancel := context.WithTimeout(ctx, w.s.Timeout)
	defer cancel()
	if w.tr == nil {
		tr, err := w.s.Open(ctx, w.sink)
		if err != nil {
			return fmt.Errorf("open %s: %w", w.sink.MaskedURL(), err)
		}
		w.tr = tr
	}
	err := w.tr.Send(ctx, m)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s: %w", w.s.Timeout, err)
	}
	return err
}

// record stores an outcome. If that fails the rows stay queued and go out
// again: at least once.
func (w *worker) record(ctx context.Context, o Outcome) {
	if err := w.s.Outbox.Settle(ctx, w.sink.Name, o); err != nil && ctx.Err() == nil {
		w.s.Log.Error("notifications: record outcome", "sink", w.sink.Name, "err", err)
	}
}

func ids(rows []Pending) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}
