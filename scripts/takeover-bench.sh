#!/usr/bin/env bash
# How long a partition takes to open on takeover as its processed (device, id) keys grow (docs/scale.md, "Timings"):
# a private PostgreSQL 15 (fsync on) and mosquitto, a one-community partitioned city, one `cityeye run` that takes
# partition p0 once and stops; then N processed keys are put into the store for p0 (the last 25 h of a busy
# partition hold millions), and a new engine takes p0. Measured from its `running` line (its start) to p0's `ready`
# line: the lease, opening the partition's store (rule state, open incidents, processed keys), the broker session.
# Usage: bash scripts/takeover-bench.sh [N ...]   (default 0 1000000 4000000 16000000; release build of cityeye,
#        or CITYEYE_BIN=path to try another binary without building)
# Prints a table; with --write FILE, also replaces the section "Partition takeover vs processed keys" there.
set -euo pipefail
cd "$(dirname "$0")/.."
write=""
sizes=()
while [ $# -gt 0 ]; do
    case "$1" in
        --write) write=$2; shift 2 ;;
        *) sizes+=("$1"); shift ;;
    esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(0 1000000 4000000 16000000)
source scripts/lib/deps.sh
install_deps tests
if [ -z "${CITYEYE_BIN:-}" ]; then
    source scripts/lib/build.sh
    build_release cityeye
fi
bindir=/usr/lib/postgresql/15/bin
dir=$(mktemp -d /tmp/cityeye-takeover-XXXXXX)
cp "${CITYEYE_BIN:-.build/release/cityeye}" "$dir/cityeye"
as_pg=()
if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; chmod 755 "$dir"; as_pg=(runuser -u postgres --); fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pgport=$(free_port)
mqport=$(free_port)
mosq=""
stop() {
    [ -n "$mosq" ] && kill "$mosq" 2>/dev/null || true
    "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop EXIT
"${as_pg[@]}" "$bindir/initdb" -D "$dir/data" -U cityeye -A trust >/dev/null
"${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -o "-p $pgport -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
psql_() { "${as_pg[@]}" "$bindir/psql" -h "$dir" -p "$pgport" -U cityeye -Atq "$@"; }
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$mqport" > "$dir/mosquitto.conf"
mosquitto -c "$dir/mosquitto.conf" > "$dir/mosquitto.log" 2>&1 &
mosq=$!
cat > "$dir/registry.yaml" <<EOF
communities:
  - {id: c1, name: C1, timezone: Asia/Shanghai}
grids:
  - {id: c1-g1, community: c1, name: G1}
workers:
  - {id: w-c1, name: W, grid: c1-g1, role: worker}
devices:
  - {id: c1-sd-1, type: smoke_detector, community: c1, grid: c1-g1}
EOF

ms() { python3 -c 'import sys,datetime; print(int(datetime.datetime.fromisoformat(sys.argv[1].replace("Z","+00:00")).timestamp()*1000))' "$1"; }
# Starts an engine on DB and waits for p0's ready line and, with WAIT_OLDER=1, also for the line saying the dedup
# window's older processed ids are loaded; prints "taken_ms ready_ms loaded_ms" (the log's timestamps; loaded_ms is
# ready_ms when not waited for).
run_engine() {
    local db=$1 log=$2
    cat > "$dir/cityeye-$db.yaml" <<EOF
broker: {host: 127.0.0.1, port: $mqport, client_id: takeover, keepalive_s: 5}
registry: registry.yaml
rules: $(pwd)/scenarios
store: postgres://cityeye@127.0.0.1:$pgport/$db
audit_key_file: audit-key
partitions:
  - {id: p0, communities: [c1]}
EOF
    "$dir/cityeye" run --config "$dir/cityeye-$db.yaml" --partitions p0 --stats-every 0 --quiet > "$log" 2>&1 &
    local pid=$!
    local t=0 wanted="partition p0: ready"
    [ "${WAIT_OLDER:-0}" = 1 ] && wanted="partition p0: the dedup window's older processed ids are loaded"
    until grep -q "partition p0: ready" "$log" 2>/dev/null && grep -q "$wanted" "$log" 2>/dev/null; do
        sleep 0.1; t=$((t + 1))
        if [ $t -gt 3000 ] || ! kill -0 $pid 2>/dev/null; then
            kill -KILL $pid 2>/dev/null || true
            echo "engine did not get ready:" >&2; cat "$log" >&2; exit 1
        fi
    done
    kill -TERM $pid; wait $pid || true
    local taken ready loaded
    taken=$(grep ": running partition" "$log" | head -1 | cut -d' ' -f1)
    ready=$(grep "partition p0: ready" "$log" | head -1 | cut -d' ' -f1)
    loaded=$(grep "$wanted" "$log" | head -1 | cut -d' ' -f1)
    echo "$(ms "$taken") $(ms "$ready") $(ms "$loaded")"
}

rows=()
echo "== keys, then the takeover (engine running -> p0 ready)"
for n in "${sizes[@]}"; do
    db="takeover_$n"
    psql_ -d postgres -c "CREATE DATABASE $db"
    run_engine "$db" "$dir/first-$n.log" > /dev/null
    now=$(python3 -c 'import time; print(int(time.time()*1000))')
    # 1,000 distinct 12-byte keys a row (hashes, as the engine's keys are), as the engine writes a batch's keys; the
    # rows spread evenly over the 25 h before now (the newest at now), as a partition's steady traffic leaves them.
    start=$(date +%s.%N)
    if [ "$n" -gt 0 ]; then
        rows_n=$(( (n + 999) / 1000 ))
        psql_ -d "$db" -c "INSERT INTO processed_batch (part, at, keys, format)
            SELECT 'p0', $now - (($rows_n - g) * 90000000::bigint / $rows_n),
                   decode(string_agg(substr(md5((g::bigint * 1000 + i)::text), 1, 24), '' ORDER BY i), 'hex'), 2
            FROM generate_series(1, $rows_n) g, generate_series(1, 1000) i GROUP BY g"
    fi
    fill=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$start" "$(date +%s.%N)")
    size=$(psql_ -d "$db" -c "SELECT pg_size_pretty(pg_total_relation_size('processed_batch'))")
    wait_older=0
    [ "$n" -gt 0 ] && wait_older=1
    read -r taken ready loaded < <(WAIT_OLDER=$wait_older run_engine "$db" "$dir/second-$n.log")
    open_s=$(python3 -c "print(f'{($ready - $taken) / 1000:.2f}')")
    loaded_s=$(python3 -c "print(f'{($loaded - $taken) / 1000:.2f}')")
    echo "$n keys ($size, put in ${fill} s): running -> ready ${open_s} s, older keys loaded ${loaded_s} s"
    rows+=("| $n | $size | $open_s | $loaded_s |")
done

if [ -n "$write" ]; then
    section=$(cat <<EOF
## Partition takeover vs processed keys

Machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end.
Command: \`bash scripts/takeover-bench.sh --write BENCHMARKS.md\` (release build, PostgreSQL 15 fsync on, one
mosquitto, all on loopback). A new engine takes partition p0 whose last 25 h hold N processed (device, id) keys
(1,000 a row in \`processed_batch\`, as batches write them, spread evenly over the 25 h); the figures are from the
engine's \`running\` line (its start) to p0's \`ready\` line — taking the lease, opening the partition's share of the
store (rule state, open incidents, the last hour's processed keys) and its broker session — and to the line saying the
rest of the 25 h of keys, read aside meanwhile, are loaded. A failover is the lease TTL (6 s) plus a round (≤ 1 s)
plus the first figure; until the second, only an event older than an hour waits.

| processed keys | \`processed_batch\` on disk | engine start → partition ready (s) | engine start → older keys loaded (s) |
|---|---|---|---|
$(printf '%s\n' "${rows[@]}")

<!-- /takeover -->
EOF
)
    python3 - "$write" "$section" <<'PY'
import sys, re
path, section = sys.argv[1], sys.argv[2]
text = open(path).read()
start = text.find("## Partition takeover vs processed keys")
if start >= 0:
    end = text.index("<!-- /takeover -->", start) + len("<!-- /takeover -->")
    text = text[:start] + section + text[end:]
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(path, "w").write(text)
PY
    echo "written to $write"
fi
