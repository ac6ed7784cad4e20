// Package chaos is the chaos suite: the built container-watchdog binary,
// real docker engines and real SQLite, under the faults the contract's
// invariants must survive (see the README's "Reliability" section):
//
//	go test ./cmd/container-watchdog/chaos -run Chaos -v
//
// Scenarios: a crash loop (SIGKILL of the daemon in its tick or repair,
// with containers removed, killed and stopped around it), engine restarts
// (a private dockerd in its own network namespace), a slow or hung docker
// CLI, a full and a locked registry, abuse of the HTTP side, and the
// one-daemon-per-registry lock. Each checks the invariants after every
// fault and reports its figures in the test log.
//
// It lives in its own package, with only test files, so that its minutes
// have their own `go test` timeout. It runs on dockerds of its own, each
// in a network namespace of its own (never the machine's engine, which
// it neither uses nor touches), and needs root, dockerd and
// fuse-overlayfs (scripts/ci-setup.sh): without them it skips, unless
// CI=true, where it fails. Everything it creates is named with a random
// prefix (cwc<hex>-) and removed when it ends, also on failure; every
// process it starts is ended by its pid.
package chaos
