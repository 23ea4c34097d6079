#!/usr/bin/env bash
# What one synchronous PostgreSQL commit costs on this machine, alone and with others committing beside it: the
# figure docs/scale.md sizes a partition's journal-in-PostgreSQL by (a row written and committed before the broker
# is acknowledged). A private PostgreSQL 15 (fsync on, defaults otherwise) on a free loopback port, pgbench with one
# single-row INSERT per transaction, 1/4/16/64 clients for DURATION seconds each. Prints one line per client count.
# Usage: scripts/pg-commit-bench.sh [DURATION]   (default 10; needs postgresql-15: scripts/lib/deps.sh installs it)
set -euo pipefail

duration=${1:-10}
bin=/usr/lib/postgresql/15/bin
[ -x "$bin/initdb" ] || { echo "PostgreSQL 15 not found in $bin: apt-get install -y postgresql-15" >&2; exit 1; }
dir=$(mktemp -d /tmp/cityeye-pgbench-XXXXXX)
as_pg=()
if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; as_pg=(runuser -u postgres --); fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
stop() { "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap stop EXIT
"${as_pg[@]}" "$bin/initdb" -D "$dir/data" -U cityeye -A trust >/dev/null
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=100" start >/dev/null
psql_() { "${as_pg[@]}" "$bin/psql" -h "$dir" -p "$port" -U cityeye -d postgres -Atq "$@"; }
psql_ -c "CREATE TABLE journal (partition int, seq bigserial, topic text, payload bytea, PRIMARY KEY (partition, seq))"
payload=$(printf 'a%.0s' $(seq 175) | od -v -An -tx1 | tr -d ' \n')
{
    echo '\set p random(0, 63)'
    echo "INSERT INTO journal (partition, topic, payload) VALUES (:p, 'cityeye/changzhengqiao/czq-smoke-01', '\\x$payload');"
} > "$dir/insert.sql"
chmod a+r "$dir/insert.sql"
echo "PostgreSQL 15, fsync on, one single-row INSERT per commit, ${duration}s per row; $(nproc) cores shared with pgbench"
for c in 1 4 16 64; do
    out=$("${as_pg[@]}" "$bin/pgbench" -h "$dir" -p "$port" -U cityeye -n -f "$dir/insert.sql" -c "$c" -j "$(( c < 2 ? 1 : 2 ))" -T "$duration" postgres 2>&1) || { echo "pgbench failed: $out" >&2; exit 1; }
    tps=$(echo "$out" | sed -nE 's/^tps = ([0-9.]+).*/\1/p')
    lat=$(echo "$out" | sed -nE 's/^latency average = ([0-9.]+) ms/\1/p')
    echo "clients $c: ${tps%.*} commits/s, ${lat} ms a commit on average"
done
