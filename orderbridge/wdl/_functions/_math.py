"""Math functions with the Logic Apps type rules: two integers give an integer (div truncates
toward zero, mod takes the dividend's sign), any float makes the result a float, and a decimal()
value keeps decimal precision."""
from __future__ import annotations

import math
import random
from decimal import Decimal
from typing import Any

from orderbridge.wdl._functions._common import (
    INT64_MAX,
    INT64_MIN,
    expect_array,
    expect_integer,
    expect_number,
    fail,
    is_integer,
)
from orderbridge.wdl._functions._spec import FunctionSpec

Number = int | float | Decimal

# Documented limits of range().
RANGE_MAX_COUNT = 100_000
INT32_MAX = 2_147_483_647


def _operands(function: str, left: Any, right: Any) -> tuple[Number, Number]:
    """Check both operands; mixing a decimal with a float computes in decimal."""
    a = expect_number(function, 1, left)
    b = expect_number(function, 2, right)
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return _to_decimal(a), _to_decimal(b)
    return a, b


def _to_decimal(value: Number) -> Decimal:
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def add(left: Any, right: Any) -> Number:
    a, b = _operands("add", left, right)
    return _checked("add", a + b)


def sub(left: Any, right: Any) -> Number:
    a, b = _operands("sub", left, right)
    return _checked("sub", a - b)


def mul(left: Any, right: Any) -> Number:
    a, b = _operands("mul", left, right)
    return _checked("mul", a * b)


def _checked(function: str, result: Number) -> Number:
    """Integers are 64-bit in Logic Apps; Python's would silently grow past that."""
    if is_integer(result) and not INT64_MIN <= result <= INT64_MAX:
        fail(function, f"overflows the 64-bit integer range with the result {result}",
             "Convert an operand to a float with float() for very large numbers.")
    return result


def div(dividend: Any, divisor: Any) -> Number:
    """Integer division truncates toward zero, like C#: div(11, 5) is 2, div(-11, 5) is -2."""
    a, b = _operands("div", dividend, divisor)
    _not_zero("div", b)
    if is_integer(a) and is_integer(b):
        quotient = abs(a) // abs(b)
        return quotient if (a >= 0) == (b > 0) else -quotient
    return a / b


def mod(dividend: Any, divisor: Any) -> Number:
    """The remainder takes the dividend's sign, like C#: mod(-5, 2) is -1."""
    a, b = _operands("mod", dividend, divisor)
    _not_zero("mod", b)
    if is_integer(a) and is_integer(b):
        remainder = abs(a) % abs(b)
        return remainder if a >= 0 else -remainder
    if isinstance(a, Decimal):
        return a % b  # Decimal's % already keeps the dividend's sign.
    return math.fmod(a, b)


def max_(*values: Any) -> Number:
    return max(_number_list("max", values))


def min_(*values: Any) -> Number:
    return min(_number_list("min", values))


def rand(min_value: Any, max_value: Any) -> int:
    """A random integer, inclusive at the lower end only, as documented."""
    low = expect_integer("rand", 1, min_value)
    high = expect_integer("rand", 2, max_value)
    if low >= high:
        fail("rand", f"got the range {low}..{high}", "The maximum must be greater than the minimum.")
    return random.randrange(low, high)


def range_(start_index: Any, count: Any) -> list[int]:
    start = expect_integer("range", 1, start_index)
    size = expect_integer("range", 2, count)
    if not 0 <= size <= RANGE_MAX_COUNT:
        fail("range", f"got count {size}", f"Pass a count between 0 and {RANGE_MAX_COUNT:,}.")
    if start + size > INT32_MAX:
        fail("range", f"got start {start} and count {size}, whose sum passes {INT32_MAX:,}",
             "Use a smaller start index or count.")
    return list(range(start, start + size))


def _number_list(function: str, values: tuple) -> list[Number]:
    """max()/min() take numbers, or one array of numbers."""
    single_array = len(values) == 1 and isinstance(values[0], list)
    items = expect_array(function, 1, values[0]) if single_array else list(values)
    if not items:
        fail(function, "got an empty array", "Pass at least one number.")
    return [expect_number(function, position, item) for position, item in enumerate(items, 1)]


def _not_zero(function: str, divisor: Number) -> None:
    if divisor == 0:
        fail(function, "cannot divide by zero", "Check the divisor before calling the function.")


FUNCTIONS = (
    FunctionSpec("add", add, 2, 2),
    FunctionSpec("sub", sub, 2, 2),
    FunctionSpec("mul", mul, 2, 2),
    FunctionSpec("div", div, 2, 2),
    FunctionSpec("mod", mod, 2, 2),
    FunctionSpec("max", max_, 1, None),
    FunctionSpec("min", min_, 1, None),
    FunctionSpec("rand", rand, 2, 2),
    FunctionSpec("range", range_, 2, 2),
)
