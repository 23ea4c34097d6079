#!/usr/bin/env bash
# Runs City Eye's tests on a fresh Debian machine: installs what is missing, builds, runs `swift test`, then the
# real-browser test of the web app (Tests/browser/web_flow.py).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
source scripts/lib/web-deps.sh
install_deps tests
install_web_deps
swift build --build-tests
# The tests are XCTest; without Swift Testing's empty run the last summary line is the real one.
set +e
swift test --skip-build --disable-swift-testing 2>&1 | tee .test-output.log
status=${PIPESTATUS[0]}
set -e
passed=0
failed=0
summary=$(grep -E "^\s+Executed [0-9]+ tests?, with [0-9]+ failures?" .test-output.log | tail -1 || true)
if [ -n "$summary" ]; then
    total=$(echo "$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
    failed=$(echo "$summary" | sed -E 's/.*with ([0-9]+) failures?.*/\1/')
    passed=$((total - failed))
    echo "swift test: $passed passed, $failed failed"
fi
shots=$(mktemp -d)
set +e
CITYEYE_SCREENSHOTS="$shots" python3 Tests/browser/web_flow.py .build/debug/cityeye 2>&1 | tee .browser-output.log
browser_status=${PIPESTATUS[0]}
set -e
rm -rf "$shots"
line=$(grep -E "^[0-9]+ passed, [0-9]+ failed$" .browser-output.log | tail -1 || true)
if [ -n "$line" ]; then
    echo "browser: $line"
    passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
    failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
else
    failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$status" -ne 0 ] && exit "$status"
exit "$browser_status"
