package fakedocker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/container-watchdog/container-watchdog/exec"
	"github.com/container-watchdog/container-watchdog/exec/fakeexec"
	"github.com/container-watchdog/container-watchdog/watchdog/clock"
)

// Docker is the fake docker for Go unit tests: the program's command
// table, run in the test's process on a state file in a directory, behind
// a fakeexec.Handler. A test drives the real docker.Client over
// fakeexec.Runner{Handler: d.Handler()} and arranges the daemon with the
// helpers below, which run the fake-* subcommands scripts use.
//
// Set the fields before the first call.
type Docker struct {
	dir string
	// Clock stamps what calls record: creation times (and so the Status
	// column) and the events' times (nil: the system clock).
	Clock clock.Clock
	// Env is the environment calls see: FAKEDOCKER_FAIL_*/HANG_* faults
	// and the values `run -e NAME` passes through.
	Env map[string]string
	// OnFollow, when set, is called each time an `events` call starts
	// following: what changes after it returns is that stream's to print.
	OnFollow func()
}

// New returns a fake docker keeping its state in dir: docker.json, its
// events and lock files, and the call log docker.log, as a script's $WORK.
func New(dir string) *Docker { return &Docker{dir: dir} }

// Dir is the directory holding the state.
func (d *Docker) Dir() string { return d.dir }

// Handler answers calls of the program docker (by any path) as the fake
// CLI would. As with exec.Runner, a call whose ctx ends (a hang fault, a
// following `events`) returns an error carrying context.Cause; Stream
// calls get stdout line by line.
func (d *Docker) Handler() fakeexec.Handler {
	return func(ctx context.Context, program string, args []string, emit func(string)) (exec.Result, error) {
		if filepath.Base(program) != "docker" {
			return exec.Result{ExitCode: -1}, fmt.Errorf("fakedocker: cannot run %q, only docker", program)
		}
		if d.OnFollow != nil {
			ctx = context.WithValue(ctx, followingKey{}, d.OnFollow)
		}
		var stderr bytes.Buffer
		stdout := &lineWriter{emit: emit}
		code := run(ctx, args, d.proc(stdout, &stderr))
		stdout.flush()
		res := exec.Result{Stdout: stdout.all.Bytes(), Stderr: stderr.Bytes(), ExitCode: code}
		if ctx.Err() != nil {
			res.ExitCode = -1
			return res, fmt.Errorf("%s %s: %w", program, firstWord(args), context.Cause(ctx))
		}
		return res, nil
	}
}

// Do runs one command line in-process, as `exec docker ARGS` does in a
// script: docker's commands and the fake-* helpers alike. It returns
// stdout, and an error holding stderr when the exit status is not 0.
func (d *Docker) Do(ctx context.Context, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	if code := run(ctx, args, d.proc(&stdout, &stderr)); code != 0 {
		return stdout.String(), fmt.Errorf("docker %s: exit %d: %s", strings.Join(args, " "), code, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func (d *Docker) proc(stdout, stderr io.Writer) proc {
	return proc{getenv: d.getenv, stdout: stdout, stderr: stderr, now: clock.Or(d.Clock).Now}
}

func (d *Docker) getenv(k string) string {
	switch k {
	case "FAKEDOCKER_STATE":
		return filepath.Join(d.dir, "docker.json")
	case "FAKEDOCKER_LOG": // next to the state
		return ""
	}
	return d.Env[k]
}

// Put creates c as someone other than the code under test would
// (fake-run): its Name, Image (default "fakedocker/put"), Labels, Env,
// Cmd, and Mounts ("volume:/target", creating named volumes), running
// unless State says otherwise. ID, Created and ExitCode are the daemon's.
func (d *Docker) Put(c Container) error {
	args := []string{"fake-run", "--name", c.Name}
	if c.State != "" {
		args = append(args, "--state", c.State)
	}
	if c.Restart != "" {
		args = append(args, "--restart", c.Restart)
	}
	for _, k := range slices.Sorted(maps.Keys(c.Labels)) {
		args = append(args, "--label", k+"="+c.Labels[k])
	}
	for _, m := range c.Mounts {
		args = append(args, "--volume", m)
	}
	for _, e := range c.Env {
		args = append(args, "--env", e)
	}
	image := c.Image
	if image == "" {
		image = "fakedocker/put"
	}
	args = append(append(args, image), c.Cmd...)
	_, err := d.Do(context.Background(), args...)
	return err
}

// SetState moves a container to state as the engine would
// (fake-set-state), with the exit code given or fake-set-state's default.
func (d *Docker) SetState(name, state string, exitCode ...int) error {
	args := []string{"fake-set-state", name, state}
	for _, c := range exitCode {
		args = append(args, strconv.Itoa(c))
	}
	_, err := d.Do(context.Background(), args...)
	return err
}

// OOMKill stops a running container as the kernel's OOM killer would
// (fake-set-state --oom NAME exited): oom, then die with 137.
func (d *Docker) OOMKill(name string) error {
	_, err := d.Do(context.Background(), "fake-set-state", "--oom", name, "exited")
	return err
}

// Remove removes containers behind everyone's back, as docker rm -f
// would (fake-rm); their volumes stay.
func (d *Docker) Remove(names ...string) error {
	_, err := d.Do(context.Background(), append([]string{"fake-rm"}, names...)...)
	return err
}

// SetHealth is a health probe's verdict on a running container with a
// health check (fake-health): status (starting, healthy, unhealthy), and
// unless starting a probe logged with exitCode and output; docker's
// health_status event when the status changes.
func (d *Docker) SetHealth(name, status string, exitCode int, output string) error {
	_, err := d.Do(context.Background(), "fake-health", name, status, "--exit", strconv.Itoa(exitCode), "--output", output)
	return err
}

// ImageHealthcheck gives image its own HEALTHCHECK CMD-SHELL cmd, or
// takes it away with "NONE" (fake-image healthcheck).
func (d *Docker) ImageHealthcheck(image, cmd string) error {
	_, err := d.Do(context.Background(), "fake-image", "healthcheck", image, cmd)
	return err
}

// SetFault sets the fault of key (a command such as "ps", "volume" or
// "all", or FaultKey(cmd, container)) as fake-fault does: f.Hang, else
// a failure printing f.Fail; f.Times uses, or until cleared when 0.
func (d *Docker) SetFault(key string, f Fault) error {
	args := []string{"fake-fault", key, "fail", f.Fail}
	if f.Hang {
		args = []string{"fake-fault", key, "hang"}
	}
	if f.Times > 0 {
		args = append(args, strconv.Itoa(f.Times))
	}
	_, err := d.Do(context.Background(), args...)
	return err
}

// ClearFault removes the fault of key (fake-fault KEY clear).
func (d *Docker) ClearFault(key string) error {
	_, err := d.Do(context.Background(), "fake-fault", key, "clear")
	return err
}

// EndEvents ends every `docker events` call following now, as a daemon
// restart does: each exits 1 printing text (fake-events-end).
func (d *Docker) EndEvents(text string) error {
	_, err := d.Do(context.Background(), "fake-events-end", text)
	return err
}

// Container returns a copy of the container with this name or ID, or nil
// when there is none.
func (d *Docker) Container(ref string) (*Container, error) {
	var out *Container
	err := d.read(func(st *state) {
		if c := st.find(ref); c != nil {
			cp := *c
			cp.Labels = maps.Clone(c.Labels)
			cp.Env, cp.Mounts, cp.Cmd = slices.Clone(c.Env), slices.Clone(c.Mounts), slices.Clone(c.Cmd)
			out = &cp
		}
	})
	return out, err
}

// HasVolume reports whether the named volume exists.
func (d *Docker) HasVolume(name string) (bool, error) {
	var ok bool
	err := d.read(func(st *state) { _, ok = st.Volumes[name] })
	return ok, err
}

// read runs f on the state, under the lock calls take.
func (d *Docker) read(f func(*state)) error {
	sp := statePath(d.getenv)
	unlock, err := lockState(sp)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := loadState(sp)
	if err != nil {
		return err
	}
	f(st)
	return nil
}

// lineWriter keeps all it is given and emits each whole line.
type lineWriter struct {
	emit    func(string)
	all     bytes.Buffer
	pending []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.all.Write(p)
	w.pending = append(w.pending, p...)
	for {
		i := bytes.IndexByte(w.pending, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.emit(string(w.pending[:i]))
		w.pending = w.pending[i+1:]
	}
}

// flush emits a last line that has no newline, as a scanner would.
func (w *lineWriter) flush() {
	if len(w.pending) > 0 {
		w.emit(string(w.pending))
		w.pending = nil
	}
}

func firstWord(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}
