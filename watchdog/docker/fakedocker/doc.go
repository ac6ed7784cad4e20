// Package fakedocker is a stand-in for the docker CLI, used by tests so
// container-watchdog can be exercised end to end without a Docker daemon.
//
// Register Main as the program "docker" with testscript (RunMain, or Main
// wrapped as func() { os.Exit(fakedocker.Main()) }) so the code under test
// finds it through PATH and shells out to it exactly as it would to the real
// CLI.
//
// Every invocation is a separate process, so all state lives in files:
//
//   - $FAKEDOCKER_STATE (else $WORK/docker.json, else ./docker.json) holds
//     containers, volumes, the optional image list and injected faults as
//     JSON. A missing file is an empty state. Read-modify-write happens under
//     flock on "<state>.lock" and writes are atomic (temp file + rename).
//   - $FAKEDOCKER_LOG (else docker.log next to the state file) gets one line
//     per invocation, the arguments joined by single spaces, written before
//     anything else so that hung or failing calls are visible too.
//
// Faults make a subcommand fail or hang. They come from the state file
// ("faults": {"ps": {"fail": "text", "times": 1}, "rm": {"hang": true}}) and
// from the environment (FAKEDOCKER_FAIL_PS=text, FAKEDOCKER_HANG_RM=1), the
// environment winning. Keys are subcommand names (volume subcommands share
// "volume"); the key "all" applies to every docker subcommand. A state-file
// fault with "times" is consumed on each use and removed at zero.
//
// Besides the docker subset (ps, run, rm, start, stop, kill, inspect, events,
// volume ls/create/rm/inspect, version, info) there are helper subcommands
// for tests, all prefixed "fake-": fake-set-state, fake-rm, fake-write,
// fake-read, fake-fault and fake-image. They are logged but never faulted.
package fakedocker
