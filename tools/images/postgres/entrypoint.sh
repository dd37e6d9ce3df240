#!/bin/sh
# The entrypoint of the rig's PostgreSQL image (Debian's PostgreSQL 15), with the environment contract of
# the official image's docker-entrypoint.sh that charts/apisnoop relies on: POSTGRES_USER (default
# postgres), POSTGRES_PASSWORD (required on first start), POSTGRES_DB (default: the user), PGDATA. A first
# start initialises PGDATA (scram-sha-256 for every host, UTF8, C locale) and creates the database; later
# starts find PG_VERSION and only start the server. Runs as the postgres user (uid 70), never as root.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
export PGDATA

if [ "$(id -u)" = 0 ]; then
  echo "postgres entrypoint: run as the postgres user (uid 70), not root" >&2
  exit 1
fi
case "$POSTGRES_DB" in
  *[!A-Za-z0-9_]* | [0-9]*)
    echo "postgres entrypoint: POSTGRES_DB '$POSTGRES_DB' must be letters, digits and _ (not first a digit)" >&2
    exit 1
    ;;
esac

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "postgres entrypoint: PGDATA $PGDATA is empty and POSTGRES_PASSWORD is not set" >&2
    exit 1
  fi
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  pwfile="/tmp/.pgpass.$$"
  umask 077
  printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth=scram-sha-256 --encoding=UTF8 --locale=C >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    echo "CREATE DATABASE \"$POSTGRES_DB\";" | postgres --single -j -D "$PGDATA" postgres >/dev/null
  fi
  echo "postgres entrypoint: initialised $PGDATA with database $POSTGRES_DB for $POSTGRES_USER"
fi

# JIT needs LLVM, which the image leaves out.
exec postgres -D "$PGDATA" -c listen_addresses='*' -c jit=off "$@"
