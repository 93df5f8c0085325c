#!/usr/bin/env bash
# The main job: installs shmcall into .venv with `pip install .` (the Python package and the `shmcalld`
# binary, which cargo builds), then runs the tour from it: a private daemon started for this run, every
# built-in function called once from Python. Needs only Rust and Python 3.10+; uses numpy if installed.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${SHMCALL_VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
echo "installing shmcall into $venv (the first build compiles the daemon: a few minutes)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check .
# The installed package and binary, not the checkout's: nothing here points at python/ or target/.
env -u PYTHONPATH -u SHMCALLD "$venv/bin/python" -m shmcall tour "$@"
