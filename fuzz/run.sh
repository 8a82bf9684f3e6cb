#!/usr/bin/env bash
# Runs every fuzz target for a bounded time or number of executions and fails on the first crash.
#
#   fuzz/run.sh                          # 60 s per target
#   SECONDS_PER_TARGET=600 fuzz/run.sh
#   RUNS_PER_TARGET=10000000 fuzz/run.sh # stop each target after that many executions
#   fuzz/run.sh request form             # only these targets
#
# Runs on the stable toolchain: libFuzzer's instrumentation flags are unstable, and RUSTC_BOOTSTRAP=1
# lets stable rustc accept them (no nightly toolchain needed). Needs cargo-fuzz
# (`cargo install cargo-fuzz`). The corpus found is kept in fuzz/corpus/TARGET and minimized
# afterwards; crashes are written to fuzz/artifacts/TARGET.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
seconds="${SECONDS_PER_TARGET:-60}"
runs="${RUNS_PER_TARGET:-0}"
targets=(signature_header timestamp json_pointer envelope config request form store_record)
if [ "$#" -gt 0 ]; then targets=("$@"); fi
limit=(-max_total_time="$seconds")
if [ "$runs" -gt 0 ]; then limit=(-runs="$runs"); fi
cargo fuzz build -O
for t in "${targets[@]}"; do
    echo "== $t (${limit[*]})"
    mkdir -p "corpus/$t"
    log="$(mktemp)"
    status=0
    cargo fuzz run -O "$t" "corpus/$t" -- \
        "${limit[@]}" -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY)" "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -40 "$log" >&2
        echo "$t: crash (exit $status); the input is in fuzz/artifacts/$t" >&2
        exit 1
    fi
    rm -f "$log"
    cargo fuzz cmin -O "$t" "corpus/$t" >/dev/null 2>&1 || true
    echo "corpus/$t: $(ls "corpus/$t" | wc -l) inputs"
done
echo "all targets ran without a crash"
