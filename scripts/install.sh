#!/usr/bin/env bash
# Install container-watchdog: the binary, its systemd units and its journald
# message catalog; then, on a machine where systemd is PID 1, enable and
# start the socket and the service.
#
#   scripts/install.sh                      build from this checkout, install, start
#   scripts/install.sh --binary PATH        install a binary built elsewhere
#   scripts/install.sh --no-start           install and daemon-reload, start nothing
#   scripts/install.sh --prefix DIR         staged install under DIR (for packaging)
#   DESTDIR=DIR scripts/install.sh          the same
#
# A staged install (--prefix/DESTDIR) only lays files out under DIR: it never
# talks to systemctl or journalctl and touches nothing outside DIR.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/install.sh [--binary PATH] [--prefix DIR | --destdir DIR] [--no-start]

Installs:
  <root>/usr/local/bin/container-watchdog
  <root>/etc/systemd/system/container-watchdog.service
  <root>/etc/systemd/system/container-watchdog.socket
  <root>/usr/lib/systemd/catalog/container-watchdog.catalog
where <root> is / unless staged.

Options:
  --binary PATH            install this binary instead of building one (go build)
  --prefix DIR, --destdir DIR
                           staged install: put everything under DIR (as DESTDIR=DIR
                           does) and start nothing
  --no-start               do not enable or start the units
  --audit                  also install the auditd rules that record who runs
                           docker (<root>/etc/audit/rules.d/) and load them
                           with augenrules when auditd is there
  -h, --help               this text

On a live install where systemd is PID 1 (systemctl is-system-running answers)
it runs journalctl --update-catalog, systemctl daemon-reload, then enables and
starts container-watchdog.socket and container-watchdog.service (the service
so the watchdog ticks from boot on, not only once a client connects).
Elsewhere (a container, a chroot) it installs the files and says so.
EOF
}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
binary=""
destdir="${DESTDIR:-}"
start=1
audit=0

while [ $# -gt 0 ]; do
	case "$1" in
	--binary) [ $# -ge 2 ] || { echo "install.sh: --binary needs a path" >&2; exit 2; }; binary=$2; shift 2 ;;
	--binary=*) binary=${1#*=}; shift ;;
	--prefix | --destdir) [ $# -ge 2 ] || { echo "install.sh: $1 needs a folder" >&2; exit 2; }; destdir=$2; shift 2 ;;
	--prefix=* | --destdir=*) destdir=${1#*=}; shift ;;
	--no-start) start=0; shift ;;
	--audit) audit=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "install.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
	esac
done

if [ -n "$destdir" ]; then
	case "$destdir" in
	/*) ;;
	*) destdir="$PWD/$destdir" ;;
	esac
	destdir=${destdir%/}
	if [ -z "$destdir" ]; then
		echo "install.sh: --prefix/DESTDIR / is a live install; leave it out instead" >&2
		exit 2
	fi
fi

if [ -z "$destdir" ] && [ "$(id -u)" -ne 0 ]; then
	echo "install.sh: a live install writes to /usr/local, /etc and /usr/lib: run it as root (or stage it with --prefix DIR)" >&2
	exit 1
fi

for f in container-watchdog.service container-watchdog.socket container-watchdog.catalog; do
	[ -f "$repo/units/$f" ] || { echo "install.sh: missing $repo/units/$f" >&2; exit 1; }
done

tmp=""
cleanup() { if [ -n "$tmp" ]; then rm -rf "$tmp"; fi; }
trap cleanup EXIT

if [ -z "$binary" ]; then
	command -v go >/dev/null || { echo "install.sh: no go on PATH to build with; pass --binary PATH" >&2; exit 1; }
	tmp=$(mktemp -d)
	binary="$tmp/container-watchdog"
	echo "building container-watchdog"
	# cgo is needed by the SQLite driver.
	(cd "$repo" && CGO_ENABLED=1 go build -trimpath -o "$binary" ./cmd/container-watchdog)
fi
[ -f "$binary" ] && [ -x "$binary" ] || { echo "install.sh: $binary is not an executable file" >&2; exit 1; }
"$binary" version >/dev/null || { echo "install.sh: $binary does not run (version failed)" >&2; exit 1; }

bindir="$destdir/usr/local/bin"
unitdir="$destdir/etc/systemd/system"
catalogdir="$destdir/usr/lib/systemd/catalog"

install -d -m 0755 "$bindir" "$unitdir" "$catalogdir"
# Install under a temporary name then rename, so a running daemon's binary
# is replaced atomically (a restart picks up the new one).
install -m 0755 "$binary" "$bindir/.container-watchdog.new"
mv -f "$bindir/.container-watchdog.new" "$bindir/container-watchdog"
install -m 0644 "$repo/units/container-watchdog.service" "$unitdir/container-watchdog.service"
install -m 0644 "$repo/units/container-watchdog.socket" "$unitdir/container-watchdog.socket"
install -m 0644 "$repo/units/container-watchdog.catalog" "$catalogdir/container-watchdog.catalog"
echo "installed $bindir/container-watchdog"
echo "installed $unitdir/container-watchdog.service and .socket"
echo "installed $catalogdir/container-watchdog.catalog"
if [ "$audit" -eq 1 ]; then
	auditdir="$destdir/etc/audit/rules.d"
	install -d -m 0750 "$auditdir"
	install -m 0640 "$repo/units/container-watchdog.audit.rules" "$auditdir/container-watchdog.rules"
	echo "installed $auditdir/container-watchdog.rules"
	if [ -z "$destdir" ]; then
		if command -v augenrules >/dev/null; then
			augenrules --load || echo "install.sh: augenrules --load failed; load the rules by hand" >&2
		else
			echo "install.sh: auditd is not installed (apt-get install auditd); the rules load when it is" >&2
		fi
	fi
fi

if [ -n "$destdir" ]; then
	echo "staged install under $destdir: nothing reloaded or started"
	exit 0
fi

if command -v journalctl >/dev/null; then
	journalctl --update-catalog || echo "install.sh: journalctl --update-catalog failed; journalctl -x will lack the explanations" >&2
fi

# systemd is the service manager only if it answers; "offline" (or nothing)
# means it is not PID 1 here (a container, a chroot, a build machine).
state=$(systemctl is-system-running 2>/dev/null || true)
case "$state" in
running | degraded | starting | initializing | maintenance)
	systemctl daemon-reload
	if [ "$start" -eq 1 ]; then
		systemctl enable --now container-watchdog.socket
		systemctl enable --now container-watchdog.service
		systemctl --no-pager --lines=0 status container-watchdog.service || true
	else
		echo "--no-start: units installed and loaded, not enabled or started"
	fi
	;;
*)
	echo "systemd is not running as the service manager here (systemctl is-system-running: ${state:-no answer}):"
	echo "files installed; run 'systemctl daemon-reload && systemctl enable --now container-watchdog.socket container-watchdog.service' on a systemd host"
	;;
esac
