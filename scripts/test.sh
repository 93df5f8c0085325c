#!/usr/bin/env bash
# Runs every check and test: generated files up to date, lint (rustfmt, clippy, mypy --strict), Rust (unit,
# property, integration, golden vectors) and Python (end-to-end against a real daemon, multi-process stress).
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
step "python"
SHMCALLD="$PWD/target/release/shmcalld" "$venv/bin/python" -m pytest python/tests -q
