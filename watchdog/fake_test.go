package watchdog_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-watchdog/container-watchdog/exec"
	"github.com/container-watchdog/container-watchdog/exec/fakeexec"
	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/clock/fakeclock"
	"github.com/container-watchdog/container-watchdog/watchdog/docker"
)

const prefix = watchdog.DefaultPrefix

// fakeContainer is one container of the in-memory docker.
type fakeContainer struct {
	id, name, state, image string
	labels                 map[string]string
	volume, target         string
	env, cmd               []string
}

// fakeDocker is a tiny in-memory docker behind an exec/fakeexec.Runner, so
// tests drive the real docker.Client and see exactly which argv would run.
type fakeDocker struct {
	t      *testing.T
	runner *fakeexec.Runner
	client *docker.Client

	mu         sync.Mutex
	containers map[string]*fakeContainer
	volumes    map[string]bool
	nextID     int
	// fail maps a verb ("ps", "run", "rm", "volume") to the stderr of a failure.
	fail map[string]string
	// failFor maps a container name to the stderr of a failing `run` of it.
	failFor map[string]string
	// block makes calls of a verb hang until ctx ends or callTimeout passes,
	// as the real exec.Runner does with a wedged docker CLI.
	block       map[string]bool
	callTimeout time.Duration
	// hook runs before a call is answered, without the lock held.
	hook func(args []string)
}

func newFakeDocker(t *testing.T) *fakeDocker {
	f := &fakeDocker{
		t:          t,
		containers: map[string]*fakeContainer{},
		volumes:    map[string]bool{},
		fail:       map[string]string{},
		failFor:    map[string]string{},
		block:      map[string]bool{},
	}
	f.runner = &fakeexec.Runner{Handler: f.handle}
	f.client = &docker.Client{Runner: f.runner, Program: "docker"}
	return f
}

func (f *fakeDocker) handle(ctx context.Context, program string, args []string, _ func(string)) (exec.Result, error) {
	if program != "docker" {
		f.t.Errorf("ran %q, want docker", program)
	}
	if len(args) == 0 {
		f.t.Errorf("docker called without arguments")
		return exec.Result{ExitCode: 1}, nil
	}
	f.mu.Lock()
	hook, blocks, timeout := f.hook, f.block[args[0]], f.callTimeout
	stderr, fails := f.fail[args[0]]
	f.mu.Unlock()
	if hook != nil {
		hook(args)
	}
	if blocks {
		if timeout == 0 {
			timeout = time.Hour
		}
		select {
		case <-ctx.Done():
			return exec.Result{ExitCode: -1}, fmt.Errorf("docker %s: %w", args[0], context.Cause(ctx))
		case <-time.After(timeout):
			return exec.Result{ExitCode: -1}, fmt.Errorf("docker %s: %w", args[0], exec.ErrTimeout)
		}
	}
	if fails {
		return exec.Result{ExitCode: 1, Stderr: []byte(stderr + "\n")}, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch args[0] {
	case "ps":
		return f.ps(args[1:])
	case "run":
		return f.run(args[1:])
	case "rm":
		return f.rm(args[1:])
	case "volume":
		return f.volumeRm(args[1:])
	case "version":
		return exec.Result{Stdout: []byte("27.0.0\n")}, nil
	}
	f.t.Errorf("fake docker: unexpected call %q", args)
	return exec.Result{ExitCode: 1, Stderr: []byte("unknown command\n")}, nil
}

func errResult(code int, format string, a ...any) (exec.Result, error) {
	return exec.Result{ExitCode: code, Stderr: []byte(fmt.Sprintf(format, a...) + "\n")}, nil
}

var labelTmpl = regexp.MustCompile(`^\{\{\.Label "([^"]+)"\}\}$`)

// ps answers `ps -a --filter name=RE --format FMT`, rendering
// each tab-separated template piece of FMT from the in-memory containers.
func (f *fakeDocker) ps(args []string) (exec.Result, error) {
	var all bool
	var filter *regexp.Regexp
	var format string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-a":
			all = true
		case a == "--filter" && i+1 < len(args):
			i++
			re, ok := strings.CutPrefix(args[i], "name=")
			if !ok {
				f.t.Errorf("ps: unsupported filter %q", args[i])
				return errResult(1, "bad filter")
			}
			filter = regexp.MustCompile(re)
		case a == "--format" && i+1 < len(args):
			i++
			format = args[i]
		default:
			f.t.Errorf("ps: unexpected argument %q in %q", a, args)
			return errResult(1, "unknown flag: %s", a)
		}
	}
	if format == "" {
		f.t.Errorf("ps without --format: %q", args)
	}
	names := make([]string, 0, len(f.containers))
	for n := range f.containers {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		c := f.containers[n]
		if !all && c.state != "running" {
			continue
		}
		// docker matches the name filter against the name with its leading slash too.
		if filter != nil && !filter.MatchString(n) && !filter.MatchString("/"+n) {
			continue
		}
		var fields []string
		for _, piece := range strings.Split(format, "\t") {
			switch piece {
			case "{{.ID}}":
				fields = append(fields, c.id)
			case "{{.Names}}":
				fields = append(fields, c.name)
			case "{{.State}}":
				fields = append(fields, c.state)
			case "{{.Status}}":
				fields = append(fields, c.status())
			default:
				m := labelTmpl.FindStringSubmatch(piece)
				if m == nil {
					f.t.Errorf("ps: fake cannot render %q", piece)
					return errResult(1, "template error")
				}
				fields = append(fields, c.labels[m[1]])
			}
		}
		b.WriteString(strings.Join(fields, "\t") + "\n")
	}
	return exec.Result{Stdout: []byte(b.String())}, nil
}

// status mimics docker's summary column.
func (c *fakeContainer) status() string {
	if c.state == "running" {
		return "Up 5 seconds"
	}
	return "Exited (1) 2 seconds ago"
}

// run records a container from the argv docker.RunArgs builds.
func (f *fakeDocker) run(args []string) (exec.Result, error) {
	c := &fakeContainer{state: "running", labels: map[string]string{}}
	var detached bool
	i := 0
	// Flags take their value as the next argument; the first non-flag is the image.
	for ; i < len(args) && strings.HasPrefix(args[i], "-"); i++ {
		a := args[i]
		if a == "-d" {
			detached = true
			continue
		}
		if i+1 >= len(args) {
			f.t.Errorf("run: flag %q without a value in %q", a, args)
			return errResult(125, "flag needs an argument: %s", a)
		}
		i++
		v := args[i]
		switch a {
		case "--name":
			c.name = v
		case "--restart":
			if v != "unless-stopped" {
				f.t.Errorf("run: restart policy %q", v)
			}
		case "--label":
			lk, lv, _ := strings.Cut(v, "=")
			c.labels[lk] = lv
		case "--mount":
			for _, kv := range strings.Split(v, ",") {
				mk, mv, _ := strings.Cut(kv, "=")
				switch mk {
				case "source":
					c.volume = mv
				case "target":
					c.target = mv
				}
			}
		case "--env":
			c.env = append(c.env, v)
		default:
			f.t.Errorf("run: unexpected argument %q in %q", a, args)
			return errResult(125, "unknown flag: %s", a)
		}
	}
	if i >= len(args) {
		f.t.Errorf("run: no IMAGE in %q", args)
		return errResult(125, "\"docker run\" requires at least 1 argument.")
	}
	if !detached || c.name == "" || c.volume == "" {
		f.t.Errorf("run: want -d, --name and a volume mount: %q", args)
	}
	c.image, c.cmd = args[i], slices.Clone(args[i+1:])
	if stderr, ok := f.failFor[c.name]; ok {
		return errResult(125, "%s", stderr)
	}
	if old, ok := f.containers[c.name]; ok {
		return errResult(125, "docker: Error response from daemon: Conflict. The container name \"/%s\" is already in use by container \"%s\".", c.name, old.id)
	}
	f.nextID++
	c.id = fmt.Sprintf("%064x", f.nextID)
	f.containers[c.name] = c
	f.volumes[c.volume] = true
	return exec.Result{Stdout: []byte(c.id + "\n")}, nil
}

func (f *fakeDocker) rm(args []string) (exec.Result, error) {
	if len(args) != 2 || args[0] != "-f" {
		f.t.Errorf("rm: unexpected argv %q", args)
		return errResult(1, "bad rm")
	}
	if _, ok := f.containers[args[1]]; !ok {
		return errResult(1, "Error response from daemon: No such container: %s", args[1])
	}
	delete(f.containers, args[1])
	return exec.Result{Stdout: []byte(args[1] + "\n")}, nil
}

func (f *fakeDocker) volumeRm(args []string) (exec.Result, error) {
	if len(args) != 2 || args[0] != "rm" {
		f.t.Errorf("volume: unexpected argv %q", args)
		return errResult(1, "bad volume call")
	}
	name := args[1]
	if !f.volumes[name] {
		return errResult(1, "Error response from daemon: get %s: no such volume", name)
	}
	for _, c := range f.containers {
		if c.volume == name {
			return errResult(1, "Error response from daemon: remove %s: volume is in use - [%s]", name, c.id)
		}
	}
	delete(f.volumes, name)
	return exec.Result{Stdout: []byte(name + "\n")}, nil
}

// put adds a container directly, as someone outside the watchdog would.
func (f *fakeDocker) put(name, state string, labels map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	f.containers[name] = &fakeContainer{id: fmt.Sprintf("%064x", f.nextID), name: name, state: state,
		labels: labels, volume: watchdog.VolumeName(name), target: "/state"}
	f.volumes[watchdog.VolumeName(name)] = true
}

// setState changes a container's state, as the engine would.
func (f *fakeDocker) setState(name, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[name]
	if !ok {
		f.t.Fatalf("setState: no container %s", name)
	}
	c.state = state
}

// remove deletes a container behind the watchdog's back; its volume stays.
func (f *fakeDocker) remove(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.containers[name]; !ok {
		f.t.Fatalf("remove: no container %s", name)
	}
	delete(f.containers, name)
}

func (f *fakeDocker) get(name string) *fakeContainer {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.containers[name]; ok {
		cp := *c
		return &cp
	}
	return nil
}

func (f *fakeDocker) hasVolume(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.volumes[name]
}

func (f *fakeDocker) setFail(verb, stderr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if stderr == "" {
		delete(f.fail, verb)
	} else {
		f.fail[verb] = stderr
	}
}

func (f *fakeDocker) setFailFor(name, stderr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if stderr == "" {
		delete(f.failFor, name)
	} else {
		f.failFor[name] = stderr
	}
}

func (f *fakeDocker) setBlock(verb string, timeout time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.block[verb], f.callTimeout = true, timeout
}

func (f *fakeDocker) setHook(h func(args []string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = h
}

// calls returns the recorded calls starting with words, e.g. calls("run").
func (f *fakeDocker) calls(words ...string) []string { return f.runner.CallsWith(words...) }

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

// clock is a fake clock a test advances by hand.
type clock = fakeclock.Clock

func newClock() *clock { return fakeclock.New() }

// testClock is a fake clock whose waits the test answers itself.
type testClock struct {
	*fakeclock.Clock
	after func(time.Duration) <-chan time.Time
}

func (c testClock) After(d time.Duration) <-chan time.Time { return c.after(d) }

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
