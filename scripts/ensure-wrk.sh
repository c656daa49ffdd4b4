#!/usr/bin/env bash
# The HTTP benchmark (bench/http.py) drives Debian's wrk, a compiled load generator. Install it when it is missing.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
  exit 0
fi
echo "wrk is missing: installing Debian's wrk package for the HTTP benchmark" >&2
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "Cannot install wrk: run 'apt-get install -y wrk' as root, then the benchmark again." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends wrk >/dev/null
