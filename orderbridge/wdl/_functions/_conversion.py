"""Conversion functions: array, createArray, bool, int, float, decimal, string, json, isInt, isFloat."""
from __future__ import annotations

import json as json_module
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from orderbridge.wdl._functions import _locales
from orderbridge.wdl._functions._common import (
    INT64_MAX,
    INT64_MIN,
    describe,
    expect_string,
    fail,
    is_envelope,
    is_integer,
    is_number,
    to_text,
)
from orderbridge.wdl._functions._spec import FunctionSpec

_INTEGER = re.compile(r"\s*([+-]?)([0-9]+)\s*")


def array(value: Any) -> list:
    return [value]


def create_array(*values: Any) -> list:
    return list(values)


def string(value: Any) -> str:
    """Text of any value: null is '', objects and arrays become compact JSON text."""
    return to_text(value)


def bool_(value: Any) -> bool:
    """Numbers are true unless zero; only the strings 'true' and 'false' (any case) convert."""
    if isinstance(value, bool):
        return value
    if is_number(value):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    fail("bool", f"cannot convert {describe(value)} to a boolean",
         "Pass a number, or the string 'true' or 'false'.")


def int_(value: Any) -> int:
    """int('abc') fails; the text must be a whole number within the 64-bit range."""
    if is_integer(value):
        return value
    if isinstance(value, float) and value.is_integer() or isinstance(value, Decimal) and value % 1 == 0:
        return _in_int64_range(int(value))
    parsed = _parse_integer(value) if isinstance(value, str) else None
    if parsed is None:
        fail("int", f"cannot convert {describe(value)} to an integer",
             "Pass text that holds a whole number such as '10'; check it first with isInt().")
    return _in_int64_range(parsed)


def is_int(value: Any) -> bool:
    parsed = _parse_integer(expect_string("isInt", 1, value))
    return parsed is not None and INT64_MIN <= parsed <= INT64_MAX


def float_(value: Any, locale: Any = None) -> float:
    """Parse like .NET double.Parse with thousands separators and a leading or trailing sign."""
    if is_number(value):
        return float(value)
    text = expect_string("float", 1, value)
    culture = _locales.culture("float", None if locale is None else expect_string("float", 2, locale))
    parsed = parse_float(text, culture)
    if parsed is None:
        fail("float", f"cannot convert {describe(value)} to a float in the locale '{culture.name}'",
             "Pass text that holds a number such as '10.5'; check it first with isFloat().")
    return parsed


def is_float(value: Any, locale: Any = None) -> bool:
    """Documented to use the invariant culture unless a locale is given."""
    text = expect_string("isFloat", 1, value)
    culture = (_locales.INVARIANT if locale is None
               else _locales.culture("isFloat", expect_string("isFloat", 2, locale)))
    return parse_float(text, culture) is not None


def decimal(value: Any) -> Decimal:
    """A .NET-style decimal that keeps every digit; string() of it gives the digits back."""
    if is_number(value):
        return Decimal(to_text(value))
    text = expect_string("decimal", 1, value)
    try:
        result = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        result = None
    if result is None or not result.is_finite():
        fail("decimal", f"cannot convert {describe(value)} to a decimal number",
             "Pass text that holds a number such as '1.2345'.")
    return result


def json(value: Any) -> Any:
    """Parse JSON text; null gives an empty object, as documented. XML input is not supported."""
    if value is None:
        return {}
    if isinstance(value, (dict, list)) and not is_envelope(value):
        return value
    text = to_text(value, "json")
    if text.lstrip().startswith("<"):
        fail("json", "got XML text, and this engine does not implement xml()/json(xml)",
             "Send JSON instead of XML.")
    try:
        return json_module.loads(text)
    except json_module.JSONDecodeError as exc:
        fail("json", f"got text that is not valid JSON ({exc.msg} at character {exc.pos}): "
                     f"{describe(text)}", "Check the text with a JSON validator.")


def parse_float(text: str, culture: _locales.Culture) -> float | None:
    """Parse like .NET NumberStyles.Any: group separators, leading/trailing sign, exponent."""
    group = "".join(re.escape(c) for c in culture.group_separators)
    point = re.escape(culture.decimal_separator)
    pattern = (rf"\s*(?P<lead>[+-])?\s*(?P<int>\d[\d{group}]*)?(?:{point}(?P<frac>\d*))?"
               rf"(?:[eE](?P<exp>[+-]?\d+))?\s*(?P<trail>[+-])?\s*")
    match = re.fullmatch(pattern, text, re.ASCII)  # .NET reads only ASCII digits
    if not match or not (match["int"] or match["frac"]) or (match["lead"] and match["trail"]):
        return None
    digits = re.sub(f"[{group}]", "", match["int"] or "0")
    number = float(f"{digits}.{match['frac'] or '0'}e{match['exp'] or '0'}")
    return -number if "-" in (match["lead"], match["trail"]) else number


def _parse_integer(text: str) -> int | None:
    match = _INTEGER.fullmatch(text)
    return int(match[1] + match[2]) if match else None


def _in_int64_range(number: int) -> int:
    if not INT64_MIN <= number <= INT64_MAX:
        fail("int", f"got {number}, which is outside the 64-bit integer range",
             "Keep integers between -9223372036854775808 and 9223372036854775807.")
    return number


FUNCTIONS = (
    FunctionSpec("array", array, 1, 1),
    FunctionSpec("createArray", create_array, 1, None),
    FunctionSpec("string", string, 1, 1),
    FunctionSpec("bool", bool_, 1, 1),
    FunctionSpec("int", int_, 1, 1),
    FunctionSpec("isInt", is_int, 1, 1),
    FunctionSpec("float", float_, 1, 2),
    FunctionSpec("isFloat", is_float, 1, 2),
    FunctionSpec("decimal", decimal, 1, 1),
    FunctionSpec("json", json, 1, 1),
)
