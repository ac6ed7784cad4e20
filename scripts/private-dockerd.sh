#!/usr/bin/env bash
# private-dockerd.sh: a docker engine of our own, for tests and benchmarks
# that must not depend on (or disturb) the machine's engine.
#
#   eval "$(scripts/private-dockerd.sh start /tmp/cw-engine)"   # exports DOCKER_HOST
#   scripts/private-dockerd.sh stop /tmp/cw-engine
#
# dockerd runs in a network namespace of its own (never the host's: a
# dockerd there with --bridge=none once deleted the machine's docker0
# bridge), with its data root, exec root, socket, pid file and cgroup
# parent under DIR (a short path: the socket's must fit in 108 bytes), on
# fuse-overlayfs. The machine's own engine is never stopped, restarted or
# reconfigured. `stop` ends it by its pid, removes its containers first,
# and then DIR with every mount under it.
set -euo pipefail

cmd=${1:?usage: private-dockerd.sh start|stop DIR}
dir=${2:?usage: private-dockerd.sh start|stop DIR}

start() {
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	# Only the storage driver: the machine's daemon.json may set a data
	# root, which would clash with --data-root.
	echo '{"storage-driver": "fuse-overlayfs"}' >"$dir/daemon.json"
	local cg
	cg="cw-private-$(basename "$dir")"
	unshare --net --fork --kill-child sh -c \
		'ip link set lo up && exec dockerd --config-file "$1/daemon.json" --host "unix://$1/docker.sock" --data-root "$1/root" --exec-root "$1/exec" --pidfile "$1/docker.pid" --iptables=false --cgroup-parent "/$2"' \
		sh "$dir" "$cg" >"$dir/dockerd.log" 2>&1 &
	echo $! >"$dir/unshare.pid"
	for _ in $(seq 1 120); do
		if DOCKER_HOST="unix://$dir/docker.sock" timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
			echo "export DOCKER_HOST=unix://$dir/docker.sock"
			return 0
		fi
		kill -0 "$(cat "$dir/unshare.pid")" 2>/dev/null || break
		sleep 0.5
	done
	echo "private-dockerd: dockerd did not answer; its log:" >&2
	tail -30 "$dir/dockerd.log" >&2 || true
	stop
	return 1
}

stop() {
	[ -d "$dir" ] || return 0
	export DOCKER_HOST="unix://$dir/docker.sock"
	if timeout 10 docker version >/dev/null 2>&1; then
		ids=$(timeout 60 docker ps -aq || true)
		[ -z "$ids" ] || timeout 120 docker rm -f $ids >/dev/null 2>&1 || true
		vols=$(timeout 60 docker volume ls -q || true)
		[ -z "$vols" ] || timeout 60 docker volume rm -f $vols >/dev/null 2>&1 || true
	fi
	if [ -s "$dir/docker.pid" ]; then
		kill "$(cat "$dir/docker.pid")" 2>/dev/null || true
	fi
	if [ -s "$dir/unshare.pid" ]; then
		up=$(cat "$dir/unshare.pid")
		for _ in $(seq 1 60); do kill -0 "$up" 2>/dev/null || break; sleep 1; done
		kill -9 "$up" 2>/dev/null || true
	fi
	# Whatever dockerd left mounted under DIR (fuse-overlayfs, shm, netns).
	{ grep -o " $dir/[^ ]*" /proc/self/mounts || true; } | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf "$dir"
	cg="cw-private-$(basename "$dir")"
	for root in /sys/fs/cgroup/unified /sys/fs/cgroup /sys/fs/cgroup/*; do
		[ -d "$root/$cg" ] && find "$root/$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
}

case "$cmd" in
start) start ;;
stop) stop ;;
*)
	echo "usage: private-dockerd.sh start|stop DIR" >&2
	exit 2
	;;
esac
