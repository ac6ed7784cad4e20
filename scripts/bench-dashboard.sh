#!/bin/sh
# bench-dashboard.sh: what /metrics and the dashboard cost, as three tables.
#
#   - one /metrics scrape at 500 instances (BenchmarkScrape500);
#   - tick time with and without a scraper GETting /metrics 10 times a
#     second, in alternating blocks of the same run (BenchmarkTickWithScrapes,
#     scripted `docker ps` of 500 containers; with a docker engine also
#     ...RealPS, each listing paying a real `docker ps`);
#   - the page in Debian's chromium (BenchmarkDashboard1000): first render of
#     1,000 rows against an empty page as the baseline, the JavaScript heap,
#     and 10,000 streamed events: time to show them, main-thread time
#     (chromium's thread clock), longest task.
#
#   scripts/bench-dashboard.sh                    # about 1-2 minutes
#   COUNT=5 scripts/bench-dashboard.sh
#
# Needs chromium (scripts/ci-setup.sh installs it). On a shared machine,
# compare the ratios rather than the absolute numbers.
set -eu
cd "$(dirname "$0")/.."
COUNT=${COUNT:-3}

out=$(go test -run '^$' -bench '^BenchmarkScrape500$' -benchtime 2s -count "$COUNT" ./watchdog/metrics/)
echo "$out" | grep -E '^(goos|goarch|cpu)' || true
echo
echo "$out" | awk '
/^BenchmarkScrape500/ {
	for (i = 3; i < NF; i += 2) v[$(i+1)] = $i
	n++
	printf "%s%-4s %10.3f %12.0f %10.0f %9.0f\n",
		(n == 1 ? sprintf("%-4s %10s %12s %10s %9s\n", "run", "scrape ms", "bytes/scrape", "B/op", "allocs") : ""),
		n, v["ns/op"]/1e6, v["bytes/scrape"], v["B/op"], v["allocs/op"]
}
END { if (n == 0) { print "no scrape result" > "/dev/stderr"; exit 1 } }'

out=$(go test -run '^$' -bench '^BenchmarkTickWithScrapes(RealPS)?$' -benchtime 400x -count "$COUNT" ./watchdog/metrics/)
echo
echo "$out" | awk '
/^BenchmarkTickWithScrapes/ {
	for (i = 3; i < NF; i += 2) v[$(i+1)] = $i
	n++
	kind = ($1 ~ /RealPS/) ? "real ps" : "scripted"
	printf "%s%-9s %12.3f %14.3f %8.3f %8.0f\n",
		(n == 1 ? sprintf("%-9s %12s %14s %8s %8s\n", "listing", "tick ms bare", "tick ms scraped", "ratio", "scrapes") : ""),
		kind, v["tick-ns-bare"]/1e6, v["tick-ns-scraped"]/1e6, v["tick-ratio"], v["scrapes"]
}
END { if (n == 0) { print "no tick result" > "/dev/stderr"; exit 1 } }'

out=$(go test -run '^$' -bench '^BenchmarkDashboard1000$' -benchtime 1x -count "$COUNT" ./cmd/container-watchdog/)
echo
echo "$out" | awk '
/^BenchmarkDashboard1000/ {
	for (i = 3; i < NF; i += 2) v[$(i+1)] = $i
	n++
	printf "%s%-4s %8.0f %9.0f %6.2f %8.2f %9.2f %9.2f %8.0f %8.0f %8.0f %8.0f\n",
		(n == 1 ? sprintf("%-4s %8s %9s %6s %8s %9s %9s %8s %8s %8s %8s\n", "run", "render0", "render1k", "ratio",
			"heap0 MB", "heap1k MB", "heap+10k", "10k ms", "main ms", "layout", "longest") : ""),
		n, v["render-ms-0"], v["render-ms-1000"], v["render-ratio"], v["heap-MB-0"], v["heap-MB-1000"],
		v["heap-MB-after-10k"], v["10k-events-ms"], v["10k-main-ms"], v["10k-layout-style-ms"], v["longest-task-ms"]
}
END { if (n == 0) { print "no page result" > "/dev/stderr"; exit 1 } }'
