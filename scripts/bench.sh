#!/usr/bin/env bash
# The benchmark suite: every alternative side by side in one run, report under benchmarks/results/.
# `--builtins` first instead times every built-in as README calls it against its in-process library
# (benchmarks/builtins.py; the rest of the arguments are its own, e.g. --quick).
# Installs its Python packages into .venv; Go is used when `go` is on PATH (apt-get install golang-go).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${SHMCALL_VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r benchmarks/requirements.txt
cargo build --release --locked
suite=benchmarks/run.py
if [ "${1:-}" = "--builtins" ]; then
    shift
    suite=benchmarks/builtins.py
fi
exec "$venv/bin/python" "$suite" "$@"
