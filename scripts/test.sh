#!/usr/bin/env bash
# Runs City Eye's tests on a fresh Debian machine: installs what is missing, builds, runs `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
install_deps
swift build --build-tests
# The tests are XCTest; without Swift Testing's empty run the last summary line is the real one.
set +e
swift test --skip-build --disable-swift-testing 2>&1 | tee .test-output.log
status=${PIPESTATUS[0]}
set -e
summary=$(grep -E "^\s+Executed [0-9]+ tests?, with [0-9]+ failures?" .test-output.log | tail -1 || true)
if [ -n "$summary" ]; then
    total=$(echo "$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
    failed=$(echo "$summary" | sed -E 's/.*with ([0-9]+) failures?.*/\1/')
    echo "$((total - failed)) passed, $failed failed"
fi
exit "$status"
