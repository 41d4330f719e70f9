#!/bin/bash
# Build the local PostgreSQL 15 test image (default tag nexus-postgres-test:15).
#
# No container registry is reachable here, so the image is made from a Debian rootfs:
#   debootstrap --variant=minbase --include=postgresql-15 bookworm ROOTFS
#   + scripts/pg-entrypoint.sh as /usr/local/bin/docker-entrypoint.sh
#   tar | docker import (ENTRYPOINT/CMD/ENV/STOPSIGNAL set with -c)
# The entrypoint mimics the official postgres image (POSTGRES_USER/PASSWORD/DB,
# `-c name=value` server arguments), which is what testcontainers' PostgresContainer needs.
#
# Usage: scripts/build-test-image.sh [TAG]
#   Exits 0 at once if TAG exists and was built from the same recipe (a label holds the
#   sha256 of this script and of pg-entrypoint.sh). NEXUS_REBUILD_IMAGE=1 forces a rebuild.
# Needs root, debootstrap and a running dockerd (scripts/start-dockerd.sh).
set -euo pipefail

TAG="${1:-nexus-postgres-test:15}"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ENTRYPOINT_SRC="$SCRIPT_DIR/pg-entrypoint.sh"
PG_MAJOR=15
SUITE=bookworm

die() { echo "build-test-image: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f s", b - a }'; }

[ -f "$ENTRYPOINT_SRC" ] || die "missing $ENTRYPOINT_SRC"
RECIPE="$(cat "${BASH_SOURCE[0]}" "$ENTRYPOINT_SRC" | sha256sum | cut -c1-16)"

OLD_ID="$(docker image inspect -f '{{ .Id }}' "$TAG" 2>/dev/null || true)"
if [ "${NEXUS_REBUILD_IMAGE:-0}" != 1 ] && [ -n "$OLD_ID" ]; then
	have="$(docker image inspect -f '{{ index .Config.Labels "nexus.recipe" }}' "$TAG" 2>/dev/null || true)"
	if [ "$have" = "$RECIPE" ]; then
		echo "build-test-image: $TAG already present (recipe $RECIPE), skipping build"
		exit 0
	fi
	echo "build-test-image: $TAG present but built from another recipe ('$have' != '$RECIPE'): rebuilding"
fi

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap)"
command -v debootstrap >/dev/null || die "debootstrap not installed (apt-get install debootstrap)"
docker info >/dev/null 2>&1 || die "docker daemon not reachable (run scripts/start-dockerd.sh)"

WORK="$(mktemp -d /var/tmp/nexus-pg-image.XXXXXX)"
ROOTFS="$WORK/rootfs"
LOG="$WORK/debootstrap.log"

cleanup() {
	# debootstrap mounts proc/sys inside the target and may leave them mounted if it fails:
	# unmount everything below $WORK (deepest first) before deleting anything.
	if [ -d "$WORK" ]; then
		awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r |
			while read -r m; do umount -l "$m" 2>/dev/null || true; done
		rm -rf --one-file-system "$WORK"
	fi
}
trap cleanup EXIT

t0="$(now)"
echo "build-test-image: debootstrap $SUITE + postgresql-$PG_MAJOR into $ROOTFS (log: $LOG) ..."
if ! debootstrap --variant=minbase --include="postgresql-$PG_MAJOR" "$SUITE" "$ROOTFS" >"$LOG" 2>&1; then
	tail -n 30 "$LOG" >&2
	[ -f "$ROOTFS/debootstrap/debootstrap.log" ] && tail -n 30 "$ROOTFS/debootstrap/debootstrap.log" >&2
	die "debootstrap failed"
fi
t1="$(now)"
echo "build-test-image: debootstrap took $(elapsed "$t0" "$t1")"

# --- customise the rootfs ---------------------------------------------------------------------
# Debian's postinst created a default cluster (15/main): not used, PGDATA is our own.
rm -rf "$ROOTFS/var/lib/postgresql/$PG_MAJOR" "$ROOTFS/etc/postgresql/$PG_MAJOR"
install -m 0755 "$ENTRYPOINT_SRC" "$ROOTFS/usr/local/bin/docker-entrypoint.sh"
mkdir -p "$ROOTFS/var/lib/postgresql/data" "$ROOTFS/var/run/postgresql" "$ROOTFS/docker-entrypoint-initdb.d"
chroot "$ROOTFS" chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
chmod 700 "$ROOTFS/var/lib/postgresql/data"
chmod 2775 "$ROOTFS/var/run/postgresql"

# Sanity checks: the server, psql and the contrib extension must be there.
for f in "usr/lib/postgresql/$PG_MAJOR/bin/postgres" "usr/lib/postgresql/$PG_MAJOR/bin/initdb" \
	"usr/lib/postgresql/$PG_MAJOR/bin/psql" "usr/lib/postgresql/$PG_MAJOR/lib/pg_stat_statements.so" \
	"usr/share/postgresql/$PG_MAJOR/extension/pg_stat_statements.control" "usr/bin/setpriv"; do
	[ -e "$ROOTFS/$f" ] || die "rootfs lacks /$f"
done
PG_VERSION="$(chroot "$ROOTFS" "/usr/lib/postgresql/$PG_MAJOR/bin/postgres" --version | awk '{ print $3 }')"

# Make it small: package caches and lists, docs, man pages, message catalogues, logs.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/cache/apt/*.bin \
	"$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* \
	"$ROOTFS"/usr/share/info/* "$ROOTFS"/usr/share/locale/* "$ROOTFS"/var/log/* \
	"$ROOTFS"/var/cache/debconf/*-old "$ROOTFS"/tmp/* "$ROOTFS"/debootstrap
t2="$(now)"
echo "build-test-image: rootfs customised ($(du -sh --one-file-system "$ROOTFS" | cut -f1)) in $(elapsed "$t1" "$t2")"

# --- import -------------------------------------------------------------------------------------
PATH_IN_IMAGE="/usr/lib/postgresql/$PG_MAJOR/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# No VOLUME: data stays in the container layer, so removing a container leaves no
# anonymous volume behind.
tar --numeric-owner --one-file-system -C "$ROOTFS" -c . |
	docker import \
		-c 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
		-c 'CMD ["postgres"]' \
		-c "ENV PATH=$PATH_IN_IMAGE" \
		-c 'ENV LANG=C.UTF-8' \
		-c "ENV PG_MAJOR=$PG_MAJOR" \
		-c "ENV PG_VERSION=$PG_VERSION" \
		-c 'ENV PGDATA=/var/lib/postgresql/data' \
		-c 'EXPOSE 5432' \
		-c "LABEL org.opencontainers.image.description=\"PostgreSQL $PG_VERSION (Debian $SUITE) for Nexus Workbook tests\"" \
		-m "debootstrap $SUITE + postgresql-$PG_MAJOR $PG_VERSION" \
		- "$TAG" >/dev/null
# STOPSIGNAL SIGINT = PostgreSQL "fast" shutdown (as in the official image): `docker stop`
# ends the server at once even with clients connected (SIGTERM = "smart" shutdown waits for
# them). `docker import -c` rejects STOPSIGNAL on this engine (20.10), so it is set by a
# one-line build on top of the imported image (legacy builder: no BuildKit/buildx needed,
# nothing pulled, no new layer). The recipe label is set here, last, so an interrupted build
# never looks complete to the skip check above.
if ! build_out="$(printf 'FROM %s\nSTOPSIGNAL SIGINT\nLABEL nexus.recipe=%s\n' "$TAG" "$RECIPE" |
	DOCKER_BUILDKIT=0 docker build -q -t "$TAG" - 2>&1)"; then
	echo "$build_out" >&2
	die "docker build (STOPSIGNAL step) failed"
fi
t3="$(now)"
# The image this one replaces would be left dangling (hundreds of MB): remove it unless in use.
if [ -n "$OLD_ID" ] && [ "$OLD_ID" != "$(docker image inspect -f '{{ .Id }}' "$TAG")" ]; then
	docker rmi "$OLD_ID" >/dev/null 2>&1 || echo "build-test-image: could not remove the previous image $OLD_ID (in use?)"
fi
echo "build-test-image: docker import + STOPSIGNAL step took $(elapsed "$t2" "$t3")"
echo "build-test-image: built $TAG (PostgreSQL $PG_VERSION, $(docker image inspect -f '{{ .Size }}' "$TAG" | awk '{ printf "%.0f MB", $1 / 1e6 }')) in $(elapsed "$t0" "$t3") total"
