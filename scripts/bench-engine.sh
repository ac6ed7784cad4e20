#!/usr/bin/env bash
# bench-engine.sh: measure container-watchdog against the real Docker
# engine (BenchmarkEngine in cmd/container-watchdog/engine_bench*_test.go)
# and print one table. Every ratio's baseline is measured in the same run,
# interleaved with what it is the baseline of. Issue 12's sections run on
# one fleet of managed containers, grown through the sizes asked for:
#
#   detect  detection p50/p99, `docker rm -f` of one container at random
#           returning -> container_missing on SSE, at DETECT_SIZES managed
#           containers (10,500); and the repair of one (-> container_recreated)
#           against a bare `docker run -d` of the same container (same
#           image, labels and volume mount), timed after each repair;
#   mass    MASS (40,200) containers removed at once -> the last
#           container_recreated, against the same number of bare `docker
#           run -d` at each of MASS_PARALLELISM (1,2,4,8,16), the best taken;
#   tick    the watchdog's Tick over the bare `docker ps` it makes,
#           interleaved, at SIZES (10,100,500); then the daemon's RSS and
#           CPU over an idle window at the largest fleet;
#   sse     a tick with 1000 SSE clients against one with none (the clients
#           held by a separate process, the phases interleaved), each tick
#           paying a real `docker ps` (BenchmarkTickSubscribersApartRealPS
#           in watchdog/httpapi).
#
# Older experiments, on request: latency (polling vs events, LATENCY_SAMPLES),
# repair (REPAIR_N removed, default pool vs --repair-parallelism 1),
# removal (issue 8's repeated removals and removal loop).
#
# Unless DOCKER_HOST is set, the benchmark runs on a private dockerd of its
# own (scripts/private-dockerd.sh, stopped on exit), never on the machine's
# engine. No registry: the test image is imported from a static Go binary.
# Everything it creates is named cwb<hex>- and removed at the end. The full
# run (500 containers) takes about 45-60 minutes on 2 cores.
#
#   scripts/bench-engine.sh
#   SIZES=10 DETECT_SIZES=10 MASS=40 DETECT_SAMPLES=10 IDLE_SECONDS=10 scripts/bench-engine.sh   # quick check
#   SECTIONS=detect DETECT_SIZES=500 scripts/bench-engine.sh
#   SECTIONS=latency,repair,removal scripts/bench-engine.sh                # the older ones
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
export CW_BENCH_DETECT_SIZES=${DETECT_SIZES:-10,500}
export CW_BENCH_DETECT_SAMPLES=${DETECT_SAMPLES:-40}
export CW_BENCH_MASS=${MASS:-40,200}
export CW_BENCH_MASS_PARALLELISM=${MASS_PARALLELISM:-1,2,4,8,16}
export CW_BENCH_MASS_ROUNDS=${MASS_ROUNDS:-1}
export CW_BENCH_SECTIONS=${SECTIONS:-detect,mass,tick,sse}
SSE_COUNT=${SSE_COUNT:-5}
LOG=${LOG:-$(mktemp "${TMPDIR:-/tmp}/bench-engine.XXXXXX.log")}

if [ -z "${DOCKER_HOST:-}" ]; then
	engine_dir=${ENGINE_DIR:-/tmp/cwpe-bench-$$}
	trap 'scripts/private-dockerd.sh stop "$engine_dir"' EXIT
	echo "bench-engine: starting a private dockerd in $engine_dir" >&2
	# Never fall back to the machine's engine: no DOCKER_HOST, no benchmark.
	if ! engine_env=$(scripts/private-dockerd.sh start "$engine_dir") || [[ "$engine_env" != *DOCKER_HOST=* ]]; then
		echo "bench-engine: the private dockerd did not start" >&2
		exit 1
	fi
	eval "$engine_env"
fi

if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
	echo "bench-engine: no Docker engine answers (docker version failed)" >&2
	exit 1
fi

echo "bench-engine: running (log: $LOG)" >&2
status=0
go test -run '^$' -bench '^BenchmarkEngine$' -benchtime 1x -count 1 -timeout 180m \
	./cmd/container-watchdog/ >"$LOG" 2>&1 || status=$?

# The removal loop on the fake clock: a count, not a speed, so a unit test
# computes it (watchdog/removal_loop_test.go); its log line is the figure.
if [[ ",$CW_BENCH_SECTIONS," == *,removal,* ]]; then
	go test -run '^TestRemovalLoopRunsAtMostTenPerFiveMinutes$' -count 1 -v ./watchdog/ >>"$LOG" 2>&1 || status=$?
fi

# SSE fan-out: SSE_COUNT runs, each interleaving the two phases.
if [[ ",$CW_BENCH_SECTIONS," == *,sse,* ]]; then
	go test -run '^$' -bench '^BenchmarkTickSubscribersApartRealPS$' -benchtime 200x -count "$SSE_COUNT" \
		./watchdog/httpapi/ >>"$LOG" 2>&1 || status=$?
fi

# Raw samples, then one table: BenchmarkEngine's rows ("row<TAB>measure<TAB>
# result<TAB>goal" in the log), then the SSE row (the median run's ratio,
# with the runs' spread).
grep -E '^(engine benchmark|raw |latency:|repair:|fleet:|BenchmarkTickSubscribersApart)' "$LOG" || true
echo
{
	grep -E '^row	' "$LOG" | cut -f2- || true
	awk '
	/^BenchmarkTickSubscribersApartRealPS/ {
		for (i = 3; i < NF; i += 2) v[$(i+1)] = $i
		n++; r[n] = v["tick-ratio"]; t0[n] = v["tick-ns-0subs"]; t1[n] = v["tick-ns-1000subs"]
	}
	END {
		if (n == 0) exit
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r[j] < r[i]) {
			x = r[i]; r[i] = r[j]; r[j] = x; x = t0[i]; t0[i] = t0[j]; t0[j] = x; x = t1[i]; t1[i] = t1[j]; t1[j] = x
		}
		m = int((n + 1) / 2)
		printf "SSE: tick with 1000 clients (another process) vs none, real docker ps, interleaved, ticks 50 ms apart (median of %d runs)\t%.1f vs %.1f ms = %.3f (runs %.3f-%.3f)\t<= 1.05\n",
			n, t1[m] / 1e6, t0[m] / 1e6, r[m], r[1], r[n]
	}' "$LOG"
} | awk -F'\t' '
	{ w[NR] = $1; v[NR] = $2; g[NR] = $3; if (length($1) > a) a = length($1); if (length($2) > b) b = length($2) }
	END {
		if (NR == 0) exit
		if (a < 7) a = 7
		if (b < 6) b = 6
		printf "%-*s  %-*s  %s\n", a, "measure", b, "result", "goal"
		d1 = sprintf("%*s", a, ""); d2 = sprintf("%*s", b, ""); gsub(/ /, "-", d1); gsub(/ /, "-", d2)
		printf "%s  %s  %s\n", d1, d2, "-------------"
		for (i = 1; i <= NR; i++) printf "%-*s  %-*s  %s\n", a, w[i], b, v[i], g[i]
		print "(p99 is nearest-rank: with fewer than 100 samples it is the largest one.)"
	}'
grep -oE 'removal loop over .*' "$LOG" | sed 's/^/fake clock: /' || true
if [ "$status" -ne 0 ] || grep -qE '^(--- FAIL|FAIL)' "$LOG"; then
	echo "bench-engine: the benchmark failed; see $LOG" >&2
	tail -n 40 "$LOG" >&2
	exit 1
fi
