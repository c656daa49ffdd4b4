#!/bin/sh
# Container entrypoint: migrate (unless a separate one-off job does it: PAPERLESS_MIGRATE_ON_START=false),
# then serve. With several replicas, run `paperless migrate` once as a job and start the app with
# PAPERLESS_MIGRATE_ON_START=false.
set -eu
if [ "${PAPERLESS_MIGRATE_ON_START:-true}" = "true" ]; then
  paperless migrate
fi
# Workers: PAPERLESS_WORKERS if set, else 2 on PostgreSQL and 1 on SQLite (more is refused there).
exec paperless serve --host 0.0.0.0 --port 8000 "$@"
