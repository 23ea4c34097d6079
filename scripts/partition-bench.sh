#!/usr/bin/env bash
# Issue 15's partition figures: failover time over kill -9 of partitioned engines (with the ledger: nothing lost,
# nothing counted twice) and one engine's events/s on PostgreSQL vs SQLite. Starts its own PostgreSQL 15 (fsync on)
# and two mosquitto; writes the section "Partitions: failover and throughput (issue 15)" of BENCHMARKS.md.
#   bash scripts/partition-bench.sh                     10 kills, 3 throughput runs (~10 minutes after the build)
#   bash scripts/partition-bench.sh --kills 1 --runs 1  a shorter run; any cityeye-bench partitions option passes through
# Builds release binaries first. Exits 1 if the ledger does not balance.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
install_deps tests
source scripts/lib/build.sh
run_release_bench partitions "$@"
