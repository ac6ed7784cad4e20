// Package fakeexec is a scripted exec.CommandRunner for unit tests.
//
// A test supplies one Handler that sees every call and answers it; the fake
// records the calls so a test can assert on exactly what would have run.
package fakeexec

import (
	"context"
	"strings"
	"sync"

	"github.com/container-watchdog/container-watchdog/exec"
)

// Handler answers one call. For Stream calls it may call emit per line.
type Handler func(ctx context.Context, program string, args []string, emit func(line string)) (exec.Result, error)

// Runner records calls and answers them with Handler.
type Runner struct {
	Handler Handler

	mu    sync.Mutex
	calls [][]string
}

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

// Calls returns every call so far as "program arg arg ...".
func (r *Runner) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.calls))
	for i, c := range r.calls {
		out[i] = strings.Join(c, " ")
	}
	return out
}

// CallsWith returns the calls whose argv starts with the given words
// (after the program name).
func (r *Runner) CallsWith(words ...string) []string {
	var out []string
	for _, c := range r.Calls() {
		f := strings.Fields(c)[1:]
		if len(f) >= len(words) && strings.Join(f[:len(words)], " ") == strings.Join(words, " ") {
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
