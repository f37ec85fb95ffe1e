#!/usr/bin/env bash
# Install everything from nothing (see scripts/setup.sh) and run the whole test suite
# under a virtual display (pytest-xvfb starts Xvfb). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export QT_API=pyqt6 PYTHONHASHSEED=0 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
echo "== ruff"
.venv/bin/ruff check src tests benchmarks
echo "== pytest"
.venv/bin/python -m pytest -ra -q --durations=15 "$@"
