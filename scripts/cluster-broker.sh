#!/usr/bin/env bash
# Issue 15, item 5: partitioned engines on a clustered broker. Starts a 3-node RabbitMQ cluster on loopback (its MQTT
# plugin, QoS 1 sessions in quorum queues; nodes of its own, not the Debian service), a private PostgreSQL 15 and three
# `cityeye run` engines whose partitions name one node each and the others as `broker.fallbacks`; publishes smoke
# alarms through the three nodes, kills one node with -9 mid-stream and starts it again, then compares the publishers'
# ledger with the store. Writes the section "Partitions on a clustered broker (RabbitMQ)" of BENCHMARKS.md.
#   bash scripts/cluster-broker.sh                                  60 s at 1,500 alarms/s, node 1 killed at 20 s (~4 minutes after the build)
#   bash scripts/cluster-broker.sh --rate 3000 --kill-node 2 --messages 0   any cityeye-bench cluster option passes through
# Builds release binaries first. Exits 1 if the ledger does not balance.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
install_deps cluster
source scripts/lib/build.sh
run_release_bench cluster "$@"
