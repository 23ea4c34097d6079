#!/usr/bin/env bash
# City Eye demo: a private MQTT broker, the live engine, simulated gateways for all eight scenarios for about a
# minute, then a summary of the incidents raised and dispatched. Leaves the store in demo-run/ to explore.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
source scripts/lib/deps.sh
install_deps

source scripts/lib/build.sh
build_release cityeye
bin="$(swift build -c release --show-bin-path)/cityeye"
[ -x "$bin" ] || { echo "build failed" >&2; exit 1; }

out="$root/demo-run"
rm -rf "$out"; mkdir -p "$out"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

port=18830
while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
cat >"$out/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence true
persistence_location $out/
# mosquitto silently drops queued QoS 1 messages for a persistent session beyond max_queued_messages
# (default 1000): a restarting engine would lose events. No limit here; a bounded inflight window instead.
max_queued_messages 0
max_inflight_messages 1000
CONF
# As root, mosquitto would switch to user "mosquitto", which cannot write the persistence folder.
if [ "$(id -u)" = 0 ]; then echo "user root" >>"$out/mosquitto.conf"; fi
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
"$mosquitto" -c "$out/mosquitto.conf" >"$out/mosquitto.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
echo "== broker on 127.0.0.1:$port"

cat >"$out/cityeye.yaml" <<CONF
broker:
  host: 127.0.0.1
  port: $port
  client_id: cityeye-demo
  topics: ["cityeye/#"]
  qos: 1
  keepalive_s: 30
registry: $root/demo/registry.yaml
rules: $root/scenarios
store: $out/cityeye.db
capture_dir: $out/capture
CONF
# The last 30 minutes as recorded by the gateways, replayed first (so that slow rules — a bin full for 15 min, a car
# overstaying — have had their time), then the engine goes live on the same store.
start=$(date -u -d '-30 min' +%Y-%m-%dT%H:%M:%SZ)
echo "== replaying the last 30 minutes of recorded gateway traffic"
"$bin" simulate --registry "$root/demo/registry.yaml" --seed 7 --rate 40 --episode-rate 0.004 \
    --log "$out/history.jsonl" --events 72000 --start "$start" >/dev/null
"$bin" replay "$out/history.jsonl" --rules "$root/scenarios" --registry "$root/demo/registry.yaml" --db "$out/cityeye.db" --quiet

"$bin" run --config "$out/cityeye.yaml" >"$out/engine.log" 2>&1 &
engine=$!
pids+=($engine)
for _ in $(seq 100); do grep -q "ready" "$out/engine.log" && break; sleep 0.1; done
grep -q "ready" "$out/engine.log" || { echo "engine did not start:" >&2; cat "$out/engine.log" >&2; exit 1; }
echo "== engine: $(grep ready "$out/engine.log")"

echo "== simulated gateways for all eight scenarios, live for 60 s"
"$bin" simulate --host 127.0.0.1 --port "$port" --registry "$root/demo/registry.yaml" --seed 8 \
    --duration 60s --rate 40 --episode-rate 0.02

sleep 1
kill -TERM "$engine"
wait "$engine" || true
echo "== engine log (last lines)"
tail -n 3 "$out/engine.log"
echo
echo "== incidents per scenario, per grid worker"
"$bin" workload --db "$out/cityeye.db"
echo
echo "== the most urgent open incidents"
"$bin" incidents --db "$out/cityeye.db" --status dispatched --severity critical | head -n 12 || true
# Web accounts for one grid worker and the first community's supervisor, and the web app's own config.
worker=$(grep -m1 -oE 'id: w-[^,]+' "$root/demo/registry.yaml" | cut -d' ' -f2)
supervisor=$(grep -m1 -E 'role: supervisor' "$root/demo/registry.yaml" | grep -oE 'id: [^,]+' | cut -d' ' -f2)
for who in "$worker" "$supervisor"; do
    echo "demo-$who" | "$bin" people set-password "$who" --db "$out/cityeye.db" >/dev/null
done
cat >"$out/serve.yaml" <<CONF
listen: 127.0.0.1:8080
store: cityeye.db
language: zh-CN
CONF
cat <<TXT

The web app (phones and the supervisors' cockpit), on this store:
  $bin serve --config $out/serve.yaml      then open http://127.0.0.1:8080
  sign in as $worker (password demo-$worker) or $supervisor (password demo-$supervisor)

The store is $out/cityeye.db. Try, as a grid worker and then as the supervisor:
  $bin incidents --db $out/cityeye.db --mine --worker <worker id from the table above>
  $bin ack ID --worker <assignee> --db $out/cityeye.db
  $bin resolve ID --worker <assignee> --note "on site: fixed" --db $out/cityeye.db
  $bin close ID --worker <supervisor id> --db $out/cityeye.db
  $bin show ID --db $out/cityeye.db
  $bin dead-letters --db $out/cityeye.db
Every accepted event is in $out/capture/ and replays with:
  $bin replay $out/capture/*.jsonl --registry demo/registry.yaml --db /tmp/replayed.db
TXT
