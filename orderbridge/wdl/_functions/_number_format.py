"""formatNumber(): .NET standard and custom numeric format strings.

Standard: https://learn.microsoft.com/dotnet/standard/base-types/standard-numeric-format-strings
Custom:   https://learn.microsoft.com/dotnet/standard/base-types/custom-numeric-format-strings
Rounding is half away from zero on the shortest decimal form of the number, as .NET formats.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from orderbridge.wdl._functions import _locales
from orderbridge.wdl._functions._common import expect_number, expect_string, fail, format_float, is_integer
from orderbridge.wdl._functions._locales import Culture
from orderbridge.wdl._functions._spec import FunctionSpec

_STANDARD = re.compile(r"([CcDdEeFfGgNnPpRrXx])(\d{0,2})")
_DEFAULT_PRECISION = {"C": 2, "F": 2, "N": 2, "P": 2, "E": 6}


def format_number(number: Any, format_: Any, locale: Any = None) -> str:
    value = expect_number("formatNumber", 1, number)
    pattern = expect_string("formatNumber", 2, format_)
    locale_code = None if locale is None else expect_string("formatNumber", 3, locale)
    culture = _locales.culture("formatNumber", locale_code)
    standard = _STANDARD.fullmatch(pattern)
    if standard:
        return _standard(value, standard[1], standard[2], culture)
    return _custom(value, pattern, culture)


def _exact(value: int | float | Decimal) -> Decimal:
    """The decimal digits .NET starts from: the shortest round-trip form of a double."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _rounded(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _digits(value: Decimal, places: int, group: str | None) -> str:
    """|value| with `places` decimals, grouped by three when `group` is given (no sign)."""
    text = f"{abs(_rounded(value, places)):f}"
    whole, _, fraction = text.partition(".")
    if group:
        whole = _group(whole, group)
    return whole + (f"{{point}}{fraction}" if places else "")


def _group(whole: str, separator: str) -> str:
    head = len(whole) % 3 or 3
    return separator.join([whole[:head]] + [whole[i:i + 3] for i in range(head, len(whole), 3)])


def _standard(value: int | float | Decimal, letter: str, precision_text: str, culture: Culture) -> str:
    kind = letter.upper()
    precision = int(precision_text) if precision_text else _DEFAULT_PRECISION.get(kind)
    exact = _exact(value)
    negative = exact < 0 and _rounded(exact, precision or 0) != 0
    group = culture.group_separators[0]
    match kind:
        case "C":
            body = _digits(exact, precision, group)
            pattern = culture.currency_negative if negative else culture.currency_positive
            text = pattern.replace("$", culture.currency_symbol).replace("n", body)
            return text.format(point=culture.decimal_separator)
        case "N" | "F":
            body = _digits(exact, precision, group if kind == "N" else None)
        case "P":
            body = culture.percent_pattern.replace("n", _digits(exact * 100, precision, group))
            negative = exact < 0 and _rounded(exact * 100, precision) != 0
        case "D" | "X":
            if not is_integer(value):
                fail("formatNumber", f"cannot use the format '{letter}' for the non-integer {value}",
                     "Use 'D' and 'X' only with integers, or use 'F' or 'N'.")
            return _integer_format(value, letter, precision or 0)
        case "E":
            return _exponential(exact, letter, precision, culture)
        case "G":
            return _general(value, precision, culture)
        case _:  # "R": round-trip
            return format_float(float(value)).replace(".", culture.decimal_separator)
    return ("-" if negative else "") + body.format(point=culture.decimal_separator)


def _integer_format(value: int, letter: str, width: int) -> str:
    if letter in "Xx":
        digits = f"{value & 0xFFFFFFFFFFFFFFFF if value < 0 else value:x}".zfill(width)
        return digits.upper() if letter == "X" else digits
    return ("-" if value < 0 else "") + str(abs(value)).zfill(width)


def _exponential(value: Decimal, letter: str, precision: int, culture: Culture) -> str:
    """d.dddE+ddd: one integer digit, `precision` decimals, at least three exponent digits."""
    if value == 0:
        mantissa, exponent = Decimal(0), 0
    else:
        exponent = value.adjusted()
        mantissa = _rounded(value.scaleb(-exponent), precision)
        if abs(mantissa) >= 10:
            mantissa, exponent = _rounded(value.scaleb(-(exponent + 1)), precision), exponent + 1
    body = f"{abs(mantissa):.{precision}f}".replace(".", culture.decimal_separator)
    sign = "-" if value < 0 else ""
    return f"{sign}{body}{letter}{'-' if exponent < 0 else '+'}{abs(exponent):03d}"


def _general(value: int | float | Decimal, precision: int | None, culture: Culture) -> str:
    """Shortest form by default; with a precision, that many significant digits."""
    if not precision:
        text = str(value) if not isinstance(value, float) else format_float(value)
    else:
        text = f"{float(value):.{precision}G}"
        if "E" in text:
            mantissa, exponent = text.split("E")
            text = f"{mantissa}E{exponent[0]}{exponent[1:].lstrip('0').zfill(2)}"
    return text.replace(".", culture.decimal_separator)


# ---- custom patterns --------------------------------------------------------------------------

_CUSTOM_TOKEN = re.compile(r"""'[^']*'?|"[^"]*"?|\\.?|[eE][+-]?0+|.""", re.DOTALL)


@dataclass(frozen=True)
class _Section:
    """One ';'-separated section of a custom pattern, split around its decimal point."""

    integer: list[str]
    fraction: list[str]
    grouping: bool
    scale: int            # powers of ten: % adds 2, per-mille 3, each scaling comma -3
    exponent: str | None

    @classmethod
    def parse(cls, pattern: str) -> _Section:
        tokens = _CUSTOM_TOKEN.findall(pattern)
        point = tokens.index(".") if "." in tokens else len(tokens)
        integer, fraction = tokens[:point], tokens[point + 1:]
        exponent = next((t for t in tokens if t[0] in "eE" and len(t) > 1), None)
        scale = 2 * tokens.count("%") + 3 * tokens.count("\u2030") - 3 * _scaling_commas(integer)
        last_digit = max((i for i, t in enumerate(integer) if t in "0#"), default=-1)
        first_digit = next((i for i, t in enumerate(integer) if t in "0#"), len(integer))
        grouping = "," in integer[first_digit:last_digit]
        integer = [t for i, t in enumerate(integer) if t != "," or i > last_digit]
        integer = [t for t in integer if t != ","]
        return cls(integer, fraction, grouping, scale, exponent)


def _scaling_commas(integer: list[str]) -> int:
    """Commas right after the last digit placeholder divide the number by 1000 each."""
    count = 0
    for token in reversed(integer):
        if token == ",":
            count += 1
        elif token in "0#":
            break
    return count


def _custom(value: int | float | Decimal, pattern: str, culture: Culture) -> str:
    sections = _split_sections(pattern)
    exact = _exact(value)
    chosen, signed = sections[0], exact < 0
    if exact < 0 and len(sections) > 1 and sections[1]:
        chosen, signed = sections[1], False
    elif exact == 0 and len(sections) > 2 and sections[2]:
        chosen = sections[2]
    section = _Section.parse(chosen)
    text = _render(abs(exact).scaleb(section.scale), section, culture)
    return ("-" if signed and any(c in "123456789" for c in text) else "") + text


def _split_sections(pattern: str) -> list[str]:
    sections, current = [], ""
    for token in _CUSTOM_TOKEN.findall(pattern):
        if token == ";":
            sections.append(current)
            current = ""
        else:
            current += token
    return sections + [current]


def _render(value: Decimal, section: _Section, culture: Culture) -> str:
    exponent_text = ""
    if section.exponent:
        int_places = max(sum(t in "0#" for t in section.integer), 1)
        power = value.adjusted() - (int_places - 1) if value else 0
        value = value.scaleb(-power)
        exponent_text = _exponent_suffix(section.exponent, power)
    max_fraction = sum(t in "0#" for t in section.fraction)
    min_fraction = max((i + 1 for i, t in enumerate(_placeholders(section.fraction)) if t == "0"), default=0)
    whole, _, fraction = f"{_rounded(value, max_fraction):f}".partition(".")
    fraction = fraction.rstrip("0").ljust(min_fraction, "0")
    integer = _fill_integer(whole.lstrip("0"), section, culture)
    rendered_fraction = _fill_fraction(fraction, section.fraction)
    point = culture.decimal_separator if fraction else ""
    return integer + point + rendered_fraction + exponent_text


def _placeholders(tokens: list[str]) -> list[str]:
    return [t for t in tokens if t in "0#"]


def _fill_integer(digits: str, section: _Section, culture: Culture) -> str:
    """Hand digits to the placeholders from the right; spare digits go to the leftmost one."""
    slots = _placeholders(section.integer)
    zeros_from = next((i for i, t in enumerate(slots) if t == "0"), len(slots))
    digits = digits.zfill(len(slots) - zeros_from)
    if section.grouping:
        digits = _group(digits, culture.group_separators[0]) if digits else ""
    out: list[str] = []
    remaining = digits
    placeholder_positions = [i for i, t in enumerate(section.integer) if t in "0#"]
    for index in reversed(range(len(section.integer))):
        token = section.integer[index]
        if token in "0#":
            take = len(remaining) if index == placeholder_positions[0] else (
                1 if not section.grouping else _next_digit_width(remaining))
            out.append(remaining[len(remaining) - take:] if take else "")
            remaining = remaining[:len(remaining) - take]
        else:
            out.append(_literal(token))
    return "".join(reversed(out))


def _next_digit_width(remaining: str) -> int:
    """With grouping, a separator travels with the digit to its right."""
    if not remaining:
        return 0
    return 2 if len(remaining) > 1 and not remaining[-2].isdigit() else 1


def _fill_fraction(fraction: str, tokens: list[str]) -> str:
    out, index = [], 0
    for token in tokens:
        if token in "0#":
            out.append(fraction[index] if index < len(fraction) else "")
            index += 1
        elif not (token[0] in "eE" and len(token) > 1):
            out.append(_literal(token))
    return "".join(out)


def _exponent_suffix(token: str, power: int) -> str:
    always_sign = len(token) > 1 and token[1] == "+"
    width = len(token.lstrip("eE+-"))
    sign = "-" if power < 0 else ("+" if always_sign else "")
    return f"{token[0]}{sign}{abs(power):0{width}d}"


def _literal(token: str) -> str:
    if token[0] in "'\"":
        return token[1:-1] if len(token) > 1 and token[-1] == token[0] else token[1:]
    if token[0] == "\\":
        return token[1:]
    if token[0] in "eE" and len(token) > 1:
        return ""
    return token


FUNCTIONS = (FunctionSpec("formatNumber", format_number, 2, 3),)
