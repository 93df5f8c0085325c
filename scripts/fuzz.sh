#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer, AddressSanitizer) of what a client controls:
# request decoding (`decode`), batch records (`batch`), release-queue entries (`release`) and the
# socket's control messages (`control`). Fails if any target crashes, hangs or breaks an assertion;
# the input is then in fuzz/artifacts/<target>/ (replay: cargo +nightly fuzz run <target> <file>),
# and becomes a test in tests/regression.rs with its fix.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   each target for SECONDS (default 45: the CI run)
#   scripts/fuzz.sh --runs N [TARGET...]    each target for N executions (the long run: N = 10000000)
#
# Needs the nightly toolchain (installed if missing, as is cargo-fuzz). The corpora grow in
# fuzz/corpus/ (not versioned), seeded from the golden vectors by fuzz/seeds.py.
set -euo pipefail
cd "$(dirname "$0")/.."

limit=(-max_total_time=45)
if [ "${1:-}" = --runs ]; then
    limit=(-runs="${2:?--runs needs a count}")
    shift 2
elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then
    limit=(-max_total_time="$1")
    shift
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode batch release control)

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

python3 fuzz/seeds.py
(cd fuzz && cargo +nightly fuzz build)

# The control target's daemon puts its socket under TMPDIR: a directory of this run's own.
TMPDIR=$(mktemp -d)
export TMPDIR
logs=$TMPDIR
trap 'rm -rf "$logs"' EXIT

failed=()
for t in "${targets[@]}"; do
    # Per target: the longest input worth trying (a request half is at most 16 + 1008 bytes), and
    # for `control`, no leak check: its daemon's threads outlive an input by design.
    case $t in
        decode | batch) extra=(-max_len=1040) ;;
        control) extra=(-dict=control.dict -detect_leaks=0) ;;
        *) extra=() ;;
    esac
    log=$logs/$t.log
    printf '== %s ' "$t"
    if (cd fuzz && cargo +nightly fuzz run "$t" -- "${limit[@]}" -timeout=30 -rss_limit_mb=4096 \
        -print_final_stats=1 "${extra[@]}") >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
        echo "ok: $runs executions, $rate/s, $cov"
    else
        echo "FAILED"
        grep -E 'panicked at|ERROR:|SUMMARY:|Test unit written' "$log" | head -8 || tail -30 "$log"
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found failures in: ${failed[*]} (inputs in fuzz/artifacts/)"
    exit 1
fi
