#!/usr/bin/env bash
# Runs every fuzz target for a bounded time and fails on the first crash.
#
#   fuzz/run.sh            # 60 s per target
#   SECONDS_PER_TARGET=600 fuzz/run.sh
#
# Needs a nightly toolchain and cargo-fuzz (`rustup toolchain install nightly`,
# `cargo install cargo-fuzz`). The corpus found is kept in fuzz/corpus/TARGET and minimized afterwards;
# crashes are written to fuzz/artifacts/TARGET.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${SECONDS_PER_TARGET:-60}"
targets=(signature_header timestamp json_pointer envelope config)
cargo +nightly fuzz build -O
for t in "${targets[@]}"; do
    echo "== $t (${seconds}s)"
    mkdir -p "corpus/$t"
    log="$(mktemp)"
    status=0
    cargo +nightly fuzz run -O "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY)" "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -40 "$log" >&2
        echo "$t: crash (exit $status); the input is in fuzz/artifacts/$t" >&2
        exit 1
    fi
    rm -f "$log"
    cargo +nightly fuzz cmin -O "$t" "corpus/$t" >/dev/null 2>&1 || true
    echo "corpus/$t: $(ls "corpus/$t" | wc -l) inputs"
done
echo "all targets ran ${seconds}s without a crash"
