"""Logical comparison functions: and, or, not, if, equals, greater, less and their OrEquals twins."""
from __future__ import annotations

from typing import Any, Callable

from orderbridge.wdl._functions._common import compare_values, expect_boolean, values_equal
from orderbridge.wdl._functions._spec import FunctionSpec


def and_(*expressions: Any) -> bool:
    """True when every argument is true; every argument must be a boolean."""
    checked = [expect_boolean("and", i, value) for i, value in enumerate(expressions, 1)]
    return all(checked)


def or_(*expressions: Any) -> bool:
    """True when at least one argument is true; every argument must be a boolean."""
    checked = [expect_boolean("or", i, value) for i, value in enumerate(expressions, 1)]
    return any(checked)


def not_(expression: Any) -> bool:
    return not expect_boolean("not", 1, expression)


def if_(expression: Any, value_if_true: Any, value_if_false: Any) -> Any:
    return value_if_true if expect_boolean("if", 1, expression) else value_if_false


def equals(left: Any, right: Any) -> bool:
    """Logic Apps treats null as '' and true as 1 when comparing."""
    return values_equal(left, right)


def _ordering(name: str, accept: Callable[[int], bool]) -> FunctionSpec:
    def impl(value: Any, compare_to: Any) -> bool:
        return accept(compare_values(name, value, compare_to))

    impl.__name__ = name
    impl.__doc__ = f"{name}(): compare two numbers or two strings."
    return FunctionSpec(name, impl, 2, 2)


FUNCTIONS = (
    FunctionSpec("and", and_, 1, None),
    FunctionSpec("or", or_, 1, None),
    FunctionSpec("not", not_, 1, 1),
    FunctionSpec("if", if_, 3, 3),
    FunctionSpec("equals", equals, 2, 2),
    _ordering("greater", lambda order: order > 0),
    _ordering("greaterOrEquals", lambda order: order >= 0),
    _ordering("less", lambda order: order < 0),
    _ordering("lessOrEquals", lambda order: order <= 0),
)
