"""The cache of generated call code on disk (`shmcall._codecache`): a process's first call of a
function loads the code an earlier process wrote and compiled, and gets the same results; an entry
that is damaged, foreign or in a directory others may write is never used."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO
from shmcall import _codecache

# Calls a few functions of different shapes; with FORBID set, writing or compiling code raises once
# connected, so the calls can only have run code loaded from the cache.
PROGRAM = """
import builtins, sys
sys.path.insert(0, {python!r})
import shmcall
from shmcall import _fastpath
with shmcall.connect({socket!r}, spawn=False) as c:
    if {forbid!r}:  # from here on: connecting compiles struct constructors, a few lines each
        def forbidden(*args, **kwargs):
            raise AssertionError("code was written or compiled, not loaded")
        _fastpath._Writer = forbidden
        builtins.compile = forbidden
    for _ in range(3):
        assert c.add(2, 3) == 5
        assert c.hello("cache") == "hello cache"
        assert c.hello_person(("xiaoming", 18)) == c.types.Person("xiaohong", 18)
        assert len(c.sha256(b"abc")) == 32
        assert c.sum([1.5, 2.5]) == 4.0
    assert "def add(" in c.add.source
print("ok")
"""


def run(daemon, cache: str, forbid: bool) -> subprocess.CompletedProcess[str]:
    code = PROGRAM.format(python=str(REPO / "python"), socket=daemon.socket, forbid=forbid)
    env = {**os.environ, "SHMCALL_CACHE_DIR": cache}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)


def test_a_later_process_loads_the_code_an_earlier_one_wrote(daemon, tmp_path):
    cache = str(tmp_path / "cache")
    out = run(daemon, cache, forbid=True)
    assert "code was written or compiled" in out.stderr, "an empty cache cannot serve the first process"
    out = run(daemon, cache, forbid=False)
    assert out.stdout.strip() == "ok", out.stderr
    assert os.listdir(cache)
    out = run(daemon, cache, forbid=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_damaged_or_foreign_entries_are_misses(daemon, tmp_path):
    cache = tmp_path / "cache"
    assert run(daemon, str(cache), forbid=False).stdout.strip() == "ok"
    entries = sorted(cache.iterdir())
    entries[0].write_bytes(b"not marshal data")
    entries[1].write_bytes(entries[2].read_bytes())  # an entry under another key's name
    out = run(daemon, str(cache), forbid=False)
    assert out.stdout.strip() == "ok", out.stderr
    out = run(daemon, str(cache), forbid=True)  # rewritten by the run before
    assert out.stdout.strip() == "ok", out.stderr


def test_a_directory_others_may_write_is_not_used(daemon, tmp_path):
    cache = tmp_path / "cache"
    assert run(daemon, str(cache), forbid=False).stdout.strip() == "ok"
    cache.chmod(0o777)
    try:
        out = run(daemon, str(cache), forbid=True)
        assert "code was written or compiled" in out.stderr
    finally:
        cache.chmod(0o700)


def test_an_empty_setting_turns_the_cache_off(daemon, tmp_path, monkeypatch):
    assert run(daemon, "", forbid=False).stdout.strip() == "ok"
    monkeypatch.setitem(_codecache._state, "dir", None)
    _codecache.store("code", "x = 1", compile("x = 1", "<t>", "exec"))
    assert _codecache.load("code", "x = 1") is None


def test_values_round_trip_and_keys_do_not_collide(tmp_path, monkeypatch):
    monkeypatch.setitem(_codecache._state, "dir", str(tmp_path))
    _codecache.store("fast", ("add", 1), ("source", "add", (("names",), "std", "struct")))
    assert _codecache.load("fast", ("add", 1)) == ("source", "add", (("names",), "std", "struct"))
    assert _codecache.load("fast", ("add", 2)) is None
    assert _codecache.load("code", ("add", 1)) is None
