#!/usr/bin/env bash
# The benchmark suite: every alternative side by side in one run, report under benchmarks/results/.
# Installs its Python packages into .venv; Go is used when `go` is on PATH (apt-get install golang-go).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${SHMCALL_VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r benchmarks/requirements.txt
cargo build --release --locked
exec "$venv/bin/python" benchmarks/run.py "$@"
