#!/usr/bin/env bash
# Runs City Eye's tests on a fresh Debian machine: installs what is missing, builds, runs `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
install_deps
swift build --build-tests
swift test --skip-build 2>&1 | tee .test-output.log
