#!/usr/bin/env bash
# Fuzzes City Eye's parsers with libFuzzer (+ AddressSanitizer, LeakSanitizer): the envelope decoder (fast path
# against the general one), the rule expression parser, rule files, registries and the live config.
#   bash scripts/fuzz.sh [RUNS]            RUNS executions per target (default 1000000)
#   FUZZ_TARGETS="FuzzEnvelope" bash scripts/fuzz.sh 100000
# Seeds come from the scenario logs, rule files and registries in the repo. A finding (crash, hang over 10 s,
# leak) is kept under .fuzz/findings/<target>/ and makes the script exit 1; turn each into a regression test.
# (SWIFT_BACKTRACE=enable=no: the Swift runtime's own crash handler reads memory in ways AddressSanitizer reports.)
# Figures go to BENCHMARKS.md (section "fuzz").
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1000000}
targets=${FUZZ_TARGETS:-"FuzzEnvelope FuzzExpression FuzzRuleFile FuzzRegistry FuzzConfig"}
work=.fuzz
mkdir -p "$work"

seed() {  # seed corpus for a target, made fresh from the repo
    local t=$1 dir="$work/seeds/$1"
    rm -rf "$dir"; mkdir -p "$dir"
    case $t in
        FuzzEnvelope) cat scenarios/*/*.jsonl scenarios/*/independent/*.jsonl 2>/dev/null | grep -v '^$' | split -l 1 -a 5 - "$dir/line-" ;;
        FuzzExpression) grep -hoE '(when|clear|value): *".*"' scenarios/*/rules.yaml | sed -E 's/^[a-z]+: *"(.*)"$/\1/' | split -l 1 -a 4 - "$dir/expr-" ;;
        FuzzRuleFile) for f in scenarios/*/rules.yaml; do cp "$f" "$dir/$(basename "$(dirname "$f")").yaml"; done
                      cp scenarios/schema.yaml "$dir/schema.yaml"; cp docs/examples/pump-room/schema.yaml "$dir/pump-schema.yaml" ;;
        FuzzRegistry) for f in scenarios/*/registry.yaml; do cp "$f" "$dir/$(echo "$f" | tr / _)"; done
                      head -c 4000 demo/registry.yaml > "$dir/demo-head.yaml" ;;
        FuzzConfig) printf 'broker:\n  host: 127.0.0.1\n  port: 1883\n  client_id: e\n  topics: ["cityeye/#"]\n  qos: 1\n  keepalive_s: 30\nregistry: registry.yaml\nrules: .\nstore: x.db\ncapture_dir: capture\n' > "$dir/config.yaml" ;;
    esac
}

rows=()
failed=0
for t in $targets; do
    echo "== $t: building"
    swift build -c debug --product "$t" --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address 2>&1 | grep -E "error|warning: unre" || true
    seed "$t"
    findings="$work/findings/$t"; rm -rf "$findings"; mkdir -p "$findings" "$work/corpus/$t"
    log="$work/$t.log"
    echo "== $t: $runs runs"
    start=$(date +%s)
    set +e
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=1 ".build-fuzz/debug/$t" "$work/corpus/$t" "$work/seeds/$t" -runs="$runs" -timeout=10 \
        -rss_limit_mb=4096 -max_len="${FUZZ_MAX_LEN:-4096}" -artifact_prefix="$findings/" -print_final_stats=1 > "$log" 2>&1
    rc=$?
    set -e
    secs=$(( $(date +%s) - start ))
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1)
    found=$(ls "$findings" | wc -l)
    echo "   $t: ${execs:-?} executions in ${secs} s, exit $rc, findings: $found"
    [ "$rc" -ne 0 ] || [ "$found" -ne 0 ] && { failed=1; tail -30 "$log"; }
    rows+=("| $t | ${execs:-?} | $secs | $found |")
done

if [ "$runs" -ge 1000000 ]; then
    section=$(printf '%s\n' "<!-- fuzz -->" "## Fuzzing (issue 12)" "" \
        "Machine: $(nproc) cores. Command: \`bash scripts/fuzz.sh $runs\` (libFuzzer, -sanitize=fuzzer,address, leaks" \
        "checked; seeds: the scenario logs, rule files and registries). Findings: crashes, hangs (> 10 s) and leaks." "" \
        "| target | executions | seconds | findings |" "|---|---|---|---|" "${rows[@]}" "<!-- /fuzz -->")
    python3 - "$section" <<'PY'
import re, sys
s = open('BENCHMARKS.md').read()
new = sys.argv[1]
if '<!-- fuzz -->' in s:
    s = re.sub(r'<!-- fuzz -->.*?<!-- /fuzz -->', lambda m: new, s, flags=re.S)
else:
    s = s.rstrip() + '\n\n' + new + '\n'
open('BENCHMARKS.md', 'w').write(s)
PY
fi
exit $failed
