package docker_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/container-watchdog/container-watchdog/exec"
	"github.com/container-watchdog/container-watchdog/exec/fakeexec"
	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/docker"
)

func TestParsePS(t *testing.T) {
	out := "\n" +
		"aaa\tclaude-hooks-dev-default\trunning\ttrue\tdev\tdefault\t0123abcd\tUp 5 seconds\r\n" +
		"   \n" +
		"bbb\t/claude-hooks-ops-a,other/link\texited\t\t\t\t\tExited (137) 3 seconds ago\n" +
		"ccc\tclaude-hooks-x-y\tcreated\tfalse\tx\ty\th\t\n"
	got, err := docker.ParsePS([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []watchdog.Container{
		{ID: "aaa", Name: "claude-hooks-dev-default", State: "running", Managed: true, Agent: "dev", Instance: "default", ConfigHash: "0123abcd", Status: "Up 5 seconds"},
		{ID: "bbb", Name: "claude-hooks-ops-a", State: "exited", Status: "Exited (137) 3 seconds ago"},
		{ID: "ccc", Name: "claude-hooks-x-y", State: "created", Agent: "x", Instance: "y", ConfigHash: "h"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParsePS:\n got %+v\nwant %+v", got, want)
	}
	if cs, err := docker.ParsePS(nil); err != nil || len(cs) != 0 {
		t.Errorf("ParsePS(empty) = %v, %v", cs, err)
	}
}

func TestParsePSRejectsBadLines(t *testing.T) {
	good := "aaa\tn\trunning\t\t\t\t\tUp 1 second\n"
	for _, bad := range []string{
		"aaa\tn\trunning",
		// The seven fields of the format before {{.Status}} was added.
		"aaa\tn\trunning\t\t\t\t",
		"aaa\tn\trunning\t\t\t\t\tUp\textra",
		"aaa n running",
		"\tn\trunning\t\t\t\t\t",
		"aaa\t\trunning\t\t\t\t\t",
		"aaa\t/\trunning\t\t\t\t\t",
		"aaa\t,x\trunning\t\t\t\t\t",
		"aaa\tn\t\t\t\t\t\t",
	} {
		_, err := docker.ParsePS([]byte(good + bad + "\n"))
		if err == nil {
			t.Errorf("ParsePS accepted %q", bad)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("line 2 %q", bad)) {
			t.Errorf("error %q does not name line 2 %q", err, bad)
		}
	}
}

func TestRunArgs(t *testing.T) {
	spec := watchdog.RunSpec{
		Name:      "claude-hooks-dev-default",
		Image:     "alpine:3",
		Env:       []string{"A=1", "B=--privileged"},
		Volume:    "claude-hooks-dev-default-state",
		StatePath: "/state",
		Command:   []string{"--help", "x y"},
		Labels:    map[string]string{"zz": "3", "aa": "1", "mm": "2=2"},
	}
	want := []string{
		"run", "-d", "--name", "claude-hooks-dev-default", "--restart", "unless-stopped",
		"--label", "aa=1", "--label", "mm=2=2", "--label", "zz=3",
		"--mount", "type=volume,source=claude-hooks-dev-default-state,target=/state",
		"--env", "A=1", "--env", "B=--privileged",
		"alpine:3", "--help", "x y",
	}
	got := docker.RunArgs(spec)
	if !slices.Equal(got, want) {
		t.Fatalf("RunArgs:\n got %q\nwant %q", got, want)
	}
	// Flags and values alternate after -d, so a value that looks like a
	// flag (B=--privileged) is still read as the value; the image follows.
	img := slices.Index(got, spec.Image)
	for i := 2; i < img; i += 2 {
		if !strings.HasPrefix(got[i], "--") || strings.Contains(got[i], "=") {
			t.Errorf("argument %d %q should be a bare flag", i, got[i])
		}
	}
	if (img-2)%2 != 0 {
		t.Errorf("flags and values do not pair up before the image: %q", got)
	}
}

// runner answers every call with res/err and records the calls.
func runner(res exec.Result, err error) *fakeexec.Runner {
	return &fakeexec.Runner{Handler: func(context.Context, string, []string, func(string)) (exec.Result, error) {
		return res, err
	}}
}

func TestClientList(t *testing.T) {
	out := "1\ta.b-dev-x\trunning\ttrue\tdev\tx\th\tUp 2 hours\n2\txa.b-dev-y\trunning\ttrue\tdev\ty\th\tUp 2 hours\n"
	r := runner(exec.Result{Stdout: []byte(out)}, nil)
	c := &docker.Client{Runner: r, Program: "/usr/bin/docker"}
	cs, err := c.List(context.Background(), "a.b-")
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Name != "a.b-dev-x" {
		t.Errorf("List = %+v, want only the name with the prefix", cs)
	}
	want := append([]string{"/usr/bin/docker"}, docker.PSArgs(`^a\.b-`)...)
	if calls := r.Calls(); len(calls) != 1 || !slices.Equal(calls[0], want) {
		t.Errorf("calls %q, want %q", calls, want)
	}
	if a := docker.PSArgs("^x"); !slices.Contains(a, "-a") || !slices.Contains(a, "name=^x") {
		t.Errorf("PSArgs %q must list stopped containers too and filter by name", a)
	}
}

func TestClientGet(t *testing.T) {
	out := "1\tcw-dev-xy\trunning\ttrue\tdev\txy\th\tUp 1 minute\n2\tcw-dev-x\texited\ttrue\tdev\tx\th\tExited (1) 1 minute ago\n"
	r := runner(exec.Result{Stdout: []byte(out)}, nil)
	c := &docker.Client{Runner: r, Program: "docker"}
	got, err := c.Get(context.Background(), "cw-dev-x")
	if err != nil || got == nil || got.ID != "2" || got.State != "exited" || got.Status != "Exited (1) 1 minute ago" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if calls := r.CallsWith("ps"); len(calls) != 1 || !slices.Contains(calls[0], "name=^/?cw-dev-x$") {
		t.Errorf("calls %q, want an anchored name filter", calls)
	}
	if got, err := c.Get(context.Background(), "cw-dev-z"); err != nil || got != nil {
		t.Errorf("Get(absent) = %+v, %v; want nil, nil", got, err)
	}
}

func TestClientRemove(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		stderr string
		ok     bool
	}{
		{"Error response from daemon: No such container: cw-dev-x", true},
		{"Error: No such container: cw-dev-x", true},
		{"Error response from daemon: removal of container cw-dev-x is already in progress", false},
		// An unreachable daemon is not a removed container.
		{"Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", false},
		{"error during connect: Get \"http://%2Fnowhere.sock/v1.47/containers/json\": dial unix /nowhere.sock: connect: no such file or directory", false},
	} {
		r := runner(exec.Result{ExitCode: 1, Stderr: []byte(tc.stderr + "\n")}, nil)
		c := &docker.Client{Runner: r, Program: "docker"}
		err := c.Remove(ctx, "cw-dev-x")
		if tc.ok != (err == nil) {
			t.Errorf("Remove with stderr %q = %v, want ok=%v", tc.stderr, err, tc.ok)
		}
		if err != nil && err.Error() != tc.stderr {
			t.Errorf("error %q, want docker's stderr %q", err, tc.stderr)
		}
		if calls := r.Calls(); len(calls) != 1 || !slices.Equal(calls[0], []string{"docker", "rm", "-f", "cw-dev-x"}) {
			t.Errorf("calls %q", calls)
		}
	}
	if err := (&docker.Client{Runner: runner(exec.Result{}, nil), Program: "docker"}).Remove(ctx, "x"); err != nil {
		t.Errorf("Remove = %v", err)
	}
}

func TestClientRemoveVolume(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		stderr string
		ok     bool
	}{
		{"Error response from daemon: get v: no such volume", true},
		{"Error: No such volume: v", true},
		{"Error response from daemon: remove v: volume is in use - [abc]", false},
		{"dial unix /nowhere.sock: connect: no such file or directory", false},
	} {
		r := runner(exec.Result{ExitCode: 1, Stderr: []byte(tc.stderr)}, nil)
		err := (&docker.Client{Runner: r, Program: "docker"}).RemoveVolume(ctx, "v")
		if tc.ok != (err == nil) {
			t.Errorf("RemoveVolume with stderr %q = %v, want ok=%v", tc.stderr, err, tc.ok)
		}
		if calls := r.Calls(); len(calls) != 1 || !slices.Equal(calls[0], []string{"docker", "volume", "rm", "v"}) {
			t.Errorf("calls %q", calls)
		}
	}
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	stderr := "docker: Error response from daemon: pull access denied for nope.\nSee 'docker run --help'.\n"
	c := &docker.Client{Runner: runner(exec.Result{ExitCode: 125, Stderr: []byte(stderr)}, nil), Program: "docker"}
	err := c.Run(ctx, watchdog.RunSpec{Name: "n", Image: "nope", Volume: "v", StatePath: "/state"})
	var de *docker.Error
	if !errors.As(err, &de) || de.ExitCode != 125 || err.Error() != strings.TrimSpace(stderr) {
		t.Fatalf("Run = %#v, want a *docker.Error carrying the stderr", err)
	}
	if _, err := c.List(ctx, "cw-"); err == nil || !strings.Contains(err.Error(), "pull access denied") {
		t.Errorf("List = %v", err)
	}
	if err := c.Ping(ctx); err == nil {
		t.Error("Ping succeeded against a failing docker")
	}

	// No stderr: the message still says what ran and how it ended.
	c = &docker.Client{Runner: runner(exec.Result{ExitCode: 2}, nil), Program: "docker"}
	if err := c.Remove(ctx, "n"); err == nil || !strings.Contains(err.Error(), "docker rm -f n") || !strings.Contains(err.Error(), "status 2") {
		t.Errorf("Remove = %v", err)
	}

	// A runner error (timeout) passes through, also for Remove.
	timeout := fmt.Errorf("docker rm: %w", exec.ErrTimeout)
	c = &docker.Client{Runner: runner(exec.Result{ExitCode: -1}, timeout), Program: "docker"}
	if err := c.Remove(ctx, "n"); !errors.Is(err, exec.ErrTimeout) {
		t.Errorf("Remove = %v, want the timeout", err)
	}
	if _, err := c.List(ctx, "cw-"); !errors.Is(err, exec.ErrTimeout) {
		t.Errorf("List = %v, want the timeout", err)
	}
}

// render is the line `docker ps --format` would print for c.
func render(c watchdog.Container) string {
	managed := ""
	if c.Managed {
		managed = "true"
	}
	return strings.Join([]string{c.ID, c.Name, c.State, managed, c.Agent, c.Instance, c.ConfigHash, c.Status}, "\t")
}

func FuzzParsePS(f *testing.F) {
	f.Add("aaa\tclaude-hooks-dev-default\trunning\ttrue\tdev\tdefault\t0123\tUp 5 seconds\n")
	f.Add("a\t/b,c\texited\t\t\t\t\tExited (0) 1 second ago\r\nd\te\tf\tfalse\tg\th\ti\t")
	f.Add("a\t//b\tx\t\t\t\t\t")
	f.Add("a\t/,b\tx\t\t\t\t\t")
	f.Add("a\tb\tc\t\t\t\t\t\r\r")
	f.Add("\n\n \t \n")
	f.Add("a\tb\tc")
	f.Add("a\tb\tc\td\te\tf\tg")
	f.Fuzz(func(t *testing.T, out string) {
		cs, err := docker.ParsePS([]byte(out))
		if err != nil {
			return
		}
		var lines []string
		for _, c := range cs {
			if c.ID == "" || c.Name == "" || c.State == "" {
				t.Fatalf("empty field in %+v", c)
			}
			for _, s := range []string{c.ID, c.Name, c.State, c.Agent, c.Instance, c.ConfigHash, c.Status} {
				if strings.ContainsAny(s, "\t\n") {
					t.Fatalf("tab or newline in field %q of %+v", s, c)
				}
			}
			lines = append(lines, render(c))
		}
		again, err := docker.ParsePS([]byte(strings.Join(lines, "\n")))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", lines, err)
		}
		if len(again) != len(cs) || (len(cs) > 0 && !reflect.DeepEqual(again, cs)) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", again, cs)
		}
	})
}
