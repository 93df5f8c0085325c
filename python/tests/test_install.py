"""One install: ``pip install`` of the repository into a fresh virtual environment gives ``import
shmcall`` and the ``shmcalld`` binary beside it, one version number, and a tour that runs from another
directory with nothing of the checkout on the path.

Cargo builds into the repository's ``target/`` (``CARGO_TARGET_DIR``), so after ``cargo build
--release`` the install reuses that build instead of compiling the daemon again.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from conftest import REPO

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

CARGO_VERSION: str = tomllib.loads((REPO / "Cargo.toml").read_text())["package"]["version"]


def run(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> str:
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh virtual environment with the repository installed, and the environment to run it in:
    none of the checkout's variables, the venv's bin/ first on PATH, a socket nobody listens on."""
    home = tmp_path_factory.mktemp("install")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SHMCALLD", "VIRTUAL_ENV")}
    run([sys.executable, "-m", "venv", str(home / "venv")], cwd=home, env=env, timeout=120)
    bin_dir = home / "venv" / "bin"
    build_env = {**env, "CARGO_TARGET_DIR": str(REPO / "target")}
    run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(REPO)],
        cwd=home, env=build_env, timeout=900)
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", SHMCALL_SOCKET=str(home / "none.sock"))
    yield bin_dir, env


def test_the_installed_package_finds_its_own_daemon_and_version(venv, tmp_path):
    bin_dir, env = venv
    probe = "import shmcall, shmcall._daemon as d; print(shmcall.__file__); print(shmcall.__version__); print(d.find_daemon())"
    file, version, daemon = run([str(bin_dir / "python"), "-c", probe], cwd=tmp_path, env=env, timeout=60).split()
    assert Path(file).is_relative_to(bin_dir.parent) and not Path(file).is_relative_to(REPO), file
    assert (Path(file).parent / "py.typed").is_file(), "the package says it is typed"
    assert version == CARGO_VERSION, "Cargo.toml's version is the package's"
    assert daemon == str(bin_dir / "shmcalld"), "the binary installed with the package comes first"


def test_shmcalld_is_on_path_with_the_same_version(venv, tmp_path):
    _, env = venv
    out = run(["shmcalld", "--version"], cwd=tmp_path, env=env, timeout=30)
    assert out.startswith(f"shmcalld {CARGO_VERSION} "), out


def test_the_tour_runs_from_another_directory(venv, tmp_path):
    bin_dir, env = venv
    out = run([str(bin_dir / "python"), "-m", "shmcall", "tour"], cwd=tmp_path, env=env, timeout=120)
    assert re.search(rf"^connected: <shmcall.Client shmcalld {re.escape(CARGO_VERSION)} pid \d+ at ", out, re.M), out
    assert re.search(r"add\(2, 3\)\s+-> 5$", out, re.M), out
    assert re.search(r"the daemon keeps serving: add\(1, 1\)\s+-> 2$", out, re.M), out
