"""Generated call code kept on disk, so that a process's first call of a function loads its code
(tens of µs) instead of writing and compiling it again (0.5-1.5 ms a function).

An entry holds what `_fastpath` wrote for one function shape (its source, recipe and compiled code)
or the code compiled from one source. It is found by a hash of its key together with the Python
version and the package's own source files (their sizes and modification times), so a changed
package or interpreter never meets an old entry, and it holds its key to guard against a stale or
foreign file under that name. Anything unreadable is a miss; anything unwritable is skipped.

The directory is ``$SHMCALL_CACHE_DIR``, else ``$XDG_CACHE_HOME/shmcall``, else ``~/.cache/shmcall``;
``SHMCALL_CACHE_DIR=`` (empty) turns the cache off. Like ``__pycache__`` it holds code that will
run, so it is used only if it belongs to the user and nobody else can write to it.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import stat
import sys
import tempfile
from pathlib import Path
from types import CodeType
from typing import Any

__all__: list[str] = []

#: Changes whenever what an entry holds changes shape.
FORMAT = 1

_PACKAGE = Path(__file__).resolve().parent
_state: dict[str, Any] = {}  # "dir": the directory (None: off), "fingerprint": bytes


def directory() -> str | None:
    """Where entries live, or None if the cache is off."""
    if "dir" not in _state:
        configured = os.environ.get("SHMCALL_CACHE_DIR")
        if configured is not None:
            _state["dir"] = os.path.abspath(configured) if configured else None
        else:
            base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
            _state["dir"] = os.path.join(base, "shmcall")
    found: str | None = _state["dir"]
    return found


def _fingerprint() -> bytes:
    """What every entry depends on beside its key: this interpreter and this package's sources."""
    fingerprint: bytes | None = _state.get("fingerprint")
    if fingerprint is None:
        h = hashlib.sha256(f"{FORMAT} {sys.version} {marshal.version} {sys.implementation.cache_tag}".encode())
        with os.scandir(_PACKAGE) as entries:  # not pathlib's glob: a first call waits for this
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.name.endswith(".py"):
                    st = entry.stat()
                    h.update(f"{entry.name} {st.st_size} {st.st_mtime_ns}\n".encode())
        fingerprint = _state["fingerprint"] = h.digest()
    return fingerprint


def _entry(kind: str, key: Any) -> tuple[str, str] | None:
    """The directory, the file name of ``key``'s entry and the key's text, or None if the cache is
    off. Plain strings, not paths: a first call waits for this, and pathlib's joins cost 20-40 µs."""
    where = directory()
    if where is None:
        return None
    text = f"{kind} {key!r}"
    return os.path.join(where, hashlib.sha256(_fingerprint() + text.encode()).hexdigest()[:40] + ".bin"), text


def _trusted(where: str) -> bool:
    """The directory is ours and only we can write to it (checked once per process once true)."""
    if _state.get("trusted") == where:
        return True
    try:
        st = os.stat(where)
    except OSError:
        return False
    if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022:
        _state["trusted"] = where
        return True
    return False


def load(kind: str, key: Any) -> Any:
    """The value stored for ``key`` (of ``kind``), or None."""
    entry = _entry(kind, key)
    if entry is None:
        return None
    path, text = entry
    if not _trusted(os.path.dirname(path)):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:  # os calls, not a buffered file: a first call waits for this
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        data = b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        stored_text, value = marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        return None
    return value if stored_text == text else None


def store(kind: str, key: Any, value: Any) -> None:
    """Stores ``value`` (strings, numbers, tuples, code objects) for ``key``; quietly not at all if the
    directory cannot be made or written."""
    entry = _entry(kind, key)
    if entry is None:
        return
    path, text = entry
    where = os.path.dirname(path)
    try:
        os.makedirs(where, mode=0o700, exist_ok=True)
        if not _trusted(where):
            return
        data = marshal.dumps((text, value))
        fd, tmp = tempfile.mkstemp(dir=where, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)  # readers see a whole entry or none
        except BaseException:
            os.unlink(tmp)
            raise
    except (OSError, ValueError):
        return


def compiled(source: str, filename: str) -> CodeType:
    """``source`` compiled under ``filename``: by an earlier process if it stored it, else now."""
    code = load("code", source)
    if type(code) is CodeType:
        return renamed(code, filename)
    code = compile(source, filename, "exec")
    store("code", source, code)
    return code


def renamed(code: CodeType, filename: str) -> CodeType:
    """``code`` and the code objects it holds, under ``filename`` (what tracebacks show)."""
    if code.co_filename == filename:
        return code
    consts = tuple(renamed(c, filename) if isinstance(c, CodeType) else c for c in code.co_consts)
    return code.replace(co_consts=consts, co_filename=filename)


# Taken when the package is imported (~0.2 ms, beside numpy's 100 ms), not at a process's first call,
# which waits for it otherwise.
if directory() is not None:
    _fingerprint()
