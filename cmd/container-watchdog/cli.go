package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/container-watchdog/container-watchdog/exec"
	"github.com/container-watchdog/container-watchdog/watchdog"
	"github.com/container-watchdog/container-watchdog/watchdog/clock"
	"github.com/container-watchdog/container-watchdog/watchdog/docker"
	"github.com/container-watchdog/container-watchdog/watchdog/sqlite"
)

// Exit statuses of the contract.
const (
	exitOK        = 0
	exitFailed    = 1
	exitBadInput  = 2
	exitNoDocker  = 3
	defaultDBName = "registry.db"
)

// exitError carries a status other than 1 out of a command's Run.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// Globals are the flags every command takes.
type Globals struct {
	DB            string        `name:"db" env:"CONTAINER_WATCHDOG_DB" placeholder:"PATH" help:"SQLite registry and event log (default /var/lib/container-watchdog/registry.db as root, else $$XDG_STATE_HOME/container-watchdog/registry.db)."`
	Docker        string        `name:"docker" env:"CONTAINER_WATCHDOG_DOCKER" default:"docker" placeholder:"PATH" help:"The docker-compatible CLI to shell out to."`
	Prefix        string        `name:"prefix" env:"CONTAINER_WATCHDOG_PREFIX" default:"claude-hooks-" help:"Every managed container is named <prefix><agent>-<instance>."`
	DockerTimeout time.Duration `name:"docker-timeout" env:"CONTAINER_WATCHDOG_DOCKER_TIMEOUT" default:"30s" placeholder:"DUR" help:"The longest any one docker call may take before it is killed."`
}

// CLI is the whole grammar.
type CLI struct {
	Globals

	Agent     AgentCmd     `cmd:"" help:"Manage registered agents."`
	Reconcile ReconcileCmd `cmd:"" help:"Converge containers to the registry."`
	Run       RunCmd       `cmd:"" help:"Run the watchdog daemon."`
	Status    StatusCmd    `cmd:"" help:"Show expected instances and their observed state."`
	Events    EventsCmd    `cmd:"" help:"Show the persisted event log."`
	Hold      HoldCmd      `cmd:"" help:"Hold containers: the watchdog neither recreates nor restarts nor reports them until released."`
	Release   ReleaseCmd   `cmd:"" help:"End holds: the next tick judges the containers as usual."`
	Notify    NotifyCmd    `cmd:"" help:"Manage notification sinks (webhooks, chat, e-mail)."`
	Version   VersionCmd   `cmd:"" help:"Print the version."`
}

// env is what every command gets besides its flags: where to write and how
// to reach the outside world. It keeps commands free of globals.
type env struct {
	g      *Globals
	stdout io.Writer
	stderr io.Writer
	clock  clock.Clock
	log    *slog.Logger
	// runner runs the docker CLI: exec.New(--docker-timeout) in Main, a
	// fakeexec.Runner in the in-process daemon tests.
	runner exec.CommandRunner
}

// exitPanic unwinds kong's Exit hook (used by --help) so Main returns
// instead of the process exiting: commands run in-process under testscript.
type exitPanic struct{ code int }

// Main parses args, runs the command and returns the exit status.
func Main(args []string, stdout, stderr io.Writer) (code int) {
	var cli CLI
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// On the first signal, give the signals back: commands wind down on
	// ctx, and a second signal ends the process the default way.
	context.AfterFunc(ctx, stop)
	parser, err := kong.New(&cli,
		kong.BindTo(ctx, (*context.Context)(nil)),
		kong.Name("container-watchdog"),
		kong.Description("Keeps a declared set of Docker containers alive and reports every change."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exitPanic{code}) }),
	)
	if err != nil {
		fmt.Fprintf(stderr, "container-watchdog: %v\n", err)
		return exitFailed
	}
	defer func() {
		if v := recover(); v != nil {
			p, ok := v.(exitPanic)
			if !ok {
				panic(v)
			}
			code = p.code
		}
	}()
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "container-watchdog: %v\n", err)
		return exitBadInput
	}
	if err := cli.Globals.validate(); err != nil {
		fmt.Fprintf(stderr, "container-watchdog: %v\n", err)
		return exitBadInput
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e := &env{g: &cli.Globals, stdout: stdout, stderr: stderr, clock: clock.System(), log: logger,
		runner: exec.New(cli.Globals.DockerTimeout)}
	if err := kctx.Run(e); err != nil {
		fmt.Fprintf(stderr, "container-watchdog: %v\n", err)
		var ee *exitError
		switch {
		case errors.As(err, &ee):
			return ee.code
		case errors.Is(err, watchdog.ErrInvalid), errors.Is(err, watchdog.ErrNotFound), errors.Is(err, watchdog.ErrExists):
			return exitBadInput
		}
		return exitFailed
	}
	return exitOK
}

func (g *Globals) validate() error {
	if err := watchdog.ValidatePrefix(g.Prefix); err != nil {
		return err
	}
	if g.DockerTimeout <= 0 {
		return fmt.Errorf("%w --docker-timeout %s: must be positive", watchdog.ErrInvalid, g.DockerTimeout)
	}
	if g.Docker == "" {
		return fmt.Errorf("%w --docker %q: must not be empty", watchdog.ErrInvalid, g.Docker)
	}
	return nil
}

// dbPath is --db, or the contract's default for this user.
func (g *Globals) dbPath() (string, error) {
	if g.DB != "" {
		return g.DB, nil
	}
	if os.Geteuid() == 0 {
		return "/var/lib/container-watchdog/" + defaultDBName, nil
	}
	base := os.Getenv("XDG_STATE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no --db and no home folder for the default registry: %w", err)
		}
		base = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(base, "container-watchdog", defaultDBName), nil
}

func (e *env) openRegistry(ctx context.Context, opts ...sqlite.Option) (*sqlite.DB, error) {
	p, err := e.g.dbPath()
	if err != nil {
		return nil, err
	}
	db, err := sqlite.Open(ctx, p, opts...)
	if err != nil {
		return nil, err
	}
	db.Clock = e.clock
	return db, nil
}

func (e *env) docker() *docker.Client {
	return &docker.Client{Runner: e.runner, Program: e.g.Docker}
}

// reconciler leases what it replaces in db, long enough for an rm and a
// run at the docker timeout each.
func (e *env) reconciler(db *sqlite.DB) *watchdog.Reconciler {
	return &watchdog.Reconciler{Docker: e.docker(), Prefix: e.g.Prefix,
		Leases: db, LeaseTTL: 2*e.g.DockerTimeout + 10*time.Second, Clock: e.clock}
}

// printResults prints one "<outcome> <container>" line per result and
// returns an error when any failed.
func (e *env) printResults(rs []watchdog.Result) error {
	for _, r := range rs {
		if r.Outcome == watchdog.OutcomeAbsent {
			continue // nothing expected, nothing there: not worth a line
		}
		if r.Err != nil {
			fmt.Fprintf(e.stdout, "%s %s\n", r.Outcome, r.Container)
			fmt.Fprintf(e.stderr, "%s: %v\n", r.Container, r.Err)
			continue
		}
		fmt.Fprintf(e.stdout, "%s %s\n", r.Outcome, r.Container)
	}
	if err := watchdog.Failures(rs); err != nil {
		return fmt.Errorf("%d of %d containers did not converge", countFailed(rs), len(rs))
	}
	return nil
}

func countFailed(rs []watchdog.Result) int {
	n := 0
	for _, r := range rs {
		if r.Outcome == watchdog.OutcomeAbsent {
			continue // nothing expected, nothing there: not worth a line
		}
		if r.Err != nil {
			n++
		}
	}
	return n
}
