package watchdog_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/container-watchdog/container-watchdog/exec"
	"github.com/container-watchdog/container-watchdog/exec/fakeexec"
	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/clock/fakeclock"
	"github.com/container-watchdog/container-watchdog/watchdog/docker"
	"github.com/container-watchdog/container-watchdog/watchdog/docker/fakedocker"
)

const prefix = watchdog.DefaultPrefix

// clock is the one fake clock: the Watcher's, the registry's, the fake
// docker's (creation times, statuses, events), the loop's and the
// follower's.
type clock = fakeclock.Clock

func newClock() *clock { return fakeclock.New() }

// fakeDocker is fakedocker's docker, in-process behind a recording
// fakeexec.Runner: tests drive the real docker.Client, see exactly which
// argv ran, and arrange the daemon through fakedocker's helpers.
type fakeDocker struct {
	t      *testing.T
	docker *fakedocker.Docker
	runner *fakeexec.Runner
	client *docker.Client

	mu     sync.Mutex
	around interceptor
}

// interceptor wraps every call to the fake docker: it may act before or
// after calling next, or give next another ctx or emit (where a stream's
// lines go).
type interceptor func(ctx context.Context, args []string, emit func(string), next nextCall) (exec.Result, error)

// nextCall answers the intercepted call with the fake docker.
type nextCall func(ctx context.Context, emit func(string)) (exec.Result, error)

func newFakeDocker(t *testing.T, clk *clock) *fakeDocker {
	f := &fakeDocker{t: t, docker: fakedocker.New(t.TempDir())}
	f.docker.Clock = clk
	inner := f.docker.Handler()
	f.runner = &fakeexec.Runner{Handler: func(ctx context.Context, program string, args []string, emit func(string)) (exec.Result, error) {
		next := func(ctx context.Context, emit func(string)) (exec.Result, error) {
			return inner(ctx, program, args, emit)
		}
		f.mu.Lock()
		around := f.around
		f.mu.Unlock()
		if around == nil {
			return next(ctx, emit)
		}
		return around(ctx, args, emit, next)
	}}
	f.client = &docker.Client{Runner: f.runner, Program: "docker"}
	return f
}

// intercept routes every call through around (nil: straight to the fake).
func (f *fakeDocker) intercept(around interceptor) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.around = around
}

// setHook runs hook before each call is answered (nil: no hook).
func (f *fakeDocker) setHook(hook func(args []string)) {
	if hook == nil {
		f.intercept(nil)
		return
	}
	f.intercept(func(ctx context.Context, args []string, emit func(string), next nextCall) (exec.Result, error) {
		hook(args)
		return next(ctx, emit)
	})
}

func (f *fakeDocker) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

// put adds a container as someone outside the watchdog would, with the
// state volume a managed one has.
func (f *fakeDocker) put(name, state string, labels map[string]string) {
	f.t.Helper()
	f.must(f.docker.Put(fakedocker.Container{Name: name, State: state, Labels: labels, Image: "example.com/put:1",
		Mounts: []string{watchdog.VolumeName(name) + ":" + watchdog.DefaultStatePath}}))
}

// setState changes a container's state, as the engine would.
func (f *fakeDocker) setState(name, state string) {
	f.t.Helper()
	f.must(f.docker.SetState(name, state))
}

// remove deletes a container behind the watchdog's back; its volume stays.
func (f *fakeDocker) remove(name string) {
	f.t.Helper()
	f.must(f.docker.Remove(name))
}

// get returns a copy of the container, nil when there is none.
func (f *fakeDocker) get(name string) *fakedocker.Container {
	f.t.Helper()
	c, err := f.docker.Container(name)
	f.must(err)
	return c
}

func (f *fakeDocker) hasVolume(name string) bool {
	f.t.Helper()
	ok, err := f.docker.HasVolume(name)
	f.must(err)
	return ok
}

// setFail makes every call of key (a verb, say "ps") fail with stderr
// until cleared with "".
func (f *fakeDocker) setFail(key, stderr string) {
	f.t.Helper()
	if stderr == "" {
		f.must(f.docker.ClearFault(key))
		return
	}
	f.must(f.docker.SetFault(key, fakedocker.Fault{Fail: stderr}))
}

// setFailFor makes `docker run` of one container fail with stderr until
// cleared with "".
func (f *fakeDocker) setFailFor(name, stderr string) {
	f.t.Helper()
	f.setFail(fakedocker.FaultKey("run", name), stderr)
}

// hang makes every call of verb hang until its ctx ends (setFail(verb, "")
// clears it).
func (f *fakeDocker) hang(verb string) {
	f.t.Helper()
	f.must(f.docker.SetFault(verb, fakedocker.Fault{Hang: true}))
}

// calls returns the recorded calls whose arguments begin with words,
// e.g. calls("run").
func (f *fakeDocker) calls(words ...string) [][]string { return f.runner.CallsWith(words...) }

// hasSeq says whether argv holds seq as consecutive arguments.
func hasSeq(argv []string, seq ...string) bool {
	for i := 0; i+len(seq) <= len(argv); i++ {
		if slices.Equal(argv[i:i+len(seq)], seq) {
			return true
		}
	}
	return false
}

// mentions says whether any argument of argv contains s.
func mentions(argv []string, s string) bool {
	return slices.ContainsFunc(argv, func(a string) bool { return strings.Contains(a, s) })
}

// isGet says whether a ps call is docker.Client.Get's exact-name lookup.
func isGet(args []string) bool {
	return len(args) > 0 && args[0] == "ps" && slices.ContainsFunc(args, func(a string) bool {
		return strings.HasPrefix(a, "name=") && strings.HasSuffix(a, "$")
	})
}

// managedLabels are the labels the reconciler would give a's instance.
func managedLabels(a watchdog.Agent, instance string) map[string]string {
	return map[string]string{
		watchdog.LabelManaged:  "true",
		watchdog.LabelAgent:    a.Name,
		watchdog.LabelInstance: instance,
		watchdog.LabelConfig:   a.ConfigHash(),
	}
}

// recorder is a Publisher that keeps what it got and can panic on demand.
type recorder struct {
	mu       sync.Mutex
	events   []watchdog.Event
	panicFor string // container whose events make Publish panic
}

func (r *recorder) Publish(e watchdog.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.panicFor != "" && e.Container == r.panicFor {
		panic("publisher exploded for " + e.Container)
	}
	r.events = append(r.events, e)
}

// take returns and forgets the events published so far.
func (r *recorder) take() []watchdog.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	evs := r.events
	r.events = nil
	return evs
}

// summary renders events as "type container" lines, in order.
func summary(evs []watchdog.Event) []string {
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		out = append(out, string(e.Type)+" "+e.Container)
	}
	return out
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func agent(name string, instances ...string) watchdog.Agent {
	if len(instances) == 0 {
		instances = []string{watchdog.DefaultInstance}
	}
	return watchdog.Agent{Name: name, Image: "example.com/agents/" + name + ":1", StatePath: watchdog.DefaultStatePath,
		Env: []string{"MODE=" + name}, Command: []string{"serve", "--port=80"}, Instances: instances}
}

func cname(agent, instance string) string { return watchdog.ContainerName(prefix, agent, instance) }
