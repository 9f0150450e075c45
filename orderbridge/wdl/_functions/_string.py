"""String functions: concat, substring, slice, indexOf…, replace, split, case and trim, guid."""
from __future__ import annotations

import uuid
from typing import Any, Callable

from orderbridge.wdl._functions._common import (
    MAX_STRING_LENGTH,
    expect_integer,
    expect_string,
    fail,
    to_text,
)
from orderbridge.wdl._functions._spec import FunctionEnvironment, FunctionSpec


def concat(*values: Any) -> str:
    """Join the texts of all arguments; non-strings are converted implicitly, like string()."""
    result = "".join(to_text(value, "concat") for value in values)
    if len(result) > MAX_STRING_LENGTH:
        fail("concat", f"would return {len(result):,} characters, more than the "
                       f"{MAX_STRING_LENGTH:,} allowed", "Split the data into smaller pieces.")
    return result


def starts_with(text: Any, search_text: Any) -> bool:
    """Case-insensitive, as documented."""
    return _folded("startsWith", text, 1).startswith(_folded("startsWith", search_text, 2))


def ends_with(text: Any, search_text: Any) -> bool:
    """Case-insensitive, as documented."""
    return _folded("endsWith", text, 1).endswith(_folded("endsWith", search_text, 2))


def index_of(text: Any, search_text: Any) -> int:
    """Case-insensitive position of the first occurrence, -1 when absent."""
    return _folded("indexOf", text, 1).find(_folded("indexOf", search_text, 2))


def last_index_of(text: Any, search_text: Any) -> int:
    """Case-insensitive position of the last occurrence, with the documented empty-string rules."""
    haystack = _folded("lastIndexOf", text, 1)
    needle = _folded("lastIndexOf", search_text, 2)
    if not needle:
        # Documented: empty substring gives length - 1 (0 when both are empty).
        return max(len(haystack) - 1, 0)
    return haystack.rfind(needle)


def nth_index_of(text: Any, search_text: Any, occurrence: Any) -> int:
    """Position of the n-th occurrence (overlaps count); a negative n counts from the end."""
    haystack = _folded("nthIndexOf", text, 1)
    needle = _folded("nthIndexOf", search_text, 2)
    count = expect_integer("nthIndexOf", 3, occurrence)
    if count == 0:
        fail("nthIndexOf", "got occurrence 0", "Use 1 for the first occurrence or -1 for the last.")
    positions = [i for i in range(len(haystack) - len(needle) + 1) if haystack.startswith(needle, i)]
    if abs(count) > len(positions):
        return -1
    return positions[count - 1] if count > 0 else positions[count]


def replace(text: Any, old_text: Any, new_text: Any) -> str:
    """Replace every occurrence, case-sensitively."""
    source = expect_string("replace", 1, text)
    old = expect_string("replace", 2, old_text)
    if not old:
        fail("replace", "cannot replace an empty string", "Pass the non-empty text to replace.")
    return source.replace(old, to_text(new_text, "replace"))


def split(text: Any, delimiter: Any) -> list[str]:
    source = expect_string("split", 1, text)
    separator = expect_string("split", 2, delimiter)
    return source.split(separator) if separator else [source]


def substring(text: Any, start_index: Any, length: Any = None) -> str:
    """Unlike slice(), running past the end of the text is an error, as documented."""
    source = expect_string("substring", 1, text)
    start = expect_integer("substring", 2, start_index)
    size = len(source) - start if length is None else expect_integer("substring", 3, length)
    if start < 0 or size < 0:
        fail("substring", f"got start index {start} and length {size}",
             "Both must be zero or positive.")
    if start + size > len(source):
        fail("substring", f"was asked for {size} characters from index {start} of a text of "
                          f"{len(source)} characters", "Keep start index plus length within the "
                                                       "text, or use slice(), which clips.")
    return source[start:start + size]


def slice_(text: Any, start_index: Any, end_index: Any = None) -> str:
    """Python slicing matches the documented rules: negative counts from the end, out-of-range clips."""
    source = expect_string("slice", 1, text)
    start = expect_integer("slice", 2, start_index)
    end = None if end_index is None else expect_integer("slice", 3, end_index)
    return source[start:end]


def to_lower(text: Any) -> str:
    return _one_to_one(expect_string("toLower", 1, text), str.lower)


def to_upper(text: Any) -> str:
    return _one_to_one(expect_string("toUpper", 1, text), str.upper)


def _one_to_one(text: str, convert: Callable[[str], str]) -> str:
    """.NET maps case one character to one character: 'ß' stays 'ß' where Python writes 'SS'."""
    return "".join(mapped if len(mapped := convert(char)) == 1 else char for char in text)


def trim(text: Any) -> str:
    return expect_string("trim", 1, text).strip()


def guid(env: FunctionEnvironment, format_: Any = "D") -> str:
    """A new GUID from the environment, in one of the .NET formats N, D, B, P or X."""
    spec = expect_string("guid", 1, format_)
    value = uuid.UUID(env.new_guid())
    text = str(value)
    match (spec or "D").upper():
        case "N":
            result = value.hex
        case "D":
            result = text
        case "B":
            result = "{" + text + "}"
        case "P":
            result = "(" + text + ")"
        case "X":
            result = _guid_x_format(value.hex)
        case _:
            fail("guid", f"got the format {spec!r}", "Use one of 'N', 'D', 'B', 'P' or 'X'.")
    return result


def _guid_x_format(hex_digits: str) -> str:
    """{0xdddddddd,0xdddd,0xdddd,{0xdd,0xdd,0xdd,0xdd,0xdd,0xdd,0xdd,0xdd}} as .NET writes it."""
    tail = ",".join(f"0x{hex_digits[i:i + 2]}" for i in range(16, 32, 2))
    return f"{{0x{hex_digits[:8]},0x{hex_digits[8:12]},0x{hex_digits[12:16]},{{{tail}}}}}"


def _folded(function: str, value: Any, position: int) -> str:
    """Lower-case for the documented case-insensitive search functions."""
    return expect_string(function, position, value).lower()


FUNCTIONS = (
    FunctionSpec("concat", concat, 1, None),
    FunctionSpec("startsWith", starts_with, 2, 2),
    FunctionSpec("endsWith", ends_with, 2, 2),
    FunctionSpec("indexOf", index_of, 2, 2),
    FunctionSpec("lastIndexOf", last_index_of, 2, 2),
    FunctionSpec("nthIndexOf", nth_index_of, 3, 3),
    FunctionSpec("replace", replace, 3, 3),
    FunctionSpec("split", split, 2, 2),
    FunctionSpec("substring", substring, 2, 3),
    FunctionSpec("slice", slice_, 2, 3),
    FunctionSpec("toLower", to_lower, 1, 1),
    FunctionSpec("toUpper", to_upper, 1, 1),
    FunctionSpec("trim", trim, 1, 1),
    FunctionSpec("guid", guid, 0, 1, needs_env=True),
)
