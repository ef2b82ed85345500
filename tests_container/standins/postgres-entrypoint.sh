#!/bin/sh
# First start: create the cluster, the user (with its password) and the database; then serve.
set -eu
BIN=/usr/lib/postgresql/15/bin
DATA=/var/lib/postgresql/data
if [ ! -s "$DATA/PG_VERSION" ]; then
  printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pwfile
  "$BIN/initdb" -D "$DATA" -U "$POSTGRES_USER" --encoding=UTF8 --locale=C.UTF-8 --pwfile=/tmp/pwfile --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f /tmp/pwfile
  echo "listen_addresses = '*'" >> "$DATA/postgresql.conf"
  echo "host all all all scram-sha-256" >> "$DATA/pg_hba.conf"
  # A private socket while setting up, so pg_isready (the healthcheck) fails until the real start.
  "$BIN/pg_ctl" -D "$DATA" -w -o "-c listen_addresses='' -k /tmp" start >/dev/null
  if [ "$POSTGRES_DB" != "postgres" ]; then "$BIN/createdb" -h /tmp -U "$POSTGRES_USER" "$POSTGRES_DB"; fi
  "$BIN/pg_ctl" -D "$DATA" -w stop >/dev/null
fi
exec "$BIN/postgres" -D "$DATA"
