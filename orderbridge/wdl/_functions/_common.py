"""Type names, argument checks and the implicit string conversion every function family shares.

Values are JSON-typed Python values: None, bool, int, float, str, list, dict (plus `Decimal`, made
only by `decimal()`). `bool` is never a number here, although Python treats it as an `int`.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
from decimal import Decimal
from typing import Any, NoReturn

from orderbridge.wdl._errors import FunctionArgumentError

# Logic Apps keeps binary data in a "content envelope" and converts it implicitly where text is
# expected: https://learn.microsoft.com/azure/logic-apps/logic-apps-content-type
CONTENT = "$content"
CONTENT_TYPE = "$content-type"
OCTET_STREAM = "application/octet-stream"

# The docs cap concat()/join() results at 104,857,600 characters.
MAX_STRING_LENGTH = 104_857_600

# Integers are 64-bit in the Logic Apps runtime (JSON numbers become .NET Int64).
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1


def type_name(value: Any) -> str:
    """Name a value's type the way the Workflow Definition Language does in its errors."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    if isinstance(value, Decimal):
        return "Decimal"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, dict):
        return "Object"
    return type(value).__name__


def describe(value: Any) -> str:
    """Show a value in an error message, shortened so a large payload cannot flood the log."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type_name(value)})"


def fail(function: str, problem: str, hint: str = "") -> NoReturn:
    """Raise the error the engine reports for bad input to `function`."""
    message = f"The function '{function}' {problem}."
    if hint:
        message += f" {hint}"
    raise FunctionArgumentError(message)


def bad_type(function: str, position: int, expected: str, value: Any) -> NoReturn:
    """Raise the error for an argument of the wrong type."""
    fail(function, f"expects its parameter {position} to be {expected}, but got {describe(value)}",
         "Convert the value first (for example with string(), int() or json()).")


def is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def is_envelope(value: Any) -> bool:
    """True for a binary content envelope such as the one `binary()` returns."""
    return isinstance(value, dict) and CONTENT in value


def expect_string(function: str, position: int, value: Any) -> str:
    if not isinstance(value, str):
        bad_type(function, position, "a string", value)
    return value


def expect_integer(function: str, position: int, value: Any) -> int:
    if not is_integer(value):
        bad_type(function, position, "an integer", value)
    return value


def expect_number(function: str, position: int, value: Any) -> int | float | Decimal:
    if not is_number(value):
        bad_type(function, position, "an integer or a float", value)
    return value


def expect_boolean(function: str, position: int, value: Any) -> bool:
    if not isinstance(value, bool):
        bad_type(function, position, "a boolean", value)
    return value


def expect_array(function: str, position: int, value: Any) -> list:
    if not isinstance(value, list):
        bad_type(function, position, "an array", value)
    return value


def expect_object(function: str, position: int, value: Any) -> dict:
    if not isinstance(value, dict):
        bad_type(function, position, "an object", value)
    return value


def format_float(value: float) -> str:
    """Write a float like .NET Core: shortest round-trip digits, no trailing '.0', exponent form
    ('1E+15', '1E-05') from 1e15 up and below 1e-4."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    text = repr(value)
    if text.endswith(".0"):
        digits = text[:-2].lstrip("-")
        if len(digits) <= 15:
            return text[:-2]
        # Python keeps 1e15..1e16 positional; .NET already writes them with an exponent.
        mantissa = (digits[0] + "." + digits[1:]).rstrip("0").rstrip(".")
        text = f"{'-' if value < 0 else ''}{mantissa}e+{len(digits) - 1}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        text = f"{mantissa}E{sign}{exponent.lstrip('+-').zfill(2)}"
    return text


def envelope_bytes(function: str, envelope: dict) -> bytes:
    """Decode the base64 payload of a content envelope."""
    try:
        return base64.b64decode(envelope[CONTENT], validate=True)
    except (binascii.Error, TypeError, ValueError) as exc:
        fail(function, f"got a content envelope whose '$content' is not base64 ({exc})")


def to_text(value: Any, function: str = "string") -> str:
    """Convert any value to text the way `string()` and string interpolation do."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        # .NET writes booleans capitalised: https://github.com/Azure/logicapps/issues/414
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if is_envelope(value):
        return envelope_bytes(function, value).decode("utf-8", errors="replace")
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def to_bytes(value: Any, function: str) -> bytes:
    """The bytes behind a value: an envelope's payload, or the UTF-8 of its text."""
    if is_envelope(value):
        return envelope_bytes(function, value)
    return to_text(value, function).encode("utf-8")


def make_envelope(data: bytes, content_type: str = OCTET_STREAM) -> dict:
    """Wrap bytes in the content envelope Logic Apps uses for binary values."""
    return {CONTENT_TYPE: content_type, CONTENT: base64.b64encode(data).decode("ascii")}


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def values_equal(left: Any, right: Any) -> bool:
    """Equality as `equals()` sees it: null is '', numbers compare by value, true equals 1."""
    left = "" if left is None else left
    right = "" if right is None else right
    if _numeric_like(left) and _numeric_like(right):
        if isinstance(left, bool) and isinstance(right, bool):
            return left is right
        a, b = _comparable_numbers(left, right)
        return a == b
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(values_equal, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(values_equal(left[k], right[k]) for k in left)
    if type(left) is not type(right):
        return False
    return left == right


def compare_values(function: str, left: Any, right: Any) -> int:
    """Order two numbers or two strings (ordinal); anything else cannot be ordered."""
    left = "" if left is None else left
    right = "" if right is None else right
    if is_number(left) and is_number(right):
        a, b = _comparable_numbers(left, right)
    elif isinstance(left, str) and isinstance(right, str):
        a, b = left, right
    else:
        fail(function, f"can compare only two numbers or two strings, but got {describe(left)} "
                       f"and {describe(right)}", "Convert both values to the same type first.")
    return (a > b) - (a < b)


def _numeric_like(value: Any) -> bool:
    return is_number(value) or isinstance(value, bool)


def _comparable_numbers(left: Any, right: Any) -> tuple[Any, Any]:
    """true counts as 1; a decimal met with a float compares as a float (0.1 equals decimal '0.1')."""
    a = int(left) if isinstance(left, bool) else left
    b = int(right) if isinstance(right, bool) else right
    if isinstance(a, float) or isinstance(b, float):
        return float(a), float(b)
    return a, b
