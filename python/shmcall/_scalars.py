"""The scalar wire types (SPEC §4) and how Python's libraries spell each."""

from __future__ import annotations

from typing import Literal, NamedTuple, TypeAlias

__all__: list[str] = []

#: A memoryview's format for a scalar; "" for the complex types, which memoryviews lack.
BufferFormat: TypeAlias = Literal["b", "h", "i", "q", "B", "H", "I", "Q", "f", "d", "?", ""]


class Scalar(NamedTuple):
    """One scalar type."""

    struct_format: str  # `struct` format (two items for a complex)
    size: int
    align: int
    kind: Literal["int", "float", "bool", "complex"]  # the Python type its values have
    dtype_name: str  # numpy's name for it
    buffer_format: BufferFormat


SCALARS: dict[str, Scalar] = {
    "i8": Scalar("b", 1, 1, "int", "int8", "b"),
    "i16": Scalar("h", 2, 2, "int", "int16", "h"),
    "i32": Scalar("i", 4, 4, "int", "int32", "i"),
    "i64": Scalar("q", 8, 8, "int", "int64", "q"),
    "u8": Scalar("B", 1, 1, "int", "uint8", "B"),
    "u16": Scalar("H", 2, 2, "int", "uint16", "H"),
    "u32": Scalar("I", 4, 4, "int", "uint32", "I"),
    "u64": Scalar("Q", 8, 8, "int", "uint64", "Q"),
    "f32": Scalar("f", 4, 4, "float", "float32", "f"),
    "f64": Scalar("d", 8, 8, "float", "float64", "d"),
    "bool": Scalar("?", 1, 1, "bool", "bool", "?"),
    "c64": Scalar("ff", 8, 4, "complex", "complex64", ""),
    "c128": Scalar("dd", 16, 8, "complex", "complex128", ""),
}

# Friendly spellings accepted wherever a type name is (``c.empty(3, "float64")``).
ALIASES = {
    "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64", "uint8": "u8", "uint16": "u16",
    "uint32": "u32", "uint64": "u64", "float32": "f32", "float64": "f64", "complex64": "c64",
    "complex128": "c128", "float": "f64", "int": "i64", "complex": "c128",
}

#: The zero of each kind: a field's default value.
ZEROS: dict[str, int | float | bool | complex] = {"int": 0, "float": 0.0, "bool": False, "complex": 0j}
