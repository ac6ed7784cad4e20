package fakedocker

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Main runs the fake docker CLI on os.Args and returns its exit status.
// SIGTERM and SIGINT end a following `events` (exit 0) or a hung call
// (exit 137) cleanly.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return run(ctx, os.Args[1:], proc{getenv: os.Getenv, stdout: os.Stdout, stderr: os.Stderr, now: time.Now})
}

// proc is what one invocation gets from its process: the environment,
// its output and the clock. Main passes the real ones; Docker's handler
// its own, so the same commands run in a test's process.
type proc struct {
	getenv         func(string) string
	stdout, stderr io.Writer
	now            func() time.Time
}

// call is one invocation: its I/O, environment and the clock, so the
// commands stay testable in-process.
type call struct {
	ctx    context.Context
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
	// now is when the call began; clock reads the time later on (events).
	now   time.Time
	clock func() time.Time
	// statePath is the state file; eventsStart is the size of the events
	// file when a stateless call held the lock: where `events` starts.
	statePath   string
	eventsStart int64
}

func (c *call) errorf(code int, format string, args ...any) int {
	fmt.Fprintf(c.stderr, format+"\n", args...)
	return code
}

// command is one (sub)command. fn runs with the state loaded and locked and
// reports whether it changed it (and records, with state.emit, the docker
// events of each change); cmds without state (events) get a nil state and
// run unlocked so blocking does not stall other invocations.
type command struct {
	flags        []flagSpec
	interspersed bool
	minArgs      int
	maxArgs      int // -1: unlimited
	usage        string
	faultKey     string // "" for test helpers, which are never faulted
	failCode     int
	stateless    bool
	// targets names the containers a call acts on, so that a fault keyed
	// "CMD:CONTAINER" hits only those calls (nil: it names none).
	targets func(p *parsedFlags) []string
	fn      func(c *call, st *state, p *parsedFlags) (code int, dirty bool)
}

// namedArgs is targets for commands whose arguments are containers.
func namedArgs(p *parsedFlags) []string { return p.args }

var commands map[string]*command

func init() {
	// Assigned in init because the table refers to functions that refer
	// back to it (usage messages). A new docker command is a *command in
	// the file of its kind (containers.go, volumes.go, events.go) and one
	// line here; what it reads or prints of a container is a field of
	// Container (state.go) and of psRow or inspectContainer (format.go).
	commands = map[string]*command{
		"ps":              psCmd,
		"run":             runCmd,
		"rm":              rmCmd,
		"start":           startCmd,
		"stop":            stopCmd,
		"kill":            killCmd,
		"restart":         restartCmd,
		"inspect":         inspectCmd,
		"events":          eventsCmd,
		"version":         versionCmd,
		"info":            infoCmd,
		"volume ls":       volumeLsCmd,
		"volume create":   volumeCreateCmd,
		"volume rm":       volumeRmCmd,
		"volume inspect":  volumeInspectCmd,
		"fake-run":        fakeRunCmd,
		"fake-set-state":  fakeSetStateCmd,
		"fake-rm":         fakeRmCmd,
		"fake-write":      fakeWriteCmd,
		"fake-read":       fakeReadCmd,
		"fake-fault":      fakeFaultCmd,
		"fake-image":      fakeImageCmd,
		"fake-events-end": fakeEventsEndCmd,
		"fake-health":     fakeHealthCmd,
	}
}

// Global flags docker accepts before the subcommand; they are irrelevant to
// the fake but must not be mistaken for it.
var globalFlags = []flagSpec{
	valFlag("host", "H"), valFlag("context", "c"), valFlag("log-level", "l"),
	valFlag("config"), boolFlag("debug", "D"), boolFlag("tls"), boolFlag("tlsverify"),
}

// run is Main without process globals; ctx ends hangs and `events`.
func run(ctx context.Context, args []string, pr proc) int {
	getenv, stdout := pr.getenv, pr.stdout
	sp := statePath(getenv)
	c := &call{ctx: ctx, getenv: getenv, stdout: stdout, stderr: pr.stderr, now: pr.now(), clock: pr.now, statePath: sp}
	// Log first: a call that then hangs or fails must still be visible.
	if err := appendLog(logPath(getenv, sp), args); err != nil {
		return c.errorf(1, "fakedocker: writing call log: %v", err)
	}

	g, err := parseFlags(globalFlags, args, false)
	if err != nil {
		return c.errorf(125, "%v\nSee 'docker --help'.", err)
	}
	rest := g.args
	if len(rest) == 0 {
		fmt.Fprintln(stdout, "Usage:  docker [OPTIONS] COMMAND\n\nA fake docker CLI for tests (see package fakedocker).")
		return 0
	}
	name := rest[0]
	rest = rest[1:]
	if name == "container" && len(rest) > 0 && commands[rest[0]] != nil {
		// `docker container rm` and friends are aliases.
		name, rest = rest[0], rest[1:]
	}
	if name == "volume" {
		if len(rest) == 0 {
			return c.errorf(1, "Usage:  docker volume COMMAND\n\nCommands: create inspect ls rm")
		}
		name, rest = "volume "+rest[0], rest[1:]
	}
	cmd := commands[name]
	if cmd == nil {
		return c.errorf(1, "docker: '%s' is not a docker command.\nSee 'docker --help'", name)
	}
	p, err := parseFlags(append([]flagSpec{boolFlag("help")}, cmd.flags...), rest, cmd.interspersed)
	if err != nil {
		return c.errorf(125, "%v\nSee 'docker %s --help'.", err, name)
	}
	if p.has("help") {
		fmt.Fprintf(stdout, "Usage:  docker %s %s\n", name, cmd.usage)
		return 0
	}
	if len(p.args) < cmd.minArgs || (cmd.maxArgs >= 0 && len(p.args) > cmd.maxArgs) {
		return c.errorf(1, "\"docker %s\" requires %s.\nSee 'docker %s --help'.\n\nUsage:  docker %s %s",
			name, argCountText(cmd), name, name, cmd.usage)
	}

	unlock, err := lockState(sp)
	if err != nil {
		return c.errorf(1, "fakedocker: %v", err)
	}
	st, err := loadState(sp)
	if err != nil {
		unlock()
		return c.errorf(1, "fakedocker: %v", err)
	}
	st.now = c.now
	var targets []string
	if cmd.targets != nil {
		targets = cmd.targets(p)
	}
	f, dirty := takeFault(getenv, st, cmd.faultKey, targets)
	code := 0
	if f == nil && !cmd.stateless {
		var changed bool
		code, changed = cmd.fn(c, st, p)
		dirty = dirty || changed
	}
	if dirty {
		if err := saveState(sp, st); err != nil {
			unlock()
			return c.errorf(1, "fakedocker: saving state: %v", err)
		}
	}
	// Events go out after the state they describe, under the same lock:
	// whoever reads one and then asks docker sees the change.
	if err := appendEvents(eventsPath(sp), st.events); err != nil {
		unlock()
		return c.errorf(1, "fakedocker: writing events: %v", err)
	}
	if cmd.stateless {
		if c.eventsStart, err = fileSize(eventsPath(sp)); err != nil {
			unlock()
			return c.errorf(1, "fakedocker: %v", err)
		}
	}
	unlock()

	switch {
	case f != nil && f.Hang:
		<-ctx.Done()
		return 137
	case f != nil:
		return c.errorf(cmd.failCode, "%s", f.Fail)
	case cmd.stateless:
		code, _ = cmd.fn(c, nil, p)
	}
	return code
}

func argCountText(cmd *command) string {
	switch {
	case cmd.minArgs == cmd.maxArgs && cmd.minArgs == 1:
		return "exactly 1 argument"
	case cmd.minArgs == cmd.maxArgs:
		return fmt.Sprintf("exactly %d arguments", cmd.minArgs)
	case cmd.maxArgs == 0:
		return "no arguments"
	case cmd.minArgs == 1:
		return "at least 1 argument"
	default:
		return fmt.Sprintf("at least %d arguments", cmd.minArgs)
	}
}

// takeFault returns the fault to apply to key, if any, consuming one use of
// a counted state-file fault (dirty reports that the state changed).
// Environment faults win over the state file; in the state file a fault
// for one of the call's target containers ("run:NAME") wins over one for
// the command, which wins over "all".
func takeFault(getenv func(string) string, st *state, key string, targets []string) (*Fault, bool) {
	if key == "" {
		return nil, false
	}
	for _, k := range []string{key, "all"} {
		env := strings.ToUpper(strings.NewReplacer("-", "_", " ", "_").Replace(k))
		if h := getenv("FAKEDOCKER_HANG_" + env); h != "" && h != "0" && h != "false" {
			return &Fault{Hang: true}, false
		}
		if msg := getenv("FAKEDOCKER_FAIL_" + env); msg != "" {
			return &Fault{Fail: msg}, false
		}
	}
	var keys []string
	for _, t := range targets {
		keys = append(keys, FaultKey(key, t))
	}
	for _, k := range append(keys, key, "all") {
		f := st.Faults[k]
		if f == nil || (!f.Hang && f.Fail == "") {
			continue
		}
		applied := *f
		if f.Times <= 0 {
			return &applied, false
		}
		f.Times--
		if f.Times == 0 {
			delete(st.Faults, k)
		}
		return &applied, true
	}
	return nil, false
}

// FaultKey is the fault key of cmd acting on one container: a fault set
// under FaultKey("run", "web") fails `docker run --name web ...` only.
func FaultKey(cmd, container string) string { return cmd + ":" + strings.TrimPrefix(container, "/") }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
