"""Clients SIGKILLed at random points of their work (idle, inside a long call, while results arrive,
holding shared arrays, allocating, inside a batch, from several threads) while two steady clients
check every result: the steady clients see no error and no wrong result, and once the daemon has
noticed every death its descriptors, threads and shared-memory mappings are what they were before
the first kill, and its memory within the script's tolerance. A short run of ``scripts/kill_loop.py``;
the long one (1000 kills) is ``.venv/bin/python scripts/kill_loop.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from conftest import REPO, daemon_binary

KILLS = 50


def test_killed_clients_leave_nothing_behind_and_steady_clients_see_nothing() -> None:
    env = {**os.environ, "SHMCALLD": daemon_binary()}
    started = time.monotonic()
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "kill_loop.py"), "--kills", str(KILLS),
                          "--seconds", "40", "--seed", "7", "--json"],
                         capture_output=True, text=True, timeout=120, env=env)
    took = time.monotonic() - started
    assert out.stdout, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    figures = out.stdout + out.stderr[-4000:]
    assert out.returncode == 0 and result["ok"], figures
    assert took < 60, figures
    assert set(result["warm_up_kills"].values()) == {3}, "every kind of victim was killed in the warm-up"
    assert result["kills_total"] == KILLS and not result["failures"], figures
    assert result["calls_verified"] > 1000 and result["wrong"] == 0 and not result["errors"], figures
    cold, before, after = result["cold"], result["before"], result["after"]
    for name in ("fds", "threads", "shared_mapped"):
        assert cold[name] == before[name] == after[name], (name, figures)
    for name in ("rss", "mapped"):
        assert after[name] <= before[name] + (4 << 20), (name, figures)
