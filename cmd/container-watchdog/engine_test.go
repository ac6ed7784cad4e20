package main

// Real-engine tests and benchmarks: the built container-watchdog binary
// against the machine's Docker engine, with a tiny test image built here
// (a static Go program imported with `docker import`; no registry needed).
//
//	go test ./cmd/container-watchdog/ -run Engine -v -count=1
//	scripts/bench-engine.sh        # BenchmarkEngine, CW_BENCH_ENGINE=1
//
// When `docker version` fails the tests skip, unless CI=true, where they
// fail: CI must provide an engine. Everything created here (containers,
// volumes, images) is named with a random per-run prefix (cwt<hex>- for the
// tests, cwb<hex>- for the benchmark) and removed when the test ends, also
// on failure. The registry is always a temp file (--db), never the system
// one. Every daemon started here is stopped by its pid.
//
// TestMain (main_test.go) puts a fake `docker` first on PATH for the
// scripts; everything here uses the real CLI, found on PATH past it (or
// CW_ENGINE_DOCKER). DOCKER_HOST and DOCKER_CONTEXT are honoured; the
// unreachable scenario proxies a unix socket, so it skips with a tcp
// DOCKER_HOST. CW_ENGINE_DEBUG=1 logs the ticks each wait saw.
//
// The files: this one lists the scenarios. engine_detection_test.go holds
// those where the watchdog reports and leaves the container alone (stop,
// kill, orphan, a death during a tick), engine_repair_test.go those where
// it recreates it (rm, a failing run, docker unreachable and back),
// engine_health_test.go issue 8's (health checks and restarts, a hold,
// repeated removals), engine_fleet_test.go issue 12's fleet of 110.
// engine_helpers_test.go is the engine, the test image and the docker CLI;
// engine_daemon_helpers_test.go the daemon under test as its /state,
// /healthz and SSE stream show it; engine_bench_test.go the benchmark.

import (
	"testing"
	"time"
)

const (
	engineInterval = 2 * time.Second
	engineWait     = 30 * time.Second // longest wait for any one condition
)

func TestEngine(t *testing.T) {
	e := newEngine(t, "cwt")
	t.Logf("docker %s, image %s, prefix %s", e.docker, e.image, e.root)
	t.Run("stop", e.testStop)
	t.Run("rm", e.testRemove)
	t.Run("kill", e.testKill)
	t.Run("runfails", e.testRecreateFails)
	t.Run("unreachable", e.testUnreachable)
	t.Run("orphan", e.testOrphan)
	t.Run("startuprace", e.testStartupRace)
	t.Run("health", e.testHealth)
	t.Run("holdrm", e.testHoldRemove)
	t.Run("rmagain", e.testRepeatedRemoval)
	t.Run("fleet", e.testFleet)
}
