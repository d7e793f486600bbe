#!/bin/sh
# PostgreSQL 15 from Debian for the compose `postgres` service: creates the cluster (user
# POSTGRES_USER with POSTGRES_PASSWORD, database POSTGRES_DB) in the volume on first start.
set -eu
bin=/usr/lib/postgresql/15/bin
data=/var/lib/postgresql/data
as_postgres="setpriv --reuid=postgres --regid=postgres --init-groups"
mkdir -p "$data" /run/postgresql
chown postgres:postgres "$data" /run/postgresql
chmod 700 "$data"
if [ ! -s "$data/PG_VERSION" ]; then
  printf '%s\n' "$POSTGRES_PASSWORD" >/tmp/pgpass
  chown postgres /tmp/pgpass
  $as_postgres "$bin/initdb" -D "$data" -U "$POSTGRES_USER" --pwfile=/tmp/pgpass \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f /tmp/pgpass
  echo "host all all all scram-sha-256" >>"$data/pg_hba.conf"
  $as_postgres "$bin/postgres" --single -D "$data" postgres >/dev/null <<SQL
CREATE DATABASE "$POSTGRES_DB" OWNER "$POSTGRES_USER";
SQL
  echo "Created the cluster and database $POSTGRES_DB."
fi
exec $as_postgres "$bin/postgres" -D "$data" -c listen_addresses='*'
