#!/bin/bash
# Start the Docker engine for the tests, if it is not already answering. Idempotent.
#
# The machine has only the Docker client preinstalled; the engine comes from Debian's
# docker.io package (.ci/run installs it) and there is no init system, so dockerd is started
# here, in the background, detached (setsid), with its log in $NEXUS_DOCKERD_LOG.
#
# Flags:
#   --ip 127.0.0.1   published ports (`-p 5432`, testcontainers' exposed ports) bind to
#                    loopback only, never to an outside interface. Tests talk to 127.0.0.1.
# Nothing else is needed on this sandbox (checked 2026-11, docker.io 20.10.24, kernel 6.18,
# root with full capabilities, ext4 root): the default overlay2 storage driver works, and so
# does iptables (the iptables package comes in as a docker.io dependency). So no
# --storage-driver=vfs (slow, copies whole images per container) and no --iptables=false.
# Fallback: if dockerd exits during start-up and its log blames iptables (e.g. a kernel
# without netfilter/nat), it is started once more with --iptables=false; published ports on
# 127.0.0.1 still work then, through docker-proxy (the userland proxy), which is all the tests
# need. Extra flags can be given in NEXUS_DOCKERD_ARGS.
set -euo pipefail

LOG="${NEXUS_DOCKERD_LOG:-/var/log/nexus-dockerd.log}"
TIMEOUT="${NEXUS_DOCKERD_TIMEOUT:-30}"
PIDFILE=/var/run/docker.pid

die() { echo "start-dockerd: $*" >&2; exit 1; }
docker_ok() { timeout 10 docker info >/dev/null 2>&1; }
# Process $1 exists and is not a zombie (a killed dockerd can linger as one until reaped).
alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

if docker_ok; then
	exit 0
fi

command -v docker >/dev/null || die "docker client not found (apt-get install docker.io)"
command -v dockerd >/dev/null || die "dockerd not found (apt-get install docker.io)"
[ "$(id -u)" = 0 ] || die "must run as root to start dockerd"

# Two concurrent callers must not both start a dockerd: serialise, then look again.
exec 9>/run/nexus-start-dockerd.lock
flock -w $((TIMEOUT * 2)) 9 || die "another start-dockerd.sh holds /run/nexus-start-dockerd.lock"
if docker_ok; then
	exit 0
fi

# Wait until `docker info` answers, or dockerd $1 exits, or TIMEOUT seconds pass.
# Returns 0 = up, 1 = process exited, 2 = timed out.
wait_up() {
	local pid="$1" deadline=$((SECONDS + TIMEOUT))
	while [ "$SECONDS" -lt "$deadline" ]; do
		docker_ok && return 0
		alive "$pid" || { docker_ok && return 0; return 1; }
		sleep 0.25
	done
	docker_ok && return 0
	return 2
}

# A dockerd may already be starting (pid file names a live dockerd): wait for it instead of
# starting a second one. A pid file left by a killed dockerd would make a new one refuse to
# start ("pid file found, ensure docker is not running"): remove it.
if [ -s "$PIDFILE" ]; then
	old_pid="$(cat "$PIDFILE")"
	if [ "$(cat "/proc/$old_pid/comm" 2>/dev/null || true)" = dockerd ] && alive "$old_pid"; then
		echo "start-dockerd: dockerd (pid $old_pid) already running, waiting for it to answer ..."
		rc=0
		wait_up "$old_pid" || rc=$?
		[ "$rc" = 0 ] && { echo "start-dockerd: dockerd is up"; exit 0; }
		[ "$rc" = 2 ] && die "dockerd (pid $old_pid) is running but 'docker info' does not answer after ${TIMEOUT}s; see $LOG"
		echo "start-dockerd: dockerd (pid $old_pid) exited; starting a new one"
	fi
	rm -f "$PIDFILE"
fi

start_dockerd() {
	echo "=== $(date -u '+%Y-%m-%dT%H:%M:%SZ') start-dockerd: dockerd $*" >>"$LOG"
	# shellcheck disable=SC2086  # NEXUS_DOCKERD_ARGS is a list of flags
	setsid dockerd "$@" ${NEXUS_DOCKERD_ARGS:-} </dev/null >>"$LOG" 2>&1 9>&- &
	DOCKERD_PID=$!
}

args=(--ip 127.0.0.1)
mkdir -p "$(dirname "$LOG")"
touch "$LOG"
log_start=$(($(wc -l <"$LOG") + 1))
start_dockerd "${args[@]}"
rc=0
wait_up "$DOCKERD_PID" || rc=$?

if [ "$rc" = 1 ] && tail -n +"$log_start" "$LOG" | grep -qi iptables; then
	echo "start-dockerd: dockerd failed on iptables; retrying with --iptables=false (see $LOG)" >&2
	args+=(--iptables=false)
	rm -f "$PIDFILE"
	start_dockerd "${args[@]}"
	rc=0
	wait_up "$DOCKERD_PID" || rc=$?
fi

case "$rc" in
	0) echo "start-dockerd: dockerd is up (pid $DOCKERD_PID, flags: ${args[*]} ${NEXUS_DOCKERD_ARGS:-}, log $LOG)" ;;
	1) die "dockerd exited during start-up: $(tail -n 1 "$LOG" | cut -c1-300) (full log: $LOG)" ;;
	*) die "dockerd (pid $DOCKERD_PID) did not answer 'docker info' within ${TIMEOUT}s (log: $LOG)" ;;
esac
