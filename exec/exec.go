package exec

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	osexec "os/exec"
	"syscall"
	"time"
)

// Result is what a finished program left behind.
type Result struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// CommandRunner runs a program to completion or streams its output.
//
// Run returns a nil error when the program ran and exited, whatever its exit
// code; the error is non-nil only when it could not be started, was killed by
// the timeout or by ctx. Stream calls onLine for every line of stdout until the
// program exits or ctx ends; it has no timeout of its own because it is meant
// for long-lived followers such as `docker events`.
type CommandRunner interface {
	Run(ctx context.Context, program string, args ...string) (Result, error)
	Stream(ctx context.Context, onLine func([]byte), program string, args ...string) (Result, error)
}

// ErrTimeout marks a call killed because it outlived the runner's timeout.
var ErrTimeout = errors.New("timed out")

// Runner is the real CommandRunner, built on os/exec.
type Runner struct {
	// Timeout bounds every Run call; zero means no bound beyond ctx.
	Timeout time.Duration
	// WaitDelay is how long to wait for output pipes after the kill.
	WaitDelay time.Duration
}

// New returns a Runner that kills any call lasting longer than timeout.
func New(timeout time.Duration) *Runner {
	return &Runner{Timeout: timeout, WaitDelay: time.Second}
}

// Run implements CommandRunner.
func (r *Runner) Run(ctx context.Context, program string, args ...string) (Result, error) {
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, r.Timeout, ErrTimeout)
		defer cancel()
	}
	var stdout, stderr bytes.Buffer
	cmd := r.command(ctx, program, args)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: exitCode(cmd)}
	return res, r.wrap(ctx, program, args, err)
}

// Stream implements CommandRunner.
func (r *Runner) Stream(ctx context.Context, onLine func([]byte), program string, args ...string) (Result, error) {
	var stderr bytes.Buffer
	cmd := r.command(ctx, program, args)
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, fmt.Errorf("run %s: %w", program, err)
	}
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("run %s: %w", program, err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		onLine(sc.Bytes())
	}
	// Drain whatever the scanner refused so the child never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, out)
	err = cmd.Wait()
	res := Result{Stderr: stderr.Bytes(), ExitCode: exitCode(cmd)}
	return res, r.wrap(ctx, program, args, err)
}

func (r *Runner) command(ctx context.Context, program string, args []string) *osexec.Cmd {
	cmd := osexec.CommandContext(ctx, program, args...)
	// Own process group, so the kill reaches whatever the CLI spawned; and
	// killed with us should we die first (SIGKILL included), so a crash
	// never leaves a `docker events` follower running for ever. Go rarely
	// ends an OS thread, so the thread-bound death signal holds in practice.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = r.WaitDelay
	return cmd
}

func (r *Runner) wrap(ctx context.Context, program string, args []string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s %s: %w", program, firstArg(args), context.Cause(ctx))
	}
	var ee *osexec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		return nil // a non-zero exit is reported through ExitCode, not as an error
	}
	return fmt.Errorf("%s %s: %w", program, firstArg(args), err)
}

func exitCode(cmd *osexec.Cmd) int {
	if cmd.ProcessState == nil {
		return -1
	}
	return cmd.ProcessState.ExitCode()
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}
