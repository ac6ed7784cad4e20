package watchdog_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/watchdog"
)

// stream is one run of the fake event source: the events it delivers, how
// long it lasts on the fake clock, then how it ends.
type stream struct {
	events []watchdog.Lifecycle
	lasts  time.Duration
	// hang keeps the stream open until ctx ends; else it ends with err.
	hang bool
	err  error
}

// fakeSource is an EventSource that plays streams in order, logging each
// event it delivers so a test can see what a trigger followed.
type fakeSource struct {
	clock   *clock
	mu      sync.Mutex
	streams []stream
	log     *[]string
	started chan int // the number of each stream as it opens
}

func (s *fakeSource) Follow(ctx context.Context, onEvent func(watchdog.Lifecycle)) error {
	s.mu.Lock()
	if len(s.streams) == 0 {
		s.mu.Unlock()
		<-ctx.Done()
		return ctx.Err()
	}
	st := s.streams[0]
	s.streams = s.streams[1:]
	s.mu.Unlock()
	s.started <- 1
	for _, l := range st.events {
		s.mu.Lock()
		*s.log = append(*s.log, l.Action)
		s.mu.Unlock()
		onEvent(l)
	}
	s.clock.Advance(st.lasts)
	if st.hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return st.err
}

type followEnv struct {
	t      *testing.T
	clock  *clock
	source *fakeSource
	ev     *watchdog.Evidence
	f      *watchdog.Follower
	mu     sync.Mutex
	log    []string
	waits  []time.Duration
	// block, when set, makes After never fire.
	block bool
}

func newFollowEnv(t *testing.T, streams ...stream) *followEnv {
	e := &followEnv{t: t, clock: newClock(), ev: watchdog.NewEvidence(16, 10*time.Minute)}
	e.source = &fakeSource{clock: e.clock, streams: streams, log: &e.log, started: make(chan int, 100)}
	e.f = &watchdog.Follower{
		Source: e.source, Evidence: e.ev, Log: discardLog(),
		Backoff: watchdog.Backoff{Initial: time.Second, Max: 8 * time.Second, Reset: 8 * time.Second, Burst: 1},
		Trigger: func() {
			e.source.mu.Lock()
			defer e.source.mu.Unlock()
			e.log = append(e.log, "TRIGGER")
		},
	}
	e.f.Clock = testClock{Clock: e.clock, after: func(d time.Duration) <-chan time.Time {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.waits = append(e.waits, d)
		ch := make(chan time.Time, 1)
		if !e.block {
			ch <- time.Time{}
		}
		return ch
	}}
	return e
}

// run starts the follower and returns a stop that cancels it and wants
// Run to end promptly with nil.
func (e *followEnv) run() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.f.Run(ctx) }()
	var once sync.Once
	stop = func() {
		e.t.Helper()
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					e.t.Errorf("Run = %v, want nil", err)
				}
			case <-time.After(10 * time.Second):
				e.t.Fatal("Run did not end with ctx")
			}
		})
	}
	e.t.Cleanup(stop)
	return stop
}

// opened waits for stream number n (counting from 1) to open.
func (e *followEnv) opened(n int) {
	e.t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-e.source.started:
		case <-time.After(10 * time.Second):
			e.t.Fatalf("stream %d did not open", i+1)
		}
	}
}

func (e *followEnv) snapshot() ([]string, []time.Duration) {
	e.source.mu.Lock()
	log := slices.Clone(e.log)
	e.source.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	return log, slices.Clone(e.waits)
}

func TestFollowerRecordsEvidenceAndTriggersOnLosses(t *testing.T) {
	at := newClock().Now()
	n := cname("dev", "default")
	burst := []watchdog.Lifecycle{
		lc(n, at, "kill", "signal=9"), lc(n, at, "die", "exitCode=137"), lc(n, at, "destroy"),
		lc(n, at, "oom"), lc(n, at, "create"), lc(n, at, "start"), lc(n, at, "stop"),
	}
	e := newFollowEnv(t, stream{events: burst, hang: true})
	stop := e.run()
	e.opened(1)
	// The stream hangs after its events; wait until they are all in.
	deadline := time.Now().Add(10 * time.Second)
	for len(e.ev.Recent(n, at)) < len(burst) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	stop()

	log, waits := e.snapshot()
	want := []string{"TRIGGER", "kill", "die", "TRIGGER", "destroy", "TRIGGER", "oom", "TRIGGER", "create", "start", "TRIGGER", "stop"}
	if !slices.Equal(log, want) {
		t.Errorf("events and triggers\n got %q\nwant %q", log, want)
	}
	if got := e.ev.Recent(n, at); !slices.Equal(got, burst) {
		t.Errorf("evidence %v, want every event in order", got)
	}
	if len(waits) != 0 {
		t.Errorf("waited %v though the stream never ended", waits)
	}
}

func TestFollowerRestartsWithBackoff(t *testing.T) {
	ended := errors.New("docker events ended")
	n := cname("dev", "default")
	e := newFollowEnv(t,
		stream{err: ended}, stream{err: ended}, stream{err: ended}, stream{err: ended}, stream{err: ended},
		// One that ran longer than Max: the backoff starts over.
		stream{events: []watchdog.Lifecycle{lc(n, newClock().Now(), "die", "exitCode=1")}, lasts: 9 * time.Second, err: ended},
		stream{err: ended},
		stream{hang: true},
	)
	stop := e.run()
	e.opened(8)
	stop()

	log, waits := e.snapshot()
	// One trigger per (re)start, as events may have been missed meanwhile.
	want := strings.Split("TRIGGER TRIGGER TRIGGER TRIGGER TRIGGER TRIGGER die TRIGGER TRIGGER TRIGGER", " ")
	if !slices.Equal(log, want) {
		t.Errorf("log\n got %q\nwant %q", log, want)
	}
	s := time.Second
	if wantWaits := []time.Duration{s, 2 * s, 4 * s, 8 * s, 8 * s, s, 2 * s}; !slices.Equal(waits, wantWaits) {
		t.Errorf("restart delays %v, want %v", waits, wantWaits)
	}
}

func TestFollowerStopsWhenCtxEnds(t *testing.T) {
	t.Run("following", func(t *testing.T) {
		e := newFollowEnv(t, stream{hang: true})
		stop := e.run()
		e.opened(1)
		stop()
	})
	t.Run("waiting to restart", func(t *testing.T) {
		e := newFollowEnv(t, stream{err: errors.New("gone")})
		e.block = true
		stop := e.run()
		e.opened(1)
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, waits := e.snapshot(); len(waits) == 1 || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		stop()
		if _, waits := e.snapshot(); len(waits) != 1 {
			t.Errorf("waits %v, want one", waits)
		}
		select {
		case <-e.source.started:
			t.Error("restarted after ctx ended")
		default:
		}
	})
}

// The stream carries every managed container; another watchdog's (another
// prefix) neither triggers a tick nor leaves evidence here.
func TestFollowerIgnoresOtherPrefixes(t *testing.T) {
	at := newClock().Now()
	ours, theirs := cname("dev", "default"), "other-dev-default"
	e := newFollowEnv(t, stream{events: []watchdog.Lifecycle{
		lc(theirs, at, "die", "exitCode=137"), lc(theirs, at, "destroy"), lc(ours, at, "die", "exitCode=1"),
	}, hang: true})
	e.f.Prefix = prefix
	stop := e.run()
	e.opened(1)
	for deadline := time.Now().Add(10 * time.Second); len(e.ev.Recent(ours, at)) == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	stop()
	log, _ := e.snapshot()
	if want := []string{"TRIGGER", "die", "destroy", "die", "TRIGGER"}; !slices.Equal(log, want) {
		t.Errorf("events and triggers\n got %q\nwant %q", log, want)
	}
	if got := e.ev.Recent(theirs, at); len(got) != 0 {
		t.Errorf("evidence kept for %s: %v", theirs, got)
	}
}
