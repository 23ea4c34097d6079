# Builds a release product with a progress line instead of minutes of silence; errors are shown in full.
build_release() {
    local product=$1 log
    log=$(mktemp)
    echo "== building $product (release; the first build takes a few minutes)"
    set +e
    swift build -c release --product "$product" 2>&1 | tee "$log" | awk '
        /^\[[0-9]+\/[0-9]+\]/ { split(substr($1, 2), n, "/"); pct = int(100 * n[1] / n[2]);
                                if (pct >= last + 10) { printf "   %3d%%  %s\n", pct, $0; last = pct; fflush() } ; next }
        /error:/ { print; fflush() }
        /Build (complete|of product)/ { print "   " $0; fflush() }'
    local status=${PIPESTATUS[0]}
    set -e
    if [ "$status" -ne 0 ]; then tail -40 "$log" >&2; rm -f "$log"; return 1; fi
    rm -f "$log"
}

# Builds cityeye and cityeye-bench (release) and runs `cityeye-bench SUBCOMMAND --write BENCHMARKS.md ARGS...` from
# copies: a rebuild while the benchmark runs must not swap the binaries under it.
run_release_bench() {
    local sub=$1 bin
    shift
    build_release cityeye
    build_release cityeye-bench
    bin=$(mktemp -d)
    trap "rm -rf '$bin'" EXIT
    cp .build/release/cityeye .build/release/cityeye-bench "$bin/"
    "$bin/cityeye-bench" "$sub" --write BENCHMARKS.md "$@"
}
