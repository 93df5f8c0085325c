"""Read-only mappings whose keys are also attributes: ``c.functions`` and ``c.types``.

``c.types.Person`` reads as code does, ``c.types["Person"]``, ``"Person" in c.types``, ``len`` and
iteration as a program that walks a daemon's manifest needs; the mapping cannot be changed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Callable, Generic, TypeVar

__all__: list[str] = []

V = TypeVar("V")


class Namespace(Mapping[str, V], Generic[V]):
    """A read-only mapping of names to values, each value also an attribute of that name (unless
    the name is one of the mapping's own methods, such as ``keys``: then ``[name]`` reaches it).
    Values may be made on first access (``make``), once each."""

    __slots__ = ("_kind", "_names", "_made", "_make")

    def __init__(self, kind: str, names: list[str], make: Callable[[str], V]) -> None:
        self._kind = kind  # what the values are, for messages: "function", "struct type"
        self._names = tuple(sorted(names))
        self._made: dict[str, V] = {}
        self._make = make

    def __getitem__(self, name: str) -> V:
        value = self._made.get(name)
        if value is None:
            if name not in self._names:
                raise KeyError(name)
            value = self._made[name] = self._make(name)
        return value

    def __getattr__(self, name: str) -> V:
        if name.startswith("__") or name in Namespace.__slots__:
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"the daemon has no {self._kind} {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in Namespace.__slots__ and not hasattr(self, name):
            object.__setattr__(self, name, value)  # set once, by __init__
            return
        raise AttributeError(f"the daemon's {self._kind}s cannot be changed")

    def __dir__(self) -> list[str]:
        return sorted(set(self._names) | set(dir(type(self))))

    def __repr__(self) -> str:
        return f"<shmcall {self._kind}s: {', '.join(self._names)}>"
