package fakedocker_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/exec"
	"github.com/container-watchdog/container-watchdog/exec/fakeexec"
	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/clock/fakeclock"
	"github.com/container-watchdog/container-watchdog/watchdog/docker"
	"github.com/container-watchdog/container-watchdog/watchdog/docker/fakedocker"
)

// inProcess is the fake behind the real docker.Client, on a fake clock.
func inProcess(t *testing.T) (*fakedocker.Docker, *fakeexec.Runner, *docker.Client, *fakeclock.Clock) {
	d := fakedocker.New(t.TempDir())
	clk := fakeclock.New()
	d.Clock = clk
	r := &fakeexec.Runner{Handler: d.Handler()}
	return d, r, &docker.Client{Runner: r, Program: "docker"}, clk
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var spec = watchdog.RunSpec{
	Name: "cw-dev-default", Image: "example.com/dev:1", Volume: "cw-dev-default-state", StatePath: "/state",
	Labels: map[string]string{watchdog.LabelManaged: "true", watchdog.LabelAgent: "dev", watchdog.LabelInstance: "default"},
	Env:    []string{"MODE=dev", "SPACED=a b"}, Command: []string{"serve", "--port=80"},
}

func TestHandlerDrivesTheClient(t *testing.T) {
	d, r, c, clk := inProcess(t)
	ctx := context.Background()
	must(t, c.Run(ctx, spec))
	got, err := d.Container(spec.Name)
	must(t, err)
	if got == nil || got.Image != spec.Image || got.State != "running" || got.Restart != "unless-stopped" ||
		!slices.Equal(got.Mounts, []string{"cw-dev-default-state:/state"}) || !slices.Equal(got.Env, spec.Env) ||
		!slices.Equal(got.Cmd, spec.Command) || got.Labels[watchdog.LabelAgent] != "dev" {
		t.Fatalf("container %+v, want what the client asked for", got)
	}
	if got.Created != clk.Now().Format(time.RFC3339Nano) {
		t.Errorf("created %s, want the fake clock's %s", got.Created, clk.Now())
	}
	if ok, err := d.HasVolume(spec.Volume); err != nil || !ok {
		t.Errorf("HasVolume = %v, %v", ok, err)
	}

	// The Status column ages with the fake clock, not the real one.
	clk.Advance(2 * time.Minute)
	cs, err := c.List(ctx, "cw-")
	if err != nil || len(cs) != 1 || cs[0].Name != spec.Name || !cs[0].Managed || cs[0].Status != "Up 2 minutes" {
		t.Fatalf("List = %+v, %v", cs, err)
	}
	must(t, d.SetState(spec.Name, "exited", 3))
	if g, err := c.Get(ctx, spec.Name); err != nil || g == nil || g.State != "exited" || g.Status != "Exited (3) 2 minutes ago" {
		t.Errorf("Get = %+v, %v", g, err)
	}

	must(t, c.Remove(ctx, spec.Name))
	must(t, c.Remove(ctx, spec.Name)) // gone: not an error
	must(t, c.RemoveVolume(ctx, spec.Volume))
	if g, _ := d.Container(spec.Name); g != nil {
		t.Errorf("removed container still there: %+v", g)
	}
	if ok, _ := d.HasVolume(spec.Volume); ok {
		t.Error("removed volume still there")
	}
	if n := len(r.CallsWith("run")); n != 1 {
		t.Errorf("run calls %d, want the runner to have seen one", n)
	}

	// Only docker is answered.
	if _, err := (&docker.Client{Runner: r, Program: "/usr/bin/podman"}).List(ctx, "cw-"); err == nil {
		t.Error("the fake docker answered for podman")
	}
}

func TestHandlerFaults(t *testing.T) {
	d, _, c, _ := inProcess(t)
	ctx := context.Background()
	other := spec
	other.Name, other.Volume = "cw-ops-default", "cw-ops-default-state"

	// A run failure for one container only, used up after two calls.
	must(t, d.SetFault(fakedocker.FaultKey("run", spec.Name), fakedocker.Fault{Fail: "pull access denied", Times: 2}))
	for range 2 {
		var de *docker.Error
		if err := c.Run(ctx, spec); !errors.As(err, &de) || de.ExitCode != 125 || err.Error() != "pull access denied" {
			t.Fatalf("Run(%s) = %v, want docker's exit 125 with the fault's text", spec.Name, err)
		}
	}
	must(t, c.Run(ctx, other))
	must(t, c.Run(ctx, spec))

	// A command's fault until cleared; the environment's wins.
	must(t, d.SetFault("ps", fakedocker.Fault{Fail: "Cannot connect to the Docker daemon"}))
	for range 2 {
		if _, err := c.List(ctx, "cw-"); err == nil || !strings.Contains(err.Error(), "Cannot connect") {
			t.Fatalf("List = %v, want the fault", err)
		}
	}
	must(t, d.ClearFault("ps"))
	if cs, err := c.List(ctx, "cw-"); err != nil || len(cs) != 2 {
		t.Fatalf("List after clearing = %+v, %v", cs, err)
	}
	d.Env = map[string]string{"FAKEDOCKER_FAIL_RM": "from the environment"}
	if err := c.Remove(ctx, spec.Name); err == nil || err.Error() != "from the environment" {
		t.Errorf("Remove = %v, want the environment's fault", err)
	}
	d.Env = nil

	// A hang lasts until ctx ends, and reports why as exec.Runner does.
	must(t, d.SetFault("ps", fakedocker.Fault{Hang: true, Times: 1}))
	stop := errors.New("the test gave up")
	ctx, cancel := context.WithCancelCause(ctx)
	inner := c.Runner.(*fakeexec.Runner).Handler
	hung := &fakeexec.Runner{Handler: func(ctx context.Context, program string, args []string, emit func(string)) (exec.Result, error) {
		go cancel(stop)
		return inner(ctx, program, args, emit)
	}}
	if _, err := (&docker.Client{Runner: hung, Program: "docker"}).List(ctx, "cw-"); !errors.Is(err, stop) {
		t.Errorf("hung List = %v, want the ctx's cause", err)
	}
	if cs, err := c.List(context.Background(), "cw-"); err != nil || len(cs) != 2 {
		t.Errorf("List after the single hang = %+v, %v", cs, err)
	}
}

// follower runs the client's Follow, recording what it delivers.
type follower struct {
	mu     sync.Mutex
	got    []watchdog.Lifecycle
	done   chan error
	cancel context.CancelFunc
}

func (f *follower) seen() []watchdog.Lifecycle {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

func follow(t *testing.T, d *fakedocker.Docker, c *docker.Client) *follower {
	t.Helper()
	following := make(chan struct{}, 1)
	d.OnFollow = func() { following <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{done: make(chan error, 1), cancel: cancel}
	go func() {
		f.done <- c.Follow(ctx, func(l watchdog.Lifecycle) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.got = append(f.got, l)
		})
	}()
	t.Cleanup(cancel)
	select {
	case <-following:
	case err := <-f.done:
		t.Fatalf("Follow ended before following: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not start following")
	}
	return f
}

func (f *follower) waitFor(t *testing.T, n int) []watchdog.Lifecycle {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(f.seen()) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("delivered %v, want %d events", f.seen(), n)
		}
	}
	return f.seen()
}

func TestHandlerStreamsEventsUntilEnded(t *testing.T) {
	d, _, c, clk := inProcess(t)
	f := follow(t, d, c)
	name := spec.Name
	must(t, d.Put(fakedocker.Container{Name: name, Labels: spec.Labels, Mounts: []string{spec.Volume + ":/state"}}))
	clk.Advance(time.Minute)
	must(t, d.OOMKill(name))
	must(t, d.SetState(name, "running"))
	must(t, d.Remove(name))
	// Not managed: the client's filter leaves it out.
	must(t, d.Put(fakedocker.Container{Name: "stranger"}))

	got := f.waitFor(t, 8)
	var actions []string
	for _, l := range got {
		actions = append(actions, l.Action+"/"+l.ExitCode+"/"+l.Signal)
		if l.Container != name || l.Agent != "dev" || l.Instance != "default" {
			t.Errorf("event %+v, want %s's with its labels", l, name)
		}
	}
	want := []string{"create//", "start//", "oom//", "die/137/", "start//", "kill//9", "die/137/", "destroy//"}
	if !slices.Equal(actions, want) {
		t.Errorf("events %q, want %q", actions, want)
	}
	if !got[0].Time.Equal(fakeclock.Start) || got[2].Time.Before(fakeclock.Start.Add(time.Minute)) {
		t.Errorf("event times %v, %v: want the fake clock's", got[0].Time, got[2].Time)
	}
	if n, _ := d.Container(name); n != nil {
		t.Errorf("container %+v survived fake-rm", n)
	}

	// The daemon goes away: the stream ends with what the CLI printed.
	must(t, d.EndEvents("error during connect: EOF"))
	select {
	case err := <-f.done:
		if err == nil || err.Error() != "error during connect: EOF" {
			t.Errorf("Follow = %v, want the stream's stderr", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not end with fake-events-end")
	}

	// A stream started after that end follows until its ctx ends.
	f = follow(t, d, c)
	f.cancel()
	if err := <-f.done; !errors.Is(err, context.Canceled) {
		t.Errorf("Follow = %v, want the cancellation", err)
	}
}
