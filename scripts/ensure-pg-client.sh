#!/usr/bin/env bash
# `paperless backup`/`restore` on PostgreSQL run pg_dump/pg_restore; the backup test needs them when
# PAPERLESS_TEST_POSTGRES_URL is set. Install Debian's PostgreSQL client programs when they are missing.
set -euo pipefail
if command -v pg_dump >/dev/null 2>&1 && command -v pg_restore >/dev/null 2>&1; then
  exit 0
fi
echo "pg_dump/pg_restore are missing: installing Debian's postgresql-client" >&2
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "Cannot install postgresql-client: run 'apt-get install -y postgresql-client' as root." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends postgresql-client >/dev/null
