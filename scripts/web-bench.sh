#!/usr/bin/env bash
# The web load benchmark (issue 14): `cityeye serve` on a store of ~100,000 incidents and ~1,000,000 audit rows,
# while a live `cityeye run` on the same store ingests simulated traffic over a private mosquitto.
#   1. the store: `cityeye-bench webstore` — a week of simulated traffic ending now, replayed through the engine in
#      3-hour slices, people acting on the incidents between slices (PeopleActions: sealed audit rows, no raw SQL);
#      passwords for the busiest grid worker and their community's supervisor (`cityeye people set-password`);
#   2. HTTP at a held rate (open loop, latency from each request's due time): the cockpit and the worker's list,
#      while `cityeye simulate` publishes to the engine;
#   3. SSE: many clients on the cockpit's change feed, a CLI `ack`, when each client hears of it;
#   4. the figures go to BENCHMARKS.md, section "web-load".
#   bash scripts/web-bench.sh                 defaults: 200 req/s for 60 s, 5000 ev/s, 500 SSE clients
#   RATE=100 SECONDS_=30 EVENTS=2000 SSE_CLIENTS=100 bash scripts/web-bench.sh      a shorter run
#   KEEP_WORK=1 keeps the store and the logs (in /tmp/cityeye-web-bench.*) after a run that met its targets;
#   FROM=/tmp/cityeye-web-bench.XXXXXX starts from that kept run's store instead of making one.
# Not part of .ci/run (takes ~15-25 minutes on 2 cores, most of it making the store). Installs what it needs (apt-get, as root or with sudo); stops every
# process it started, on failure too. Exits 1 when a target is missed (p99 > 50 ms, or an SSE client later than 2 s).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rate=${RATE:-200}
seconds=${SECONDS_:-60}
events=${EVENTS:-5000}
sse_clients=${SSE_CLIENTS:-500}
out_md=${WRITE:-$root/BENCHMARKS.md}

source scripts/lib/deps.sh
install_deps
command -v python3 >/dev/null || { echo "python3 is needed for the load client" >&2; exit 1; }
source scripts/lib/build.sh
build_release cityeye
build_release cityeye-bench
bin_dir=$(swift build -c release --show-bin-path)

work=$(mktemp -d /tmp/cityeye-web-bench.XXXXXX)
# Copies: a rebuild while the bench runs must not swap the binaries under it.
cp "$bin_dir/cityeye" "$bin_dir/cityeye-bench" "$work/"
cityeye=$work/cityeye
pids=()
cleanup() {
    local status=$?
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "$status" -ne 0 ]; then echo "web-bench: a target missed or a step failed (exit $status); logs kept in $work" >&2
    elif [ -n "${KEEP_WORK:-}" ]; then echo "store and logs kept in $work"
    else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# 500 event streams, each a socket in the server and one in the client.
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"

if [ -n "${FROM:-}" ]; then
    echo "== the store of an earlier run: $FROM (what that run's engine and acknowledgements added is in it)"
    for f in web.db web.db-wal web.db.audit-key registry.yaml store.txt; do [ -f "$FROM/$f" ] && cp "$FROM/$f" "$work/"; done
else
    echo "== the store: a week of simulated traffic and people's actions (about 10 minutes)"
    "$work/cityeye-bench" webstore --db "$work/web.db" --registry-out "$work/registry.yaml" | tail -n 4 | tee "$work/store.txt"
fi
store_line=$(tail -n 1 "$work/store.txt")

# The worker with the most open incidents, and the supervisor of their community.
read -r worker community supervisor < <(python3 - "$work/web.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
w, c = db.execute("SELECT assignee, community FROM incident WHERE status IN ('dispatched','acknowledged') "
                  "GROUP BY assignee ORDER BY count(*) DESC LIMIT 1").fetchone()
print(w, c, "s-" + c)
PY
)
for who in "$worker" "$supervisor"; do
    echo "bench-$who" | "$cityeye" people set-password "$who" --db "$work/web.db" >/dev/null
done
read -r worker_open community_open < <(python3 - "$work/web.db" "$worker" "$community" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("SELECT count(*) FROM incident WHERE assignee = ? AND status IN ('dispatched','acknowledged')", (sys.argv[2],)).fetchone()[0],
      db.execute("SELECT count(*) FROM incident WHERE community = ?", (sys.argv[3],)).fetchone()[0])
PY
)
echo "   worker $worker ($worker_open open incidents), supervisor $supervisor ($community_open incidents in $community)"

echo "== a private mosquitto, the live engine, the web app"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence false
# mosquitto silently drops queued QoS 1 messages beyond max_queued_messages (default 1000): no limit here.
max_queued_messages 0
max_inflight_messages 1000
CONF
[ "$(id -u)" = 0 ] && echo "user root" >>"$work/mosquitto.conf"
"$(command -v mosquitto || echo /usr/sbin/mosquitto)" -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

cat >"$work/run.yaml" <<CONF
broker: {host: 127.0.0.1, port: $port, client_id: cityeye-web-bench, topics: ["cityeye/#"], qos: 1}
registry: $work/registry.yaml
rules: $root/scenarios
store: $work/web.db
CONF
"$cityeye" run --config "$work/run.yaml" --quiet --stats-every 10s >"$work/engine.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do grep -q "ready" "$work/engine.log" && break; sleep 0.1; done
grep -q "ready" "$work/engine.log" || { echo "engine did not start:" >&2; cat "$work/engine.log" >&2; exit 1; }

cat >"$work/serve.yaml" <<CONF
listen: 127.0.0.1:0
store: web.db
language: zh-CN
CONF
"$cityeye" serve --config "$work/serve.yaml" >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "^serving" "$work/serve.log" && break; sleep 0.1; done
base=$(grep -m1 -o "http://[0-9.:]*" "$work/serve.log") || { echo "serve did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }
worker_cookie=$(python3 scripts/lib/webload.py login "$base" "$worker" "bench-$worker")
supervisor_cookie=$(python3 scripts/lib/webload.py login "$base" "$supervisor" "bench-$supervisor")

echo "== $events ev/s published to the engine; HTTP at $rate req/s for $seconds s (cockpit and worker's list in turn)"
publish_s=$(python3 -c "print(int($seconds) + 60)")
# A new seed each run: a store reused with FROM= has the last run's message ids (the engine would count duplicates).
"$cityeye" simulate --host 127.0.0.1 --port "$port" --registry "$work/registry.yaml" --seed "$(date +%s)" --rate "$events" \
    --duration "${publish_s}s" --episode-rate 0.004 >"$work/simulate.log" 2>&1 &
sim=$!
pids+=($sim)
sleep 5
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
python3 scripts/lib/webload.py http "$base" --rate "$rate" --seconds "$seconds" --out "$work/http.json" \
    --target "/cockpit $supervisor_cookie" --target "/ $worker_cookie" >/dev/null &
load=$!
sleep "$(python3 -c "print(max(1, int($seconds) - 5))")"
load_during=$(cut -d' ' -f1-3 /proc/loadavg)
top -b -n 1 -w 200 | sed -n '7,14p' >"$work/top.txt" || true
wait "$load"
# The engine's stats line of the load's last 10 s (it logs one every 10 s).
engine_stats=$(grep "stats (last" "$work/engine.log" | tail -n 1 | sed 's/^[^ ]* //' || true)
python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))
for t in d["targets"]: print("   %-9s %5d requests, %d errors, p50 %s ms, p90 %s ms, p99 %s ms, max %s ms" % (t["path"], t["requests"], t["errors"], t["p50_ms"], t["p90_ms"], t["p99_ms"], t["max_ms"]))' "$work/http.json"

echo "== $sse_clients SSE clients on the change feed (the engine still ingesting), 5 CLI acknowledgements"
python3 scripts/lib/webload.py sse "$base" --clients "$sse_clients" --cookie "$supervisor_cookie" --cookie "$worker_cookie" \
    --db "$work/web.db" --cityeye "$cityeye" --community "$community" --changes 5 --out "$work/sse.json" >/dev/null
python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))
print("   %d of %d received, %d within 2 s; p50 %s ms, p99 %s ms, max %s ms" % (d["received"], d["deliveries_expected"], d["within_2s"], d["p50_ms"], d["p99_ms"], d["max_ms"]))' "$work/sse.json"
kill "$sim" 2>/dev/null || true
wait "$sim" 2>/dev/null || true

python3 scripts/lib/web_report.py --http "$work/http.json" --sse "$work/sse.json" --store "$store_line" \
    --worker "$worker" --worker-open "$worker_open" --supervisor "$supervisor" --community "$community" \
    --community-incidents "$community_open" --reused "${FROM:-}" --devices "$(grep -c ' type: ' "$work/registry.yaml")" --rate "$rate" --seconds "$seconds" --events "$events" \
    --load-before "$load_before" --load-during "$load_during" --top "$work/top.txt" --engine "$engine_stats" \
    --write "$out_md"
