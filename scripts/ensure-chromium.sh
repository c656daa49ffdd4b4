#!/usr/bin/env bash
# Browser tests drive Debian's Chromium (no browser download), with Debian's Noto CJK fonts: without
# them Chromium draws Japanese as empty boxes of another width, and the print test's A4 page counts
# (tests/test_print_browser.py) would not be what a person printing the page gets. Install what is missing.
set -euo pipefail
missing=()
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  missing+=(chromium)
fi
if ! dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q "install ok installed"; then
  missing+=(fonts-noto-cjk)
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "Missing for the browser tests: ${missing[*]}; installing Debian's packages" >&2
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "Cannot install ${missing[*]}: run 'apt-get install -y ${missing[*]}' as root, then 'make test' again." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
