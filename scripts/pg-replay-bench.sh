#!/bin/bash
# Replay of the 1M-event bench day into SQLite and into PostgreSQL, alternating, three runs each; one line per run,
# then both stores' incidents compared. BENCHMARKS.md ("Replay into PostgreSQL") says how the figures were made.
# Needs: a release build (swift build -c release), the bench's day in /tmp/pgbench
#   (.build/release/cityeye-bench replay --sizes 1000000 --devices 10000 --seed 42 --runs 1 --dir /tmp/pgbench --write /tmp/pgbench/x.md)
# and a PostgreSQL 15 on 127.0.0.1:55432 with a superuser `cityeye` (trust), e.g. as root:
#   D=/tmp/pgbench/pg; mkdir -p $D; chown postgres:postgres $D
#   runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -D $D/data -A trust -U cityeye -E UTF8
#   runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D $D/data -o "-p 55432 -k $D -c listen_addresses=127.0.0.1" -l $D/log -w start
set -e
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/.build/release/cityeye
LOG=/tmp/pgbench/day-1000000.jsonl; REG=/tmp/pgbench/registry-10000.yaml; RULES=$ROOT/scenarios
for i in 1 2 3; do
  rm -f /tmp/pgbench/r.db /tmp/pgbench/r.db-wal /tmp/pgbench/r.db-shm /tmp/pgbench/r.db.lock
  s=$($B replay $LOG --registry $REG --rules $RULES --db /tmp/pgbench/r.db --audit-key /tmp/pgbench/k --json --quiet)
  echo "sqlite run $i: $(echo "$s" | grep -o '"elapsed_s":"[0-9.]*"') load $(cut -d' ' -f1 /proc/loadavg)"
  psql -h 127.0.0.1 -p 55432 -U cityeye -d postgres -qc "DROP DATABASE IF EXISTS bench" -qc "CREATE DATABASE bench"
  p=$($B replay $LOG --registry $REG --rules $RULES --db postgres://cityeye@127.0.0.1:55432/bench --audit-key /tmp/pgbench/k --json --quiet)
  echo "postgres run $i: $(echo "$p" | grep -o '"elapsed_s":"[0-9.]*"') load $(cut -d' ' -f1 /proc/loadavg)"
done
echo "$s" | head -c 300; echo
echo "$p" | head -c 300; echo
a=$($B incidents --db /tmp/pgbench/r.db --json | md5sum); b=$($B incidents --db postgres://cityeye@127.0.0.1:55432/bench --json | md5sum)
echo "incidents sqlite $a postgres $b"
$B incidents --db postgres://cityeye@127.0.0.1:55432/bench --json | wc -l
