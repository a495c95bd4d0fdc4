#!/usr/bin/env bash
# System packages cellpipe needs on Debian 12, installed only when missing:
#   libeigen3-dev  headers to rebuild btrack's tracker library (tools/ensure_btrack.py)
#   chromium       headless browser the report tests render pages with
# Needs root (or passwordless sudo) and apt; elsewhere it says what is missing and carries on.
set -euo pipefail

missing=()
[ -d /usr/include/eigen3 ] || missing+=(libeigen3-dev)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; fi
fi
if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; }; then
  echo "installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "warning: cannot install ${missing[*]} (needs root and apt-get); install them yourself if the steps that need them fail" >&2
fi
