package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/container-watchdog/container-watchdog/watchdog/docker/fakedocker"
)

// TestMain lets the test binary act as the real container-watchdog and as
// a fake docker, both found through PATH by the scripts in testdata.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"container-watchdog": func() { os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr)) },
		"docker":             func() { os.Exit(fakedocker.Main()) },
		"notifysink":         notifysinkProgram,
		"activate":           activateProgram,
		"pidexec":            pidexecProgram,
		"sseclient":          sseclientProgram,
		"webhookrecv":        webhookrecvProgram,
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "../../testdata",
		Setup: func(env *testscript.Env) error {
			// Never the system registry: every script gets its own.
			env.Setenv("CONTAINER_WATCHDOG_DB", env.WorkDir+"/registry.db")
			env.Setenv("CONTAINER_WATCHDOG_DOCKER_TIMEOUT", "5s")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":   cmdExits,
			"waitfor": cmdWaitfor, "countstable": cmdCountstable, "httpget": cmdHTTPGet,
			"envfile": cmdEnvfile, "freeport": cmdFreeport, "signal": cmdSignal,
		},
		Condition:           condition,
		RequireExplicitExec: true,
	})
}

// condition adds [journald]: true when the journald socket exists, in which
// case events go to the journal rather than to stderr as key=value lines.
func condition(cond string) (bool, error) {
	if cond != "journald" {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	_, err := os.Stat("/run/systemd/journal/socket")
	return err == nil, nil
}

// cmdExits is `exits N PROG [ARG...]`: it runs PROG like `exec` does and
// fails unless PROG exits with status exactly N. `! exec` accepts any
// non-zero status; the contract gives exact ones (2 bad input, 3 docker
// unreachable). Like exec, it leaves PROG's output for `stdout`/`stderr`.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! exits")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exits N program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil || want < 0 {
		ts.Fatalf("exits: status %q is not a number", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("exits: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}
