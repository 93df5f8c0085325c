#!/usr/bin/env bash
# The main job: builds the daemon, starts it (privately, for this run) and calls every built-in
# function from Python. Needs only Rust and Python 3.10+; uses numpy if it is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
SHMCALLD="$PWD/target/release/shmcalld" PYTHONPATH="$PWD/python" python3 -m shmcall tour "$@"
