"""Clients and processes: a client pickles as "connect to the same daemon", so it can be handed to
worker processes (whatever their start method); shared arrays pickle by value; a client inherited
through fork() refuses calls with a clear error rather than touch its parent's channels."""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import shmcall


def add_in_worker(c: shmcall.Client, a: int, b: int) -> tuple[int, int, str]:
    """Runs in a worker: the client arrived by pickle."""
    import os

    return c.add(a, b), os.getpid(), c.socket_path


def sum_in_worker(c: shmcall.Client, xs: np.ndarray) -> tuple[float, bool]:
    own = c.asarray(xs)  # the array arrived by value: a private copy, shared again here
    return c.sum(own), isinstance(xs, np.ndarray)


def call_inherited(c: shmcall.Client) -> str:
    try:
        c.add(1, 2)
    except shmcall.ShmcallError as e:
        return str(e)
    return "no error"


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_a_client_travels_to_pool_workers(daemon, method):
    with shmcall.connect(daemon.socket, spawn=False) as c, \
            ProcessPoolExecutor(2, mp_context=multiprocessing.get_context(method)) as pool:
        results = list(pool.map(add_in_worker, [c] * 8, range(8), range(100, 108)))
        assert [r[0] for r in results] == [i + 100 + i for i in range(8)]
        assert all(r[2] == daemon.socket for r in results)
        xs = c.asarray(np.arange(1000.0))
        total, private = pool.submit(sum_in_worker, c, xs).result(timeout=60)
        assert total == xs.sum() and private
        assert c.add(2, 3) == 5, "the parent's client is unaffected"


def test_pickle_round_trip_in_one_process(daemon):
    with shmcall.connect(daemon.socket, spawn=False) as c:
        copy = pickle.loads(pickle.dumps(c))
        try:
            assert copy is not c and copy.socket_path == c.socket_path and copy.add(1, 2) == 3
        finally:
            copy.close()
        xs = c.asarray(np.arange(5.0))
        back = pickle.loads(pickle.dumps(xs))
        back[0] = 42.0
        assert xs[0] == 0.0, "a shared array pickles by value"


def test_a_client_inherited_through_fork_refuses_clearly(daemon):
    with shmcall.connect(daemon.socket, spawn=False) as c:
        c.ping()
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(1) as pool:
            message = pool.apply(call_inherited, (c,))  # pickled: a client of its own, so it works
            assert message == "no error"
        queue = ctx.SimpleQueue()
        child = ctx.Process(target=_inherited_and_reports, args=(c, queue))  # forked: not pickled
        child.start()
        child.join(60)
        assert "connected before fork()" in queue.get()
        assert c.add(2, 3) == 5


def _inherited_and_reports(c: shmcall.Client, queue: "multiprocessing.SimpleQueue[str]") -> None:
    queue.put(call_inherited(c))
