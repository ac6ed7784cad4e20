#!/bin/sh
# bench-notify.sh: what notification sinks cost the tick (BenchmarkTickNotify
# in watchdog/notify): the real Watcher and registry at 100 events a second,
# with no sink and with 5 webhook sinks (4 answering, 1 hanging), ticking
# alternately; a Sender runs on each. Prints mean tick times and ratios.
#
#   scripts/bench-notify.sh              # 300 ticks each, 3 runs (~2 min a kind)
#   TICKS=100x COUNT=1 scripts/bench-notify.sh
#
# Kinds: "scripted" (an instant docker ps: registry work only), "busy" (the
# same with a 1 s burst window, so the sender delivers all the time), and
# "real ps" (each listing also runs a real `docker ps`; needs an engine).
set -eu
cd "$(dirname "$0")/.."
TICKS=${TICKS:-300x}
COUNT=${COUNT:-3}
out=$(go test -run '^$' -bench '^BenchmarkTickNotify(Busy|RealPS)?$' -benchtime "$TICKS" -count "$COUNT" ./watchdog/notify/)
echo "$out" | grep -E '^(goos|goarch|cpu|Benchmark)' || true
echo
echo "$out" | awk '
/^BenchmarkTickNotify/ {
	for (i = 3; i < NF; i += 2) v[$(i+1)] = $i
	n++
	kind = ($1 ~ /RealPS/) ? "real ps" : ($1 ~ /Busy/) ? "busy" : "scripted"
	printf "%s%-9s %12.3f %12.3f %8.3f %10.3f\n",
		(n == 1 ? sprintf("%-9s %12s %12s %8s %10s\n", "listing", "tick ms 0", "tick ms 5", "ratio", "p50 ratio") : ""),
		kind, v["tick-ns-0sinks"]/1e6, v["tick-ns-5sinks"]/1e6, v["tick-ratio"], v["tick-ratio-p50"]
}
END { if (n == 0) { print "no benchmark result" > "/dev/stderr"; exit 1 } }'
