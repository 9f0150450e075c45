"""JSON manipulation functions: addProperty, setProperty, removeProperty, coalesce.

They return a new object and never change their input: an expression can read the same action
output several times in one run.
"""
from __future__ import annotations

from typing import Any

from orderbridge.wdl._functions._common import expect_object, expect_string, fail
from orderbridge.wdl._functions._spec import FunctionSpec


def add_property(obj: Any, name: Any, value: Any) -> dict:
    """Documented to fail when the property already exists (use setProperty to overwrite)."""
    source = expect_object("addProperty", 1, obj)
    key = expect_string("addProperty", 2, name)
    if key in source:
        fail("addProperty", f"cannot add the property {key!r} because the object already has it",
             "Use setProperty() to change an existing property.")
    return {**source, key: value}


def set_property(obj: Any, name: Any, value: Any) -> dict:
    source = expect_object("setProperty", 1, obj)
    return {**source, expect_string("setProperty", 2, name): value}


def remove_property(obj: Any, name: Any) -> dict:
    """Removing a property that does not exist returns the object unchanged, as documented."""
    source = expect_object("removeProperty", 1, obj)
    key = expect_string("removeProperty", 2, name)
    return {k: v for k, v in source.items() if k != key}


def coalesce(*values: Any) -> Any:
    """The first non-null argument; '', [] and {} are not null."""
    return next((value for value in values if value is not None), None)


FUNCTIONS = (
    FunctionSpec("addProperty", add_property, 3, 3),
    FunctionSpec("setProperty", set_property, 3, 3),
    FunctionSpec("removeProperty", remove_property, 2, 2),
    FunctionSpec("coalesce", coalesce, 1, None),
)
