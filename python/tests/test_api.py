"""The public surface: one sorted ``__all__`` that is exactly the public names, every name documented,
and remote functions that look like Python functions."""

from __future__ import annotations

import inspect

import shmcall


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
    for cls in (shmcall.VersionMismatch, shmcall.CorruptResponse, shmcall.RequestRejected, shmcall.UnknownFunction):
        assert issubclass(cls, shmcall.ProtocolError)
    for name in shmcall.__all__:
        obj = getattr(shmcall, name)
        if inspect.isclass(obj) and issubclass(obj, Exception):
            assert issubclass(obj, shmcall.ShmcallError), name


def test_remote_functions_have_signatures_and_docstrings(c):
    sig = inspect.signature(c.hello_person)
    assert list(sig.parameters) == ["p", "timeout"]
    assert sig.parameters["p"].annotation == "Person"
    assert sig.return_annotation == "Person"
    assert "xiaohong" in c.hello_person.__doc__
    assert c.hello_person.__name__ == "hello_person"
    assert set(dir(c)) >= {"add", "hello", "sum", "sha256"}
    assert "f32, f64, i64" in c.sum.__doc__
    assert repr(c).startswith("<shmcall.Client")


def test_functions_command_lists_functions_and_families(c, capsys):
    from shmcall.__main__ import main

    assert main(["functions", "--socket", c.socket_path]) == 0
    out = capsys.readouterr().out
    assert "add(a: i64, b: i64) -> i64\n" in out
    assert "sum(xs, ...): one of f32, f64, i64" in out
