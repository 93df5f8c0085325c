#!/usr/bin/env bash
# Runs every check and test: generated files up to date, lint (rustfmt, clippy, mypy --strict), Rust (unit,
# property, integration, golden vectors), Python (end-to-end against a real daemon, multi-process stress) and a
# short fuzzing run of every target. The Python suite runs twice: against the Linux backend's daemon, then
# against the portable POSIX backend's (what macOS runs), built here with the `posix` feature.
# Installs the Python test dependencies into .venv first.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${SHMCALL_VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r python/requirements-test.txt

step() { printf '\n== %s\n' "$*"; }

step "generated files"
"$venv/bin/python" protocol/generate.py --check
step "lint"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy --workspace --all-targets --locked --features posix -- -D warnings
cargo clippy --workspace --all-targets --locked --features thread-workers -- -D warnings
RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps --locked -p shmcall
"$venv/bin/python" -m mypy --strict python/shmcall

step "rust"
cargo build --release --locked --workspace
cargo check --locked -p custom_daemon   # alone: the library without the built-ins must build
cargo test --locked --workspace   # includes the ring's ordering models (tests/handshake.rs, ~25 s unoptimized)
# The portable POSIX backend (shm_open segments, pipe doorbells, stream frames, a thread per descriptor), as
# macOS builds it: its unit tests, and the daemons the second Python run uses (a target directory of its own).
cargo test --locked -p shmcall --lib --features posix
cargo build --release --locked --workspace --features posix --target-dir target/posix
# The unsafe code of the codec, layout and heap modules under the nightly interpreter that checks it for
# undefined behaviour (its own target directory). Skipped: tests that create memfds (system calls it does not
# run), and the property tests of modules without unsafe code (interpreted, they take minutes).
cargo +nightly miri --version >/dev/null 2>&1 || rustup component add miri --toolchain nightly >/dev/null 2>&1 || true
if cargo +nightly miri --version >/dev/null 2>&1; then
    CARGO_TARGET_DIR=target/miri MIRIFLAGS=-Zmiri-disable-isolation PROPTEST_CASES=16 \
        cargo +nightly miri test --locked --lib -p shmcall -- codec:: layout:: heap:: \
        --skip heap::allocator::tests::random --skip heap::committed
else
    echo "no nightly toolchain with miri (rustup component add miri --toolchain nightly): unsafe code not interpreted"
fi
if pkg-config --exists openssl 2>/dev/null; then   # the optional OpenSSL crypto backend, where it can build
    cargo clippy --locked -p shmcall --all-targets --features openssl -- -D warnings
    cargo test --locked -p shmcall --features openssl --lib kernels::crypto
else
    echo "OpenSSL headers not installed (Debian: libssl-dev pkg-config): the 'openssl' feature is not tested"
fi
step "other platforms"   # type-checked and linted: 64-bit ARM macOS and Linux
bash scripts/cross_check.sh
step "fuzz"
bash scripts/fuzz.sh 30   # every target 30 s; the long run: scripts/fuzz.sh --runs 10000000
step "python: the Linux backend's daemon"   # last, so that the summaries close the run
SHMCALLD="$PWD/target/release/shmcalld" SHMCALL_EXPECT_TRANSPORT=seqpacket "$venv/bin/python" -m pytest python/tests -q
step "python: the portable POSIX backend's daemon (stream socket, pipe doorbells)"
SHMCALLD="$PWD/target/posix/release/shmcalld" SHMCALL_EXPECT_TRANSPORT=stream "$venv/bin/python" -m pytest python/tests -q
