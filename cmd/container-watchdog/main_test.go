package main

import (
	"os"
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
		RequireExplicitExec: true,
	})
}
