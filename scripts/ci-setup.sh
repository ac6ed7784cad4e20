#!/usr/bin/env bash
# Brings a fresh machine to where the whole test suite can run: a docker
# engine that answers, staticcheck, the systemd/journald binaries the
# real-component tests use, chromium (the dashboard's browser test),
# promtool (the alert rules) and what the chaos suite's private dockerd
# needs. Safe to run again: it only adds what is missing.
# A dockerd it starts writes its pid to $CW_DOCKERD_PIDFILE (for the caller
# to stop) and its log next to it.
set -euo pipefail

export PATH="/usr/local/go/bin:${HOME}/go/bin:${PATH}"
pidfile=${CW_DOCKERD_PIDFILE:-/tmp/container-watchdog-ci-dockerd.pid}
apt_updated=

need_pkg() { # need_pkg COMMAND PACKAGE: install PACKAGE when COMMAND is absent
	command -v "$1" >/dev/null 2>&1 && return 0
	if [ -z "$apt_updated" ]; then
		apt-get update -qq
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

need_pkg gcc gcc                       # go-sqlite3 needs cgo
need_pkg unshare util-linux
need_pkg nsenter util-linux
need_pkg journalctl systemd
need_pkg systemd-socket-activate systemd
[ -x /lib/systemd/systemd-journald ] || need_pkg /lib/systemd/systemd-journald systemd
need_pkg chromium chromium             # the dashboard's browser test (chromedp)
need_pkg promtool prometheus           # promtool checks and tests the alert rules
# The chaos suite (cmd/container-watchdog/chaos) restarts a dockerd of its
# own, in a network namespace of its own, on fuse-overlayfs; it never
# touches the machine's engine.
need_pkg dockerd docker.io
need_pkg ip iproute2
need_pkg fuse-overlayfs fuse-overlayfs

if ! command -v staticcheck >/dev/null 2>&1; then
	go install honnef.co/go/tools/cmd/staticcheck@v0.8.2 # release 2026.2.2; the proxy serves only the module version
fi

engine_answers() { timeout 20 docker info >/dev/null 2>&1; }

# The machine's own engine may still be starting when CI begins (its
# dockerd is started before the session, and a busy first boot has been
# seen to take more than 20 s): while the process named by its pid file
# lives, wait for it rather than start a second one (which fails on that
# pid file). Only with no live engine does this start one.
if ! engine_answers; then
	need_pkg dockerd docker.io
	need_pkg docker docker.io
	machine_pid=$(cat /var/run/docker.pid 2>/dev/null || true)
	if [ -n "$machine_pid" ] && kill -0 "$machine_pid" 2>/dev/null; then
		echo "ci-setup: the machine's dockerd (pid $machine_pid) does not answer yet; waiting for it" >&2
		for _ in $(seq 1 36); do
			engine_answers && break
			sleep 5
		done
	else
		echo "ci-setup: no docker engine answers; starting dockerd" >&2
		# A stale pid file (the engine died) would stop dockerd from starting.
		[ -z "$machine_pid" ] || rm -f /var/run/docker.pid
		dockerd >"${pidfile%.pid}.log" 2>&1 &
		echo $! >"$pidfile"
		for _ in $(seq 1 60); do
			engine_answers && break
			sleep 1
		done
	fi
fi
# The real-engine tests run on a private dockerd that .ci/run starts (see
# scripts/private-dockerd.sh); the machine's engine is only the fallback,
# so its absence is reported here and decided there.
if ! engine_answers; then
	echo "ci-setup: warning: the machine's docker engine does not answer" >&2
	[ ! -s "$pidfile" ] || tail -50 "${pidfile%.pid}.log" >&2 || true
else
	echo "ci-setup: docker $(docker version --format '{{.Server.Version}}')"
fi
echo "ci-setup: $(go version), $(staticcheck -version)"
