#!/bin/bash
# Entrypoint of the locally built test image nexus-postgres-test:15
# (built by scripts/build-test-image.sh, installed as /usr/local/bin/docker-entrypoint.sh).
#
# Behaves like the entrypoint of the official `postgres` image, as far as the
# tests (testcontainers' PostgresContainer) rely on it:
#   POSTGRES_USER      superuser name            (default: postgres)
#   POSTGRES_PASSWORD  superuser password        (required unless POSTGRES_HOST_AUTH_METHOD=trust)
#   POSTGRES_DB        database created at init  (default: $POSTGRES_USER)
#   POSTGRES_INITDB_ARGS        extra initdb arguments
#   POSTGRES_HOST_AUTH_METHOD   pg_hba method for remote hosts (default: scram-sha-256)
#   /docker-entrypoint-initdb.d/*.sh|*.sql  run once after initdb
# Arguments: CMD is "postgres"; arguments starting with "-" are passed to the server,
# e.g. `-c shared_preload_libraries=pg_stat_statements -c track_io_timing=on`.
# Anything else is exec'd as-is (e.g. `bash`).
#
# The server is exec'd (no wrapper process) as the postgres OS user, so it is PID 1 and
# receives `docker stop`'s signal directly (the image's STOPSIGNAL is SIGINT = fast shutdown).
set -Eeuo pipefail

export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
export PATH="/usr/lib/postgresql/15/bin:$PATH"

log() { printf '%s [entrypoint] %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$*" >&2; }

# `docker run IMAGE -c foo=bar` -> `postgres -c foo=bar`
if [ "${1:-}" = "" ] || [ "${1:0:1}" = "-" ]; then
	set -- postgres "$@"
fi

if [ "$1" != "postgres" ]; then
	exec "$@"
fi

# --- as root: prepare directories, then re-exec this script as the postgres user ---------
if [ "$(id -u)" = '0' ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown -R postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	chmod 2775 /var/run/postgresql
	# setpriv (util-linux, always present) execs directly: no extra process stays around.
	exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

# --- as postgres ---------------------------------------------------------------------------
POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_PASSWORD="${POSTGRES_PASSWORD:-}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
POSTGRES_HOST_AUTH_METHOD="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
POSTGRES_INITDB_ARGS="${POSTGRES_INITDB_ARGS:-}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != 'trust' ]; then
		log "error: database is uninitialized and POSTGRES_PASSWORD is not set (set it, or POSTGRES_HOST_AUTH_METHOD=trust)"
		exit 1
	fi

	log "initdb: superuser '$POSTGRES_USER', PGDATA $PGDATA"
	initdb_args=(
		--username="$POSTGRES_USER"
		--auth-local=trust
		--auth-host="$POSTGRES_HOST_AUTH_METHOD"
		--encoding=UTF8
		--locale=C.UTF-8
	)
	if [ -n "$POSTGRES_PASSWORD" ]; then
		# The password goes through a pipe (/dev/fd/N), never on a command line.
		# shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is meant to be word-split
		initdb "${initdb_args[@]}" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") $POSTGRES_INITDB_ARGS >&2
	else
		# shellcheck disable=SC2086
		initdb "${initdb_args[@]}" $POSTGRES_INITDB_ARGS >&2
	fi

	{
		echo
		echo "# added by docker-entrypoint.sh"
		echo "listen_addresses = '*'"
	} >> "$PGDATA/postgresql.conf"
	{
		echo
		echo "# added by docker-entrypoint.sh: any address, password required"
		echo "host all all all $POSTGRES_HOST_AUTH_METHOD"
	} >> "$PGDATA/pg_hba.conf"

	# Temporary server on the Unix socket only, so readiness checks over TCP
	# (testcontainers runs psql --host 127.0.0.1) cannot succeed before init is done.
	pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -p 5432" start >&2

	psql_cmd=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres)
	if [ "$POSTGRES_DB" != 'postgres' ]; then
		log "creating database '$POSTGRES_DB'"
		"${psql_cmd[@]}" -q --set db="$POSTGRES_DB" <<-'EOSQL'
			CREATE DATABASE :"db";
		EOSQL
	fi

	if [ -d /docker-entrypoint-initdb.d ]; then
		for f in /docker-entrypoint-initdb.d/*; do
			case "$f" in
				*.sh)
					log "running $f"
					# shellcheck disable=SC1090  # user-provided init scripts
					. "$f"
					;;
				*.sql) log "running $f"; "${psql_cmd[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
				*) ;;
			esac
		done
	fi

	pg_ctl -D "$PGDATA" -m fast -w stop >&2
	log "init done; starting server"
fi

unset POSTGRES_PASSWORD
exec "$@"
