#!/usr/bin/env bash
# Runs every check and test: generated files up to date, lint (rustfmt, clippy, mypy --strict), Rust (unit,
# property, integration, golden vectors), Python (end-to-end against a real daemon, multi-process stress) and a
# short fuzzing run of every target.
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
RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps --locked -p shmcall
"$venv/bin/python" -m mypy --strict python/shmcall

step "rust"
cargo build --release --locked --workspace
cargo check --locked -p custom_daemon   # alone: the library without the built-ins must build
cargo test --locked --workspace
if pkg-config --exists openssl 2>/dev/null; then   # the optional OpenSSL crypto backend, where it can build
    cargo clippy --locked -p shmcall --all-targets --features openssl -- -D warnings
    cargo test --locked -p shmcall --features openssl --lib kernels::crypto
else
    echo "OpenSSL headers not installed (Debian: libssl-dev pkg-config): the 'openssl' feature is not tested"
fi
step "fuzz"
bash scripts/fuzz.sh 30   # every target 30 s; the long run: scripts/fuzz.sh --runs 10000000
step "python"   # last, so that its summary closes the run
SHMCALLD="$PWD/target/release/shmcalld" "$venv/bin/python" -m pytest python/tests -q
