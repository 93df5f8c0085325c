"""Where this copy of the package comes from: a source checkout (the repository's ``python/``) or an
installed distribution. That decides its version and which ``shmcalld`` binary belongs with it."""

from __future__ import annotations

import re
import sysconfig
from pathlib import Path

__all__: list[str] = []

_HERE = Path(__file__).resolve().parent


def checkout() -> Path | None:
    """The root of the source checkout this package is imported from, or None if it is installed."""
    root = _HERE.parents[1]
    if _HERE.parent.name == "python" and (root / "Cargo.toml").is_file() and (root / "pyproject.toml").is_file():
        return root
    return None


def version() -> str:
    """The package version, which is the Rust package's: in a checkout, read from its Cargo.toml
    (an installed copy of another version may be on the path too); else the distribution's."""
    root = checkout()
    if root is not None:
        text = (root / "Cargo.toml").read_text(encoding="utf-8")
        package = re.search(r"^\[package\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
        found = re.search(r'^version\s*=\s*"([^"]+)"', package.group(1), re.M) if package else None
        if found:
            return found.group(1)
    from importlib import metadata  # only here: importing it costs milliseconds

    try:
        return metadata.version("shmcall")
    except metadata.PackageNotFoundError:
        return "unknown"


def own_binaries(name: str) -> list[Path]:
    """Where the binary ``name`` built with this package would be: the scripts directory the package
    was installed with (the venv's ``bin/``); in a checkout, its ``target/`` (release, then debug)
    first, as an install may be older than the source."""
    root = checkout()
    built = [root / "target" / profile / name for profile in ("release", "debug")] if root is not None else []
    return [*built, _scripts_directory() / name]


def _scripts_directory() -> Path:
    """The scripts directory of the installation scheme whose site-packages hold this package (the
    interpreter's own, or the user's for ``pip install --user``)."""
    site = _HERE.parent
    for scheme in (sysconfig.get_default_scheme(), sysconfig.get_preferred_scheme("user")):
        paths = sysconfig.get_paths(scheme)
        if site in (Path(paths["purelib"]).resolve(), Path(paths["platlib"]).resolve()):
            return Path(paths["scripts"])
    return Path(sysconfig.get_path("scripts"))
