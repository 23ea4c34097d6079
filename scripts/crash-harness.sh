#!/usr/bin/env bash
# kill -9 trials of the live engine: alarms published over a real mosquitto, `cityeye run` killed at a random point
# of each trial and started again; every alarm must be counted exactly once (nothing lost, nothing counted twice).
#   bash scripts/crash-harness.sh [TRIALS] [RATES]     default: 50 trials at 5000/s and at the publisher's full speed
#   bash scripts/crash-harness.sh 10 "5000"
# Builds release binaries first. Figures (a row per trial) go to BENCHMARKS.md, sections "crash-5000" and
# "crash-max". Exits 1 if any trial lost or double-counted an alarm. Takes ~10 s a trial.
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-50}
rates=${2:-"5000 max"}
source scripts/lib/deps.sh
install_deps
echo "== building release binaries (cityeye, cityeye-bench)"
swift build -c release --product cityeye 2>&1 | grep -E "error|Compiling|Build complete" | tail -3
swift build -c release --product cityeye-bench 2>&1 | grep -E "error|Build complete" | tail -3
# Copies: a rebuild while the harness runs must not swap the binaries under it.
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
cp .build/release/cityeye .build/release/cityeye-bench "$bin/"
failed=0
for rate in $rates; do
    echo "== $trials trials at $rate"
    "$bin/cityeye-bench" crash --trials "$trials" --rate "$rate" --write BENCHMARKS.md || failed=1
done
exit $failed
