#!/usr/bin/env bash
# Runs every test: Rust (unit, property, integration, golden vectors) and Python (end-to-end against
# a real daemon, multi-process stress). Installs the Python test dependencies into .venv first.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${SHMCALL_VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r python/requirements-test.txt

cargo build --release --locked
cargo test --locked
SHMCALLD="$PWD/target/release/shmcalld" "$venv/bin/python" -m pytest python/tests -q
