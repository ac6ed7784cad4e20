package fakeexec_test

import (
	"context"
	"slices"
	"testing"

	"github.com/container-watchdog/container-watchdog/exec"
	"github.com/container-watchdog/container-watchdog/exec/fakeexec"
)

func TestCallsKeepArgvBoundaries(t *testing.T) {
	var streamed []string
	r := &fakeexec.Runner{Handler: func(_ context.Context, program string, args []string, emit func(string)) (exec.Result, error) {
		emit(program + " " + args[0])
		return exec.Result{ExitCode: len(args)}, nil
	}}
	ctx := context.Background()
	// One argument holding spaces and a tab, as docker's --format does.
	if res, err := r.Run(ctx, "docker", "ps", "--format", "{{.ID}}\t{{.Label \"a b\"}}"); err != nil || res.ExitCode != 3 {
		t.Fatalf("Run = %+v, %v", res, err)
	}
	if _, err := r.Stream(ctx, func(l []byte) { streamed = append(streamed, string(l)) }, "docker", "events"); err != nil {
		t.Fatal(err)
	}
	r.Run(ctx, "docker", "volume", "rm", "v")
	r.Run(ctx, "docker", "volume")

	want := [][]string{
		{"docker", "ps", "--format", "{{.ID}}\t{{.Label \"a b\"}}"},
		{"docker", "events"},
		{"docker", "volume", "rm", "v"},
		{"docker", "volume"},
	}
	got := r.Calls()
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("Calls = %q, want %q", got, want)
	}
	if !slices.Equal(streamed, []string{"docker events"}) {
		t.Errorf("Stream lines %q, want the handler's emitted line", streamed)
	}
	got[0][1] = "changed"
	if r.Calls()[0][1] != "ps" {
		t.Error("Calls shares its slices with the caller")
	}

	if got := r.CallsWith("volume", "rm"); len(got) != 1 || !slices.Equal(got[0], want[2]) {
		t.Errorf("CallsWith(volume rm) = %q, want only the volume rm call", got)
	}
	// Element-wise: "volume rm" as one word is no match, nor is a prefix of a word.
	for _, words := range [][]string{{"volume rm"}, {"vol"}, {"ps", "--format", "{{.ID}}"}} {
		if got := r.CallsWith(words...); len(got) != 0 {
			t.Errorf("CallsWith(%q) = %q, want none", words, got)
		}
	}
	if got := r.CallsWith(); len(got) != 4 {
		t.Errorf("CallsWith() = %q, want every call", got)
	}
	r.Reset()
	if got := r.Calls(); len(got) != 0 {
		t.Errorf("Calls after Reset = %q", got)
	}
}
