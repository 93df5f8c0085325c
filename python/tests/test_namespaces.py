"""``c.functions`` and ``c.types``: read-only mappings whose keys are also attributes."""

from __future__ import annotations

import inspect

import pytest


def test_functions_is_a_read_only_mapping_with_attributes(c):
    names = [f["name"] for f in c.manifest["functions"]]
    assert sorted(c.functions) == sorted(names) and len(c.functions) == len(names)
    assert "add" in c.functions and "no_such_function" not in c.functions
    assert c.functions["add"](2, 3) == 5 and c.functions.add(2, 3) == 5
    assert dict(c.functions.items())["hello"]("x") == "hello x"
    assert inspect.signature(c.functions["add"]) == inspect.signature(c.add)
    with pytest.raises(KeyError):
        c.functions["no_such_function"]
    with pytest.raises(AttributeError, match="no function 'no_such_function'"):
        c.functions.no_such_function
    with pytest.raises(AttributeError, match="cannot be changed"):
        c.functions.add = print
    with pytest.raises(TypeError):
        c.functions["add"] = print  # type: ignore[index]


def test_types_is_a_read_only_mapping_with_attributes(c):
    names = [s["name"] for s in c.manifest["structs"]]
    assert sorted(c.types) == sorted(names) and len(c.types) == len(names)
    assert c.types["Person"] is c.types.Person and "Point" in c.types
    assert c.types.Person("a", 1).age == 1
    with pytest.raises(KeyError):
        c.types["Nope"]
    with pytest.raises(AttributeError, match="no struct type 'Nope'"):
        c.types.Nope
    with pytest.raises(AttributeError, match="cannot be changed"):
        c.types.Person = int


def test_a_function_named_like_a_mapping_method_is_reached_by_key(c):
    assert callable(c.functions.keys) and list(c.functions.keys()) == sorted(c.functions)
    assert "add" in dir(c) and "add" in dir(c.functions)
