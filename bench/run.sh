#!/usr/bin/env bash
# Usage: bench/run.sh BUILD_DIR   (called by `make bench`)
# Runs pvxd and, as the yardstick, nginx under wrk; writes bench/results/latest.json and README.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${1:-build}"
[[ -x "$build/bin/pvxd" && -x "$build/bin/pvx" ]] || { echo "bench: build $build first (pvxd, pvx)" >&2; exit 2; }
# Debian's python (python3-requests lives there), not a pyenv one earlier on PATH.
exec /usr/bin/python3 "$here/bench.py" "$build"
