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

if ! timeout 20 docker info >/dev/null 2>&1; then
	need_pkg dockerd docker.io
	need_pkg docker docker.io
	echo "ci-setup: no docker engine answers; starting dockerd" >&2
	dockerd >"${pidfile%.pid}.log" 2>&1 &
	echo $! >"$pidfile"
	for _ in $(seq 1 60); do
		timeout 5 docker info >/dev/null 2>&1 && break
		sleep 1
	done
	if ! timeout 10 docker info >/dev/null 2>&1; then
		echo "ci-setup: dockerd did not come up; its log:" >&2
		tail -50 "${pidfile%.pid}.log" >&2 || true
		exit 1
	fi
fi
echo "ci-setup: docker $(docker version --format '{{.Server.Version}}'), $(go version), $(staticcheck -version)"
