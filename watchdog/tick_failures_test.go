package watchdog_test

// Ticks when something fails: docker (refusing, hanging), the registry
// or a publisher (panicking). The rest of the loop always goes on.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/exec"
	"github.com/container-watchdog/container-watchdog/watchdog"
)

func TestTickSkippedWhenDockerPSFails(t *testing.T) {
	e := newTickEnv(t, agent("dev"), agent("ops"))
	e.tick()
	e.fake.remove(cname("dev", "default"))
	e.fake.setState(cname("ops", "default"), "exited")

	down := "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
	e.fake.setFail("ps", down)
	e.fake.runner.Reset()
	rep, err := e.w.Tick(e.ctx)
	if !errors.Is(err, watchdog.ErrSkipped) || !strings.Contains(err.Error(), down) {
		t.Fatalf("err = %v, want ErrSkipped carrying docker's stderr", err)
	}
	if rep.Result != "skipped" || rep.Error == "" || len(rep.Events) != 0 {
		t.Errorf("report %+v", rep)
	}
	if c := e.fake.runner.Calls(); len(c) != 1 || len(e.fake.calls("ps")) != 1 {
		t.Errorf("calls %q, want the one failed listing", c)
	}

	// A listing that hangs is cut off by ctx (here ended once the listing
	// has begun) and also skips the tick.
	e.fake.setFail("ps", "")
	e.fake.hang("ps")
	gaveUp := errors.New("the caller gave up")
	ctx, cancel := context.WithCancelCause(e.ctx)
	defer cancel(nil)
	e.fake.setHook(func(args []string) {
		if args[0] == "ps" {
			cancel(gaveUp)
		}
	})
	_, err = e.w.Tick(ctx)
	e.fake.setHook(nil)
	if !errors.Is(err, watchdog.ErrSkipped) || !errors.Is(err, gaveUp) {
		t.Fatalf("err = %v, want ErrSkipped wrapping why ctx ended", err)
	}

	if evs := e.pub.take(); len(evs) != 0 {
		t.Errorf("published %v during skipped ticks", summary(evs))
	}
	if stored, _ := e.db.Events(e.ctx, e.lastID, 0); len(stored) != 0 {
		t.Errorf("stored %v during skipped ticks", summary(stored))
	}
	wantNoCalls(t, e.fake, "run", "rm")

	// Docker is back: the conditions are reported now.
	e.fake.setFail("ps", "")
	_, evs := e.tick()
	wantEvents(t, evs, "container_missing "+cname("dev", "default"), "container_recreated "+cname("dev", "default"),
		"container_stopped "+cname("ops", "default"))
}

// panicOnObserve is the registry with Observe panicking for one container:
// a bug in one instance's handling.
type panicOnObserve struct {
	watchdog.Registry
	container string
}

func (p panicOnObserve) Observe(ctx context.Context, o watchdog.Observation, evs ...*watchdog.Event) error {
	if o.Container == p.container {
		panic("observe exploded for " + o.Container)
	}
	return p.Registry.Observe(ctx, o, evs...)
}

func TestTickPanicInOneInstanceSparesTheOthers(t *testing.T) {
	e := newTickEnv(t, agent("aa"), agent("bb"))
	e.tick()
	e.fake.remove(cname("aa", "default"))
	e.fake.remove(cname("bb", "default"))
	e.w.Registry = panicOnObserve{Registry: e.db, container: cname("aa", "default")}

	e.clock.Advance(time.Minute)
	rep, err := e.w.Tick(e.ctx)
	if err != nil {
		t.Fatalf("Tick: %v", err)
	}
	if !strings.Contains(rep.Error, "panic") {
		t.Errorf("report error %q, want the panic noted", rep.Error)
	}
	e.w.Wait()
	wantEvents(t, e.pub.take(), "container_missing "+cname("bb", "default"), "container_recreated "+cname("bb", "default"))
	if e.fake.get(cname("bb", "default")) == nil {
		t.Fatal("bb was not recreated after aa panicked")
	}
	if len(rep.Instances) != 2 {
		t.Errorf("instances %+v", rep.Instances)
	}

	// The loop goes on: the next tick reports and repairs aa.
	e.w.Registry = e.db
	stored, err := e.db.Events(e.ctx, e.lastID, 0)
	if err != nil || len(stored) != 2 {
		t.Fatalf("stored %v, %v: want bb's missing and recreated", summary(stored), err)
	}
	e.lastID = stored[len(stored)-1].ID
	_, evs := e.tick()
	wantEvents(t, evs, "container_missing "+cname("aa", "default"), "container_recreated "+cname("aa", "default"))
}

// A Publisher that panics for one event loses that publication only: the
// event is stored (SSE clients replay it), and the others go out.
func TestTickPanickingPublisherSparesTheOtherEvents(t *testing.T) {
	e := newTickEnv(t, agent("aa"), agent("bb"))
	e.tick()
	e.fake.setState(cname("aa", "default"), "exited")
	e.fake.setState(cname("bb", "default"), "exited")
	e.pub.panicFor = cname("aa", "default")

	e.clock.Advance(time.Minute)
	if _, err := e.w.Tick(e.ctx); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	wantEvents(t, e.pub.take(), "container_stopped "+cname("bb", "default"))
	stored, err := e.db.Events(e.ctx, e.lastID, 0)
	if err != nil || len(stored) != 2 {
		t.Fatalf("stored %v, %v: want both stopped events", summary(stored), err)
	}
}

func TestTickHungDockerRunTimesOutPerInstance(t *testing.T) {
	e := newTickEnv(t, agent("aa"), agent("bb"))
	e.tick()
	e.fake.remove(cname("aa", "default"))
	e.fake.remove(cname("bb", "default"))
	e.fake.hang("run")
	// The runner's timeout (exec.Runner's, here 20ms of real time) cuts
	// each hung call off.
	e.fake.intercept(func(ctx context.Context, args []string, emit func(string), next nextCall) (exec.Result, error) {
		if args[0] == "run" {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeoutCause(ctx, 20*time.Millisecond, exec.ErrTimeout)
			defer cancel()
		}
		return next(ctx, emit)
	})

	_, evs := e.tick()
	wantEvents(t, evs,
		"container_missing "+cname("aa", "default"), "container_recreate_failed "+cname("aa", "default"),
		"container_missing "+cname("bb", "default"), "container_recreate_failed "+cname("bb", "default"))
	for _, ev := range []watchdog.Event{evs[1], evs[3]} {
		if !strings.Contains(ev.Detail, "timed out") {
			t.Errorf("detail %q, want the timeout", ev.Detail)
		}
	}
}
