"""Function families: functions named ``<base>_<type>`` (``sum_f64``, ``sum_i64``) are also served
as one function ``<base>`` (``c.sum``) that picks the member by the element type of its first
argument."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

from ._numpy import HAVE_NUMPY, np
from ._scalars import SCALARS
from ._values import Vec

if TYPE_CHECKING:
    from ._function import RemoteMethod

__all__: list[str] = []


class Family(Protocol):
    """A family as a method of the client: ``family(client, xs, ...)``."""

    members: dict[str, RemoteMethod]  # by element type name
    __name__: str
    __qualname__: str

    def __call__(self, client: object, xs: object, /, *args: Any, **kwargs: Any) -> Any: ...


# Element type names by numpy dtype (a dict lookup: numpy's ``dtype.name`` takes microseconds), by
# numpy's name for the type, and by memoryview format.
_BY_DTYPE = {np.dtype(spec.dtype_name): name for name, spec in SCALARS.items()} if HAVE_NUMPY else {}
_BY_DTYPE_NAME = {spec.dtype_name: name for name, spec in SCALARS.items()}
_BY_FORMAT: dict[str, str] = {spec.buffer_format: name for name, spec in SCALARS.items() if spec.buffer_format}


def families(functions: dict[str, RemoteMethod]) -> dict[str, dict[str, RemoteMethod]]:
    """The families among ``functions``: members by element type, by base name. A base name that
    is a function's own keeps that function."""
    groups: dict[str, dict[str, RemoteMethod]] = {}
    for name, f in functions.items():
        base, _, suffix = name.rpartition("_")
        if base and suffix in SCALARS and base not in functions:
            groups.setdefault(base, {})[suffix] = f
    return groups


def element_name(xs: object) -> str:
    """The element type of an array, a ``Vec``, a memoryview or a list of numbers."""
    if HAVE_NUMPY and isinstance(xs, np.ndarray):
        dtype = xs.dtype
        return _BY_DTYPE.get(dtype) or _BY_DTYPE_NAME.get(dtype.name, dtype.name)
    if isinstance(xs, Vec):
        return xs.type_name
    if isinstance(xs, memoryview):
        return _BY_FORMAT.get(xs.format.lstrip("@=<"), xs.format)
    if isinstance(xs, (list, tuple)):
        return "f64" if any(isinstance(x, float) for x in xs) else "i64"
    return type(xs).__name__


def make_family(base: str, members: dict[str, RemoteMethod]) -> Family:
    """One callable for a family, choosing the member by the first argument's element type."""

    def family(client: object, xs: object, *args: Any, **kwargs: Any) -> Any:
        member = members.get(element_name(xs))
        if member is None:
            raise TypeError(f"{base}() takes arrays of {', '.join(sorted(members))}; got {element_name(xs)}")
        return member(client, xs, *args, **kwargs)

    method = cast("Family", family)
    method.__name__ = method.__qualname__ = base
    method.__module__ = "shmcall.remote"
    method.__doc__ = f"{base}(xs, ...): one of {', '.join(sorted(members))}, chosen by the element type of xs.\n\n" + (
        next(iter(members.values())).__doc__ or "")
    method.members = dict(members)
    return method
