#!/usr/bin/env bash
# bench-engine.sh: measure container-watchdog against the real Docker
# engine (BenchmarkEngine in cmd/container-watchdog/engine_bench_test.go) and
# print one table:
#
#   - tick duration (the watchdog's Tick, in-process, real docker CLI and
#     registry) over the bare `docker ps -a --filter name=^PREFIX --format`
#     it makes, interleaved, at 10, 100 and 500 managed containers;
#   - detection and repair latency of `docker rm -f`, p50/p99, polling only
#     (--no-events, interval 5s) and with docker's event stream;
#   - time to repair 100 containers missing at once, default repair pool
#     against --repair-parallelism 1;
#   - repeated removals of one instance (issue 8): each of the first three
#     repairs in a row, `docker rm -f` -> container_recreated, against a
#     bare `docker run -d` timed interleaved in the same run; the docker run
#     calls under a real removal loop (REMOVAL_LOOP_SECONDS); and, from the
#     unit test on the fake clock (an hour of it, in well under a second),
#     the most docker run calls in any 5 minutes under such a loop;
#   - the daemon's RSS and CPU over an idle window with 500 containers.
#
# Needs dockerd and the docker CLI; no registry (the test image is imported
# from a static Go binary). Everything it creates is named cwb<hex>- and is
# removed at the end. About 15-20 minutes on 2 cores.
#
#   scripts/bench-engine.sh
#   TICK_REPS=21 LATENCY_SAMPLES=40 scripts/bench-engine.sh
#   SIZES=10,100 IDLE_SECONDS=20 REPAIR_ROUNDS=1 scripts/bench-engine.sh   # quicker
#   SECTIONS=repair scripts/bench-engine.sh        # latency, repair, removal, tick (with idle)
#   SECTIONS=removal REMOVAL_ROUNDS=3 scripts/bench-engine.sh
#
# The full go test output (raw samples included) is kept in $LOG.
set -euo pipefail
cd "$(dirname "$0")/.."

export CW_BENCH_ENGINE=1
export CW_BENCH_TICK_REPS=${TICK_REPS:-15}
export CW_BENCH_LATENCY_SAMPLES=${LATENCY_SAMPLES:-25}
export CW_BENCH_REPAIR_ROUNDS=${REPAIR_ROUNDS:-2}
export CW_BENCH_REPAIR_N=${REPAIR_N:-100}
export CW_BENCH_IDLE_SECONDS=${IDLE_SECONDS:-60}
export CW_BENCH_SIZES=${SIZES:-10,100,500}
export CW_BENCH_REMOVAL_ROUNDS=${REMOVAL_ROUNDS:-5}
export CW_BENCH_REMOVAL_LOOP_SECONDS=${REMOVAL_LOOP_SECONDS:-120}
export CW_BENCH_SECTIONS=${SECTIONS:-latency,repair,removal,tick}
LOG=${LOG:-$(mktemp "${TMPDIR:-/tmp}/bench-engine.XXXXXX.log")}

if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
	echo "bench-engine: no Docker engine answers (docker version failed)" >&2
	exit 1
fi

echo "bench-engine: running (log: $LOG)" >&2
status=0
go test -run '^$' -bench '^BenchmarkEngine$' -benchtime 1x -count 1 -timeout 60m \
	./cmd/container-watchdog/ >"$LOG" 2>&1 || status=$?

# The removal loop on the fake clock: a count, not a speed, so a unit test
# computes it (watchdog/removal_loop_test.go); its log line is the figure.
if [[ ",$CW_BENCH_SECTIONS," == *,removal,* ]]; then
	go test -run '^TestRemovalLoopRunsAtMostTenPerFiveMinutes$' -count 1 -v ./watchdog/ >>"$LOG" 2>&1 || status=$?
fi

# Raw samples, then the table (everything BenchmarkEngine printed).
grep -E '^(engine benchmark|raw |latency:|repair:|tick:)' "$LOG" || true
echo
awk '/^measure /{t=1} t && NF==0 {t=0} t' "$LOG"
grep -oE 'removal loop over .*' "$LOG" | sed 's/^/fake clock: /' || true
if [ "$status" -ne 0 ] || grep -qE '^(--- FAIL|FAIL)' "$LOG"; then
	echo "bench-engine: the benchmark failed; see $LOG" >&2
	tail -n 40 "$LOG" >&2
	exit 1
fi
