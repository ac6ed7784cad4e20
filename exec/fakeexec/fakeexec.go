// Package fakeexec is a scripted exec.CommandRunner for unit tests.
//
// A test supplies one Handler that sees every call and answers it; the fake
// records each call's argv, program first, with its argument boundaries
// kept (as k8s.io/utils/exec's RunLog does), so a test can assert on
// exactly what would have run, an argument holding spaces included.
package fakeexec

import (
	"context"
	"slices"
	"sync"

	"github.com/container-watchdog/container-watchdog/exec"
)

// Handler answers one call. For Stream calls it may call emit per line;
// for Run calls emit does nothing.
type Handler func(ctx context.Context, program string, args []string, emit func(line string)) (exec.Result, error)

// Runner records calls and answers them with Handler.
type Runner struct {
	Handler Handler

	mu    sync.Mutex
	calls [][]string
}

var _ exec.CommandRunner = (*Runner)(nil)

// Run implements exec.CommandRunner.
func (r *Runner) Run(ctx context.Context, program string, args ...string) (exec.Result, error) {
	r.record(program, args)
	return r.Handler(ctx, program, args, func(string) {})
}

// Stream implements exec.CommandRunner.
func (r *Runner) Stream(ctx context.Context, onLine func([]byte), program string, args ...string) (exec.Result, error) {
	r.record(program, args)
	return r.Handler(ctx, program, args, func(line string) { onLine([]byte(line)) })
}

func (r *Runner) record(program string, args []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, append([]string{program}, args...))
}

// Calls returns every call so far, in order, each as its argv with the
// program first: {"docker", "ps", "-a", ...}. The slices are copies.
func (r *Runner) Calls() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([][]string, len(r.calls))
	for i, c := range r.calls {
		out[i] = slices.Clone(c)
	}
	return out
}

// CallsWith returns the calls (program first, as Calls) whose arguments
// after the program begin with words, compared element by element:
// CallsWith("volume", "rm") matches {"docker", "volume", "rm", "v"}.
func (r *Runner) CallsWith(words ...string) [][]string {
	var out [][]string
	for _, c := range r.Calls() {
		if args := c[1:]; len(args) >= len(words) && slices.Equal(args[:len(words)], words) {
			out = append(out, c)
		}
	}
	return out
}

// Reset forgets the recorded calls.
func (r *Runner) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}
