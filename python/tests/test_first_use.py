"""Connecting generates no code: each function's call code is made when the function is first used,
and only for that function. Before that, ``help`` and ``inspect.signature`` already show what the
function will be; after, the function itself stands on the client's class."""

from __future__ import annotations

import inspect
import pydoc
import threading

import pytest

import shmcall
from conftest import run_threads
from shmcall import _fastpath

ADD = "(self, a: 'int', b: 'int', *, timeout: 'float | None' = None) -> 'int'"


@pytest.fixture
def made(monkeypatch):
    """The file names of the code generated from now on, in order."""
    names: list[str] = []
    real = _fastpath.define

    def counted(source, filename, *args):
        names.append(filename)
        return real(source, filename, *args)

    monkeypatch.setattr(_fastpath, "define", counted)
    return names


def test_connect_makes_no_function_and_a_call_makes_its_own_only(daemon, made):
    with shmcall.connect(daemon.socket, spawn=False) as k:
        own = vars(type(k))
        assert made == [] and not any(inspect.isfunction(own[n]) for n in dir(k.functions) if n in own)
        assert str(inspect.signature(own["add"])) == ADD  # documented before first use
        text = pydoc.plain(pydoc.render_doc(k))  # what help(k) shows
        assert f"add{ADD}" in text and "Returns a + b" in text
        assert made == []
        assert k.add(2, 3) == 5
        assert made == ["<shmcall fast add>"]
        assert inspect.isfunction(own["add"]), "the function itself replaces its placeholder on the class"
        assert str(inspect.signature(k.add)) == ADD.replace("self, ", "")
        assert k.functions.hello("x") == "hello x" and k.hello("y") == "hello y"
        assert made == ["<shmcall fast add>", "<shmcall fast hello>"]
        assert k.add.source == k.functions.add.source


def test_the_source_of_a_function_not_yet_called_is_there(daemon, made):
    with shmcall.connect(daemon.socket, spawn=False) as k:
        assert k.hello_person.source.startswith("# hello_person(p: Person) -> Person\n")
        assert made == ["<shmcall fast hello_person>"]


def test_a_function_reached_first_by_many_threads_is_made_once(daemon, made):
    with shmcall.connect(daemon.socket, spawn=False) as k:
        start = threading.Barrier(8)

        def work(i: int) -> None:
            start.wait()
            assert k.add(i, 1) == i + 1

        run_threads(work, 8, timeout=30)
        assert made == ["<shmcall fast add>"]


def test_a_function_captured_before_its_first_call_is_the_function(daemon):
    with shmcall.connect(daemon.socket, spawn=False) as k:
        add = k.add
        assert add(1, 2) == 3 and add.__func__ is vars(type(k))["add"]
