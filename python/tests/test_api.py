"""The public surface: one sorted ``__all__`` that is exactly the public names, every name documented,
and remote functions that look like Python functions."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import shmcall

from conftest import REPO, daemon_binary


def test_all_is_sorted_and_exactly_the_public_names():
    public = {n for n in vars(shmcall) if not n.startswith("_") and not inspect.ismodule(getattr(shmcall, n))}
    assert shmcall.__all__ == sorted(shmcall.__all__)
    assert set(shmcall.__all__) == public - {"annotations"}


def test_public_names_are_documented_and_claim_the_package():
    for name in shmcall.__all__:
        obj = getattr(shmcall, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, name
            assert obj.__module__ == "shmcall", name


def test_exception_tree():
    assert issubclass(shmcall.DaemonUnavailable, ConnectionError)
    assert issubclass(shmcall.ConnectionLost, ConnectionError)
    assert issubclass(shmcall.SharedMemoryExhausted, MemoryError)
    assert issubclass(shmcall.RemotePanic, shmcall.RemoteError)
    assert issubclass(shmcall.LimitExceeded, shmcall.ShmcallError)
    for cls in (shmcall.VersionMismatch, shmcall.CorruptResponse, shmcall.RequestRejected, shmcall.UnknownFunction):
        assert issubclass(cls, shmcall.ProtocolError)
    for name in shmcall.__all__:
        obj = getattr(shmcall, name)
        if inspect.isclass(obj) and issubclass(obj, Exception):
            assert issubclass(obj, shmcall.ShmcallError), name


def test_remote_functions_have_signatures_and_docstrings(c):
    sig = inspect.signature(c.hello_person)
    assert list(sig.parameters) == ["p", "timeout"]
    assert sig.parameters["p"].annotation == "Person | tuple[Any, ...]"  # Python types; Rust's in the doc
    assert sig.return_annotation == "Person"
    assert c.hello_person.__doc__.startswith("hello_person(p: Person) -> Person")
    assert "xiaohong" in c.hello_person.__doc__
    assert c.hello_person.__name__ == "hello_person"
    assert set(dir(c)) >= {"add", "hello", "sum", "sha256"}
    assert "f32, f64, i64" in c.sum.__doc__
    assert repr(c).startswith("<shmcall.Client")


def test_functions_command_lists_functions_and_generic_ones_with_their_overloads(c, capsys):
    from shmcall.__main__ import main

    assert main(["functions", "--socket", c.socket_path]) == 0
    out = capsys.readouterr().out
    assert "add(a: i64, b: i64) -> i64\n" in out
    assert "sum(xs: &[f32]) -> f32\n   (xs: &[f64]) -> f64\n   (xs: &[i64]) -> i64\n    Sum of the elements" in out


def test_the_client_says_which_daemon_it_talks_to(c, daemon):
    info = c.daemon
    assert isinstance(info, shmcall.DaemonInfo)
    assert info == ("shmcalld", shmcall.__version__, daemon.proc.pid, daemon.socket)
    assert repr(c) == f"<shmcall.Client shmcalld {shmcall.__version__} pid {daemon.proc.pid} at {daemon.socket}>"
    assert c.daemon_version == f"shmcalld {shmcall.__version__}"


def test_one_version_number_cargos():
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    cargo = tomllib.loads((REPO / "Cargo.toml").read_text())["package"]["version"]
    assert shmcall.__version__ == cargo
    out = subprocess.run([daemon_binary(), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith(f"shmcalld {cargo} (shmcall {cargo}, ")


def test_find_daemon_takes_shmcalld_then_the_checkouts_build_then_path(monkeypatch, tmp_path):
    from shmcall._daemon import find_daemon

    impostor = tmp_path / "shmcalld"
    impostor.write_text("#!/bin/sh\n")
    impostor.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("SHMCALLD", "/opt/elsewhere/shmcalld")
    assert find_daemon() == "/opt/elsewhere/shmcalld"
    monkeypatch.delenv("SHMCALLD")
    own = [REPO / "target" / "release" / "shmcalld", REPO / "target" / "debug" / "shmcalld",
           Path(sysconfig.get_path("scripts")) / "shmcalld"]
    expected = next((str(p) for p in own if p.is_file()), str(impostor))
    assert find_daemon() == expected, "the binary built from this checkout goes with its Python, PATH last"


def test_every_public_name_has_a_docstring():
    for module in (shmcall,):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                assert (obj.__doc__ or "").strip(), name
            if inspect.isclass(obj):
                for member, value in vars(obj).items():
                    if not member.startswith("_") and (inspect.isfunction(value) or isinstance(value, property)):
                        assert (value.__doc__ or "").strip(), f"{name}.{member}"
    assert "retry" in shmcall.ShmcallError.__doc__.lower() and "LimitExceeded" in shmcall.ShmcallError.__doc__
