"""Python values for in-out parameters: ``Ref`` (a scalar or text the function replaces) and ``Vec``
(a growable array the function may extend)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, Iterator, TypeVar

if TYPE_CHECKING:
    from numpy.typing import DTypeLike, NDArray

    from ._numpy import Array

__all__ = ["Ref", "Vec"]

T = TypeVar("T")


class Ref(Generic[T]):
    """A mutable cell for an in-out parameter (``&mut T``): read ``.value`` after the call.

    Made by ``Client.ref(type_name, value)``; the type name is checked against the parameter.
    """

    __slots__ = ("type_name", "value")

    def __init__(self, type_name: str, value: T) -> None:
        self.type_name = type_name
        self.value: T = value

    def __repr__(self) -> str:
        return f"Ref({self.type_name!r}, {self.value!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Ref):
            return self.type_name == other.type_name and self.value == other.value
        return NotImplemented


class Vec:
    """A growable array for ``&mut Vec<T>`` parameters.

    ``.array`` is its current contents (a numpy array, or without numpy a memoryview, or a list of
    struct objects). After a call that grows it, ``.array`` is the new, longer array, living in
    shared memory when it is large.
    """

    __slots__ = ("type_name", "array")

    def __init__(self, type_name: str, array: Array | list[Any]) -> None:
        self.type_name = type_name
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, index: Any) -> Any:
        return self.array[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.array)

    def tolist(self) -> list[Any]:
        """The contents as a list."""
        array = self.array
        if isinstance(array, list):
            return list(array)
        items: list[Any] = array.tolist()
        return items

    def __array__(self, dtype: DTypeLike | None = None, copy: bool | None = None) -> NDArray[Any]:
        import numpy as np

        return np.asarray(self.array, dtype=dtype)

    def __repr__(self) -> str:
        return f"Vec({self.type_name!r}, {self.tolist()!r})"
