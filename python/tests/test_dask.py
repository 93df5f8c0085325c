"""shmcall on a Dask cluster, against real processes: a ``distributed.LocalCluster`` of two worker
processes (one thread each) whose plugin starts one daemon for the host, and that daemon's
``--exit-when-idle`` rule, which lets it go once the cluster has.

The daemon's idle exit is tested without Dask too, so that it runs wherever the daemon does."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

import shmcall
from conftest import REPO, Daemon, daemon_binary

try:
    import dask.array as da
    from distributed import Client, LocalCluster

    import shmcall.dask
except ImportError as e:
    MISSING = f"Dask's distributed is not installed (pip install shmcall[dask]): {e}"
else:
    MISSING = ""

needs_dask = pytest.mark.skipif(bool(MISSING), reason=MISSING)

# What the tasks return: given, Dask does not call a task's function in this process to find out
# (which would connect this process to a daemon of its own).
F64 = np.empty(0, dtype=np.float64)
IDLE_EXIT = 1.0  # seconds: the daemons here exit one second after their last client
GUIDE = REPO / "docs" / "dask.md"


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, dead but not yet collected by its parent, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def wait_until_gone(pid: int, timeout: float) -> float:
    """Waits for ``pid`` to exit; returns how long that took."""
    start = time.monotonic()
    while running(pid):
        assert time.monotonic() - start < timeout, f"process {pid} still runs after {timeout} s"
        time.sleep(0.02)
    return time.monotonic() - start


# -- the daemon's idle exit ---------------------------------------------------------------------------


def test_an_idle_daemon_exits_after_its_last_client_and_not_before(tmp_path: Path) -> None:
    with Daemon(tmp_path / "idle.sock", "--exit-when-idle", str(IDLE_EXIT)) as d:
        with shmcall.connect(d.socket, spawn=False) as c:
            time.sleep(3 * IDLE_EXIT)
            assert d.proc.poll() is None, "a connected client keeps the daemon, however long it is quiet"
            assert c.add(2, 3) == 5
            closed = time.monotonic()
        code = d.proc.wait(timeout=10 * IDLE_EXIT)
        waited = time.monotonic() - closed
        assert code == 0, "an idle exit is a clean exit"
        assert IDLE_EXIT * 0.9 <= waited <= IDLE_EXIT + 3, f"exited {waited:.2f} s after the last client"
        assert not os.path.exists(d.socket), "the socket goes with the daemon"
        assert "no connection for 1s: shutting down" in (tmp_path / "idle.log").read_text()


def test_a_daemon_nobody_attaches_to_exits_after_the_same_grace(tmp_path: Path) -> None:
    start = time.monotonic()
    with Daemon(tmp_path / "unused.sock", "--exit-when-idle", "0.5") as d:
        assert d.proc.wait(timeout=10) == 0
        assert time.monotonic() - start >= 0.45, "a fresh daemon waits its grace for a first client"
        assert not os.path.exists(d.socket)


# -- optional: import shmcall without Dask, shmcall.dask without distributed --------------------------


def test_dask_stays_optional() -> None:
    code = """if True:
        import sys
        import shmcall
        assert "dask" not in sys.modules and "distributed" not in sys.modules, "import shmcall imported Dask"
        sys.modules["distributed"] = None  # as if it were not installed
        try:
            import shmcall.dask
        except ImportError as e:
            print(e)
        """
    env = {**os.environ, "PYTHONPATH": str(REPO / "python")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pip install shmcall[dask]" in out.stdout


# -- one daemon per host: the lock ----------------------------------------------------------------------


def attach_at_once(settings: Any, barrier: Any) -> int:
    """In a process of its own: waits for the others, then attaches (starting the daemon if none runs)
    and returns the daemon's pid once all have attached."""
    barrier.wait(timeout=30)
    c = shmcall.dask.configure(settings)
    barrier.wait(timeout=30)  # nobody lets go before all are attached: none may see the daemon exit
    pid = c.daemon.pid
    shmcall.dask.close()
    return pid


@needs_dask
def test_processes_starting_at_once_make_one_daemon(tmp_path: Path) -> None:
    settings = shmcall.dask.DaemonSettings(daemon_binary(), str(tmp_path / "shmcalld.sock"), idle_exit=IDLE_EXIT)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(4) as pool:
        barrier = manager.Barrier(4)
        pids = pool.starmap(attach_at_once, [(settings, barrier)] * 4, chunksize=1)
    assert len(set(pids)) == 1, f"the processes reached different daemons: {pids}"
    wait_until_gone(pids[0], 10 * IDLE_EXIT + 5)
    log = (tmp_path / "shmcalld.log").read_text()
    # One start: a second daemon would have refused the first one's live socket, and said so here.
    assert log.count("listening on") == 1 and "error" not in log, log


# -- on a cluster -------------------------------------------------------------------------------------
# The functions below run in the workers, which import this module to find them.


def daemon_pid() -> int:
    return shmcall.dask.client().daemon.pid


def block_sum(block: np.ndarray) -> np.ndarray:
    return np.array([shmcall.dask.client().sum(block)])


def block_scaled(block: np.ndarray, k: float) -> np.ndarray:
    out = shmcall.dask.client().asarray(block)  # a copy in shared memory: a task must not change its input
    shmcall.dask.client().scale(out, k)
    return out


def block_filled(block_info: dict[Any, Any] | None = None) -> np.ndarray:
    assert block_info is not None
    (length,), (index,) = block_info[None]["chunk-shape"], block_info[None]["chunk-location"]
    out = np.empty(length)
    shmcall.dask.client().prng_fill(out, index)  # each chunk its own stream, seeded by its position
    return out


def slow_block_sum(block: np.ndarray) -> np.ndarray:
    time.sleep(0.1)  # long enough for a worker to be killed mid-computation
    return block_sum(block)


class Cluster:
    """A local cluster of two worker processes, one thread each, with the plugin registered."""

    def __init__(self, socket_path: Path) -> None:
        self.socket = str(socket_path)
        self.cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                    silence_logs=logging.CRITICAL)
        self.client = Client(self.cluster)
        self.client.register_plugin(shmcall.dask.DaemonPlugin(daemon_binary(), self.socket, idle_exit=IDLE_EXIT))

    def daemon_pids(self) -> dict[str, int]:
        """The daemon each worker's client reports, by worker."""
        pids: dict[str, int] = self.client.run(daemon_pid)
        assert len(pids) == 2
        return pids

    def close(self) -> None:
        self.client.close()
        self.cluster.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if MISSING:
        pytest.skip(MISSING)
    c = Cluster(tmp_path_factory.mktemp("dask") / "shmcalld.sock")
    try:
        yield c
        pids = set(c.daemon_pids().values())
    finally:
        c.close()
    for pid in pids:  # the daemon goes with the cluster (tested below): no daemon outlives the tests
        wait_until_gone(pid, 10 * IDLE_EXIT + 5)


@needs_dask
def test_one_daemon_per_host_however_many_workers(cluster: Cluster) -> None:
    pids = set(cluster.daemon_pids().values())
    assert len(pids) == 1, f"the workers reached different daemons: {pids}"
    with shmcall.connect(cluster.socket, spawn=False) as c:
        assert {c.daemon.pid} == pids, "the one on the plugin's socket"
    workers = set(cluster.client.run(os.getpid).values())
    assert parent_of(pids.pop()) in workers, "started by a worker (the host lock let one of them)"


@needs_dask
def test_map_blocks_calls_the_daemon_on_every_chunk(cluster: Cluster) -> None:
    rng = np.random.default_rng(7)
    data = rng.random(200_000)
    xs = da.from_array(data, chunks=25_000)
    sums = xs.map_blocks(block_sum, chunks=(1,), meta=F64).compute()
    assert np.allclose(sums, data.reshape(8, -1).sum(axis=1))
    scaled = xs.map_blocks(block_scaled, 2.5, meta=F64).compute()
    assert np.array_equal(scaled, data * 2.5)
    assert np.array_equal(data, xs.compute()), "the chunks themselves are unchanged"
    filled = da.map_blocks(block_filled, chunks=((1000, 1000, 500),), meta=F64).compute()
    with shmcall.connect(cluster.socket, spawn=False) as c:
        for index, (start, stop) in enumerate([(0, 1000), (1000, 2000), (2000, 2500)]):
            expected = np.empty(stop - start)
            c.prng_fill(expected, index)
            assert np.array_equal(filled[start:stop], expected)


@needs_dask
def test_a_killed_worker_costs_its_tasks_not_the_computation(cluster: Cluster) -> None:
    (daemon,) = set(cluster.daemon_pids().values())
    starter = parent_of(daemon)
    workers = cluster.client.run(os.getpid)
    assert starter in workers.values(), "the daemon's own parent is a worker: kill that one"
    data = np.arange(240_000, dtype=np.float64)
    xs = da.from_array(data, chunks=10_000)  # 24 tasks of 0.1 s on two workers: over a second
    future = cluster.client.compute(xs.map_blocks(slow_block_sum, chunks=(1,), meta=F64))
    (address,) = [addr for addr, pid in workers.items() if pid == starter]
    deadline = time.monotonic() + 20
    while not cluster.client.processing([address])[address]:  # kill it with tasks in hand
        assert time.monotonic() < deadline, "the worker got no task"
        time.sleep(0.02)
    time.sleep(0.15)  # inside one, most likely
    assert not future.done(), "the computation must still be running when the worker dies"
    os.kill(starter, signal.SIGKILL)
    sums = future.result(timeout=60)
    assert np.array_equal(sums, data.reshape(24, -1).sum(axis=1)), "Dask ran the lost tasks again"
    cluster.client.wait_for_workers(2, timeout=30)  # the nanny restarted the killed worker
    assert set(cluster.daemon_pids().values()) == {daemon}, "the same daemon serves the new worker"
    assert running(daemon)
    with shmcall.connect(cluster.socket, spawn=False) as c:
        assert c.sum(data) == data.sum(), "and is healthy"


@needs_dask
def test_closing_the_cluster_stops_the_daemon_it_started(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path / "shmcalld.sock")
    try:
        (daemon,) = set(cluster.daemon_pids().values())
    finally:
        cluster.close()
    wait_until_gone(daemon, 10 * IDLE_EXIT + 5)
    assert not os.path.exists(cluster.socket), "the socket goes with it"
    log = (tmp_path / "shmcalld.log").read_text()
    assert "no connection for 1s: shutting down" in log, log


@needs_dask
def test_the_guide_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/dask.md, block by block; its cluster's workers start their daemon on a socket of the test's."""
    from test_docs import run_document

    socket_path = tmp_path / "guide.sock"
    monkeypatch.setenv("SHMCALL_SOCKET", str(socket_path))  # the workers inherit both
    monkeypatch.setenv("SHMCALLD", daemon_binary())
    monkeypatch.chdir(tmp_path)
    try:
        run_document(GUIDE)
    finally:
        if socket_path.exists():  # the guide's daemon would exit after 10 s idle: stop it now
            subprocess.run([daemon_binary(), "stop", "--socket", str(socket_path)], timeout=30, check=False,
                           capture_output=True)
