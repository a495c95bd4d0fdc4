#!/usr/bin/env bash
# System packages cellpipe needs on Debian 12, installed only when missing:
#   libeigen3-dev  headers to rebuild btrack's tracker library (tools/ensure_btrack.py)
#   chromium       headless browser the report tests render pages with
#   slurmctld, slurmd, slurm-client, munge, slurmdbd, mariadb-server
#                  the throwaway single-node SLURM cluster tests/cluster starts (in a temporary
#                  folder, on ports of its own) to run the workflow through profiles/slurm; the
#                  SLURM executor plugin reads job states with sacct, hence slurmdbd and MariaDB
#   xvfb           the X server tests/napari runs a real napari viewer on
#   libgl1-mesa-dri, libegl1, libxcb-*, libxkbcommon-x11-0, libfontconfig1, libglib2.0-0, libdbus-1-3
#                  what Qt 6's xcb platform (PyQt6, napari's Qt) and Mesa's software OpenGL load
# Needs root (or passwordless sudo) and apt; elsewhere it says what is missing and carries on.
set -euo pipefail

missing=()
[ -d /usr/include/eigen3 ] || missing+=(libeigen3-dev)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -x /usr/sbin/slurmctld ] || missing+=(slurmctld)
[ -x /usr/sbin/slurmd ] || missing+=(slurmd)
command -v sbatch >/dev/null 2>&1 || missing+=(slurm-client)
[ -x /usr/sbin/munged ] || missing+=(munge)
[ -x /usr/sbin/slurmdbd ] || missing+=(slurmdbd)
[ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
command -v Xvfb >/dev/null 2>&1 || missing+=(xvfb)
if command -v dpkg-query >/dev/null 2>&1; then
  for pkg in libgl1-mesa-dri libegl1 libfontconfig1 libglib2.0-0 libdbus-1-3 libx11-xcb1 libxkbcommon-x11-0 \
             libxcb-cursor0 libxcb-glx0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 \
             libxcb-render-util0 libxcb-shape0 libxcb-sync1 libxcb-xfixes0 libxcb-xkb1; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
fi

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
