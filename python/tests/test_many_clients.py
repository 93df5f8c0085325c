"""Many clients at once: 150 client processes connected together, every call verified, while the
daemon's threads stay within cores + 8 (channels that are not hot, and the sockets, wait in one
readiness set served by a pool of workers, not a thread each; the portable backend has a thread per
socket and per channel, two per client, by design). A short run of
``scripts/many_clients.py``; the long one (1000 clients) is ``.venv/bin/python scripts/many_clients.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from conftest import REPO, daemon_binary

CLIENTS = 150


def test_many_clients_share_a_few_daemon_threads_and_get_every_result_right() -> None:
    started = time.monotonic()
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "many_clients.py"), "--clients", str(CLIENTS),
                          "--binary", daemon_binary(), "--seconds", "50", "--json"],
                         capture_output=True, text=True, timeout=120)
    took = time.monotonic() - started
    assert out.stdout, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    figures = out.stdout + out.stderr[-4000:]
    new = result["new"]
    assert out.returncode == 0 and result["ok"], figures
    assert new["reported"] == CLIENTS and new["error_count"] == 0, figures
    assert new["calls_ok"] == CLIENTS * 20 and new["wrong"] == 0, figures
    per_client = 2 if new["transport"] == "stream" else 0
    assert new["threads_max"] <= (os.cpu_count() or 1) + 8 + per_client * (CLIENTS + 1), figures
    assert took < 60, figures
