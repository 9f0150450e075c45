"""Collection functions over arrays, strings and (where documented) objects."""
from __future__ import annotations

from typing import Any

from orderbridge.wdl._functions._common import (
    MAX_STRING_LENGTH,
    bad_type,
    describe,
    expect_array,
    expect_integer,
    expect_string,
    fail,
    is_number,
    to_text,
    type_name,
    values_equal,
)
from orderbridge.wdl._functions._spec import FunctionSpec


def contains(collection: Any, value: Any) -> bool:
    """Substring in a string, item in an array, key in an object; case-sensitive."""
    if isinstance(collection, str):
        return expect_string("contains", 2, value) in collection
    if isinstance(collection, list):
        return any(values_equal(item, value) for item in collection)
    if isinstance(collection, dict):
        return isinstance(value, str) and value in collection
    bad_type("contains", 1, "a string, an array or an object", collection)


def empty(collection: Any) -> bool:
    """Null counts as empty; numbers and booleans have no emptiness."""
    if collection is None:
        return True
    if isinstance(collection, (str, list, dict)):
        return len(collection) == 0
    bad_type("empty", 1, "a string, an array or an object", collection)


def first(collection: Any) -> Any:
    items = _sequence("first", collection)
    return items[0] if items else None


def last(collection: Any) -> Any:
    items = _sequence("last", collection)
    return items[-1] if items else None


def length(collection: Any) -> int:
    return len(_sequence("length", collection))


def take(collection: Any, count: Any) -> Any:
    items = _sequence("take", collection)
    return items[:_count("take", count)]


def skip(collection: Any, count: Any) -> list:
    items = expect_array("skip", 1, collection)
    return items[_count("skip", count):]


def reverse(collection: Any) -> list:
    return list(reversed(expect_array("reverse", 1, collection)))


def join(collection: Any, delimiter: Any) -> str:
    """Items become text like string() does; null items become ''."""
    items = expect_array("join", 1, collection)
    separator = expect_string("join", 2, delimiter)
    result = separator.join(to_text(item, "join") for item in items)
    if len(result) > MAX_STRING_LENGTH:
        fail("join", f"would return {len(result):,} characters, more than the "
                     f"{MAX_STRING_LENGTH:,} allowed", "Join fewer items.")
    return result


def chunk(collection: Any, size: Any) -> list:
    items = _sequence("chunk", collection)
    step = expect_integer("chunk", 2, size)
    if step <= 0:
        fail("chunk", f"got chunk length {step}", "Pass a length of 1 or more.")
    return [items[i:i + step] for i in range(0, len(items), step)]


def union(*collections: Any) -> Any:
    """All items without duplicates, first appearance first; for objects the last value wins."""
    kind = _same_kind("union", collections)
    if kind is dict:
        merged: dict = {}
        for collection in collections:
            merged.update(collection)
        return merged
    result: list = []
    for collection in collections:
        for item in collection:
            if not any(values_equal(item, seen) for seen in result):
                result.append(item)
    return result


def intersection(*collections: Any) -> Any:
    """Items present in every collection; for objects, keys present in all, last value wins."""
    kind = _same_kind("intersection", collections)
    if kind is dict:
        keys = [key for key in collections[0] if all(key in other for other in collections[1:])]
        return {key: collections[-1][key] for key in keys}
    result: list = []
    for item in collections[0]:
        in_all = all(any(values_equal(item, other) for other in rest) for rest in collections[1:])
        if in_all and not any(values_equal(item, seen) for seen in result):
            result.append(item)
    return result


def sort(collection: Any, sort_by: Any = None) -> list:
    """Sort primitives, or objects by a key holding primitives; mixed types cannot be ordered."""
    items = expect_array("sort", 1, collection)
    if sort_by is None:
        keys = list(items)
    else:
        key_name = expect_string("sort", 2, sort_by)
        keys = [_sort_key_of(item, key_name) for item in items]
    _check_sortable(keys)
    order = sorted(range(len(items)), key=lambda i: keys[i])
    return [items[i] for i in order]


def _sort_key_of(item: Any, key_name: str) -> Any:
    if not isinstance(item, dict) or key_name not in item:
        fail("sort", f"cannot find the key {key_name!r} in the item {describe(item)}",
             "Every item must be an object that has the sort key.")
    return item[key_name]


def _check_sortable(keys: list) -> None:
    kinds = {"number" if is_number(key) else type(key).__name__ for key in keys}
    if len(kinds) > 1 or kinds & {"list", "dict", "NoneType"}:
        fail("sort", f"can sort only values of one primitive type, but got {sorted(kinds)}",
             "Sort an array of numbers, strings or booleans, or pass a sort key.")


def _sequence(function: str, collection: Any) -> Any:
    if not isinstance(collection, (str, list)):
        bad_type(function, 1, "a string or an array", collection)
    return collection


def _count(function: str, count: Any) -> int:
    number = expect_integer(function, 2, count)
    if number < 0:
        fail(function, f"got count {number}", "Pass zero or a positive count.")
    return number


def _same_kind(function: str, collections: tuple) -> type:
    kinds = {type(collection) for collection in collections}
    if kinds not in ({list}, {dict}):
        got = ", ".join(type_name(collection) for collection in collections)
        fail(function, f"expects all arrays or all objects, but got {got}",
             "Pass collections of one kind.")
    return kinds.pop()


FUNCTIONS = (
    FunctionSpec("contains", contains, 2, 2),
    FunctionSpec("empty", empty, 1, 1),
    FunctionSpec("first", first, 1, 1),
    FunctionSpec("last", last, 1, 1),
    FunctionSpec("length", length, 1, 1),
    FunctionSpec("take", take, 2, 2),
    FunctionSpec("skip", skip, 2, 2),
    FunctionSpec("reverse", reverse, 1, 1),
    FunctionSpec("join", join, 2, 2),
    FunctionSpec("chunk", chunk, 2, 2),
    FunctionSpec("union", union, 1, None),
    FunctionSpec("intersection", intersection, 1, None),
    FunctionSpec("sort", sort, 1, 2),
)
