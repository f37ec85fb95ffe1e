#!/usr/bin/env bash
# Set up napari-cytowords on a fresh Debian/Ubuntu machine, idempotently:
#   - Debian packages for Qt/napari on a (virtual) display (xvfb and the xcb libraries),
#   - a virtual environment in .venv with the CPU build of torch installed FIRST
#     (otherwise pip resolves a multi-GB CUDA build),
#   - the package itself (editable) with its napari, distributed and training extras.
# Usage: bash scripts/setup.sh [--test]   (--test also installs the test tools)
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_SPEC="${CYTOWORDS_TORCH_SPEC:-torch==2.13.0}"
PYTHON="${PYTHON:-python3}"
extras="napari,distributed,training"
[ "${1:-}" = "--test" ] && extras="testing"

apt_pkgs="xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 \
libxcb-xinerama0 libxcb-randr0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libxcb-cursor0 \
libxkbcommon-x11-0 libgl1 libegl1 libdbus-1-3 libfontconfig1 libglib2.0-0"
missing=""
for p in $apt_pkgs; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing Debian packages:$missing"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  echo "setup: installing $TORCH_SPEC (CPU wheel) first"
  .venv/bin/python -m pip install -q "$TORCH_SPEC"
fi
echo "setup: installing napari-cytowords[$extras] (editable)"
.venv/bin/python -m pip install -q -e ".[$extras]"
echo "setup: done. Activate with: . .venv/bin/activate"
