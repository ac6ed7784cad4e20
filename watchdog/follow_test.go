package watchdog_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/exec"
	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/docker"
	"github.com/container-watchdog/container-watchdog/watchdog/docker/fakedocker"
)

// followEnv runs a Follower over the real docker.Client's event stream
// from the fake docker, on a fake clock. It logs each event the stream
// delivers (its action) and each trigger ("TRIGGER"), in order.
type followEnv struct {
	t      *testing.T
	clock  *clock
	fake   *fakeDocker
	ev     *watchdog.Evidence
	f      *watchdog.Follower
	opened chan struct{} // one per events stream that starts following
	seen   int           // how many of the clock's waits the test looked at

	mu  sync.Mutex
	log []string
}

func newFollowEnv(t *testing.T) *followEnv {
	clk := newClock()
	e := &followEnv{t: t, clock: clk, fake: newFakeDocker(t, clk), ev: watchdog.NewEvidence(16, 10*time.Minute),
		opened: make(chan struct{}, 100)}
	e.fake.docker.OnFollow = func() { e.opened <- struct{}{} }
	e.fake.intercept(func(ctx context.Context, args []string, emit func(string), next nextCall) (exec.Result, error) {
		return next(ctx, func(line string) {
			if l, err := docker.ParseEvent([]byte(line)); err == nil {
				e.note(l.Action)
			}
			emit(line)
		})
	})
	e.f = &watchdog.Follower{
		Source: e.fake.client, Prefix: prefix, Evidence: e.ev, Log: discardLog(), Clock: clk,
		Backoff: watchdog.Backoff{Initial: time.Second, Max: 8 * time.Second, Reset: 8 * time.Second, Burst: 1},
		Trigger: func() { e.note("TRIGGER") },
	}
	return e
}

func (e *followEnv) note(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, s)
}

func (e *followEnv) snapshot() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.log)
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

// following waits for the next events stream to follow: what changes
// after that is its to deliver.
func (e *followEnv) following() {
	e.t.Helper()
	select {
	case <-e.opened:
	case <-time.After(10 * time.Second):
		e.t.Fatal("no docker events stream followed")
	}
}

// waitLog waits until the log holds n entries and returns it.
func (e *followEnv) waitLog(n int) []string {
	e.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(e.snapshot()) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			e.t.Fatalf("log %q, want %d entries", e.snapshot(), n)
		}
	}
	return e.snapshot()
}

// nextWait waits for the follower to begin its next wait and returns how
// long it asked for.
func (e *followEnv) nextWait() time.Duration {
	e.t.Helper()
	e.seen++
	if !e.clock.BlockUntilWaited(e.seen, 10*time.Second) {
		e.t.Fatalf("the follower did not wait; log %q", e.snapshot())
	}
	return e.clock.Waited()[e.seen-1]
}

func (e *followEnv) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func TestFollowerRecordsEvidenceAndTriggersOnLosses(t *testing.T) {
	e := newFollowEnv(t)
	n := cname("dev", "default")
	labels := managedLabels(agent("dev"), "default")
	e.fake.put(n, "running", labels)
	stop := e.run()
	e.following()

	// Each step's events are docker's for it, a nanosecond apart.
	var want []watchdog.Lifecycle
	step := func(do func(), events ...watchdog.Lifecycle) {
		t.Helper()
		e.clock.Advance(time.Second)
		for i, l := range events {
			l.Time = e.clock.Now().Add(time.Duration(i))
			want = append(want, l)
		}
		do()
	}
	step(func() { e.fake.remove(n) }, lc(n, time.Time{}, "kill", "signal=9"), lc(n, time.Time{}, "die", "exitCode=137"), lc(n, time.Time{}, "destroy"))
	step(func() { e.fake.put(n, "running", labels) }, lc(n, time.Time{}, "create"), lc(n, time.Time{}, "start"))
	step(func() {
		_, err := e.fake.docker.Do(context.Background(), "stop", n)
		e.must(err)
	}, lc(n, time.Time{}, "kill", "signal=15"), lc(n, time.Time{}, "die", "exitCode=0"), lc(n, time.Time{}, "stop"))
	step(func() { e.fake.setState(n, "running") }, lc(n, time.Time{}, "start"))
	step(func() { e.must(e.fake.docker.OOMKill(n)) }, lc(n, time.Time{}, "oom"), lc(n, time.Time{}, "die", "exitCode=137"))

	// A trigger at the stream's start, then after each die, destroy, oom and start.
	wantLog := strings.Fields("TRIGGER kill die TRIGGER destroy TRIGGER create start TRIGGER kill die TRIGGER stop start TRIGGER oom TRIGGER die TRIGGER")
	if log := e.waitLog(len(wantLog)); !slices.Equal(log, wantLog) {
		t.Errorf("events and triggers\n got %q\nwant %q", log, wantLog)
	}
	stop()
	sameEvent := func(a, b watchdog.Lifecycle) bool {
		a.Time, b.Time = a.Time.UTC(), b.Time.UTC() // as ==, but in any zone
		return a == b
	}
	if got := e.ev.Recent(n, e.clock.Now()); !slices.EqualFunc(got, want, sameEvent) {
		t.Errorf("evidence\n got %v\nwant %v: every event in order", got, want)
	}
	if w := e.clock.Waited(); len(w) != 0 {
		t.Errorf("waited %v though the stream never ended", w)
	}
}

func TestFollowerRestartsWithBackoff(t *testing.T) {
	e := newFollowEnv(t)
	n := cname("dev", "default")
	e.fake.put(n, "running", managedLabels(agent("dev"), "default"))
	down := fakedocker.Fault{Fail: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock"}
	down.Times = 5
	e.must(e.fake.docker.SetFault("events", down))
	stop := e.run()

	// Five streams fail at once: the restarts back off, up to Max.
	s := time.Second
	for _, d := range []time.Duration{s, 2 * s, 4 * s, 8 * s, 8 * s} {
		wantWait(t, e.nextWait(), d)
		e.clock.Advance(d)
	}
	// The sixth follows, delivers a die, and ends after running longer
	// than Reset: the backoff starts over.
	e.following()
	e.fake.setState(n, "exited")
	e.waitLog(8)
	e.clock.Advance(9 * s)
	down.Times = 1
	e.must(e.fake.docker.SetFault("events", down))
	e.must(e.fake.docker.EndEvents("error during connect: unexpected EOF"))
	for _, d := range []time.Duration{s, 2 * s} {
		wantWait(t, e.nextWait(), d)
		e.clock.Advance(d)
	}
	e.following()
	stop()

	// One trigger per (re)start, as events may have been missed meanwhile.
	want := strings.Fields("TRIGGER TRIGGER TRIGGER TRIGGER TRIGGER TRIGGER die TRIGGER TRIGGER TRIGGER")
	if log := e.snapshot(); !slices.Equal(log, want) {
		t.Errorf("log\n got %q\nwant %q", log, want)
	}
	if waits, want := e.clock.Waited(), []time.Duration{s, 2 * s, 4 * s, 8 * s, 8 * s, s, 2 * s}; !slices.Equal(waits, want) {
		t.Errorf("restart delays %v, want %v", waits, want)
	}
}

func TestFollowerStopsWhenCtxEnds(t *testing.T) {
	t.Run("following", func(t *testing.T) {
		e := newFollowEnv(t)
		stop := e.run()
		e.following()
		stop()
	})
	t.Run("waiting to restart", func(t *testing.T) {
		e := newFollowEnv(t)
		e.must(e.fake.docker.SetFault("events", fakedocker.Fault{Fail: "gone"}))
		stop := e.run()
		wantWait(t, e.nextWait(), time.Second)
		stop()
		if w := e.clock.Waited(); len(w) != 1 {
			t.Errorf("waits %v, want one", w)
		}
		if c := e.fake.calls("events"); len(c) != 1 {
			t.Errorf("events calls %q: restarted after ctx ended", c)
		}
	})
}

// The stream carries every managed container; another watchdog's (another
// prefix) neither triggers a tick nor leaves evidence here.
func TestFollowerIgnoresOtherPrefixes(t *testing.T) {
	e := newFollowEnv(t)
	ours, theirs := cname("dev", "default"), "other-dev-default"
	e.fake.put(ours, "running", managedLabels(agent("dev"), "default"))
	e.fake.put(theirs, "running", managedLabels(agent("dev"), "default"))
	stop := e.run()
	e.following()
	e.fake.remove(theirs)
	e.fake.setState(ours, "exited")
	want := strings.Fields("TRIGGER kill die destroy die TRIGGER")
	if log := e.waitLog(len(want)); !slices.Equal(log, want) {
		t.Errorf("events and triggers\n got %q\nwant %q", log, want)
	}
	stop()
	if got := e.ev.Recent(theirs, e.clock.Now()); len(got) != 0 {
		t.Errorf("evidence kept for %s: %v", theirs, got)
	}
	if got := e.ev.Recent(ours, e.clock.Now()); len(got) != 1 || got[0].Action != "die" {
		t.Errorf("evidence of %s: %v, want its die", ours, got)
	}
}
