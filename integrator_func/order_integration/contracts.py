"""The message contracts in `schemas/`: compiled validators and Decimal-exact JSON.

A contract's name is its file name without `.schema.json` (`ecp-order`, `erp-sales-order`, ...).
Each validator is compiled once per process, on the first use of its contract, with jsonschema-rs
(Rust; JSON Schema 2020-12 with formats, Decimal-aware), so a cold start pays only for the contracts
it touches and every later message pays microseconds for validation.

JSON numbers are read as `Decimal` (`load_json`) and written back exactly (`dump_json`): a money
amount never passes through a binary float between a queue message and a target API. A change
version is read by one rule wherever it appears (`read_change_version`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from functools import cache
from json.encoder import encode_basestring, encode_basestring_ascii
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ContractViolation, MalformedJson

if TYPE_CHECKING:  # the validator library is imported on first validation, not at cold start
    from jsonschema_rs import ValidationError, Validator

_PACKAGE_DIR = Path(__file__).resolve().parent
# Deployed, `schemas/` sits beside function_app.py (the package's parent); in the repo, one level up.
SCHEMA_DIRS: tuple[Path, ...] = (_PACKAGE_DIR.parent / "schemas", _PACKAGE_DIR.parent.parent / "schemas")
SCHEMA_SUFFIX = ".schema.json"


def schema_dir() -> Path:
    """The `schemas/` directory this process reads: deployed layout first, then the repository's."""
    for candidate in SCHEMA_DIRS:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "no schemas/ directory found at "
        + " or ".join(str(p) for p in SCHEMA_DIRS)
        + "; the deployment package must contain schemas/ beside function_app.py"
    )


def contract_names() -> list[str]:
    """Every contract in `schemas/`, sorted."""
    return sorted(p.name[: -len(SCHEMA_SUFFIX)] for p in schema_dir().glob("*" + SCHEMA_SUFFIX))


def load_schema(contract: str) -> dict[str, Any]:
    """The parsed schema of `contract`, numbers as Decimal so keywords compare exactly with Decimal data."""
    path = schema_dir() / f"{contract}{SCHEMA_SUFFIX}"
    if not path.is_file():
        raise KeyError(f"unknown contract {contract!r}: no {path}; known: {', '.join(contract_names())}")
    return load_json(path.read_bytes())


@cache
def _cached_schema(contract: str) -> dict[str, Any]:
    """The schema the validator was built from; shared, so never handed out to callers."""
    return load_schema(contract)


@cache
def compiled_validator(contract: str) -> Validator:
    """The compiled validator of `contract`, built on first use and kept for the process."""
    import jsonschema_rs

    schema = _cached_schema(contract)
    try:
        jsonschema_rs.meta.validate(schema)
    except jsonschema_rs.ValidationError as exc:
        raise ValueError(
            f"schemas/{contract}{SCHEMA_SUFFIX} is not a valid JSON Schema 2020-12: {exc}"
        ) from exc
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True)


def json_path(parts: Iterable[int | str]) -> str:
    """`$.lines[0].unitPrice` from a list of keys and indexes."""
    text = "$"
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            text += f".{part}"
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text


# Messages are built from the schema, never from the instance: a rejected value may be personal data,
# and these messages end up in logs and in the parking queue's `description`.
_RULE_TEXT: dict[str, Callable[[Any], str]] = {
    "type": lambda v: f"must be of type {_short(v)}",
    "pattern": lambda v: f"must match the pattern {_short(v)}",
    "format": lambda v: f"must be a valid {v}",
    "enum": lambda v: f"must be one of {_short(v)}",
    "const": lambda v: f"must equal {_short(v)}",
    "minLength": lambda v: f"must be at least {v} characters long",
    "maxLength": lambda v: f"must be at most {v} characters long",
    "minItems": lambda v: f"must have at least {v} items",
    "maxItems": lambda v: f"must have at most {v} items",
    "minimum": lambda v: f"must be >= {v}",
    "maximum": lambda v: f"must be <= {v}",
    "exclusiveMinimum": lambda v: f"must be > {v}",
    "exclusiveMaximum": lambda v: f"must be < {v}",
    "multipleOf": lambda v: f"must be a multiple of {v}",
}
# These keywords' own messages name property keys only, not values.
_KEY_ONLY_RULES = frozenset(
    {"required", "additionalProperties", "dependentRequired", "unevaluatedProperties"}
)


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value) if isinstance(value, str) else dump_json(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _schema_at(schema: Any, path: Iterable[int | str]) -> Any:
    for part in path:
        schema = schema[part]
    return schema


def _describe(error: ValidationError, rule: str, schema: dict[str, Any]) -> str:
    """What the rule demands, without quoting the offending value."""
    if rule in _KEY_ONLY_RULES:
        return error.message
    render = _RULE_TEXT.get(rule)
    if render is not None:
        return render(_schema_at(schema, error.schema_path))
    return f"violates the schema at {json_path(error.schema_path)}"


def _path_key(error: ValidationError) -> tuple[tuple[tuple[int, int | str], ...], int]:
    """Sort key: JSON path (array indexes numerically), then the shallower schema rule."""
    return tuple((0, p) if isinstance(p, int) else (1, p) for p in error.instance_path), len(
        error.schema_path
    )


def validate(contract: str, instance: object) -> None:
    """Raise ContractViolation for the first error by JSON path when `instance` breaks `contract`."""
    validator = compiled_validator(contract)
    if validator.is_valid(instance):
        return
    errors = list(validator.iter_errors(instance))
    first = min(errors, key=_path_key)
    rule = str(first.schema_path[-1]) if first.schema_path else "schema"
    raise ContractViolation(
        contract=contract,
        json_path=json_path(first.instance_path),
        rule=rule,
        message=_describe(first, rule, _cached_schema(contract)) + f" ({len(errors)} error(s) in total)",
    )


# Business Central's BigInteger and the Logic Apps int() are 64-bit, so no change version can be larger
# (https://learn.microsoft.com/dynamics365/business-central/dev-itpro/developer/methods-auto/biginteger/biginteger-data-type).
CHANGE_VERSION_MAX = 2**63 - 1
_CHANGE_VERSION_DIGITS = re.compile(r"0|[1-9][0-9]{0,18}")  # ASCII digits only, no sign, space or leading zero


def read_change_version(value: object) -> int:
    """The integer a change version stands for, in any form the contracts allow; ValueError says why not.

    Allowed: 0 to CHANGE_VERSION_MAX as a JSON number without a fractional part (`5`, `5.0`: JSON
    Schema's "integer") or as a string of its decimal digits (`"5"`). The schemas state the same rule.
    The message never quotes the value.
    """
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise ValueError(f"is {_kind(value)}, not a whole number or a string of its digits")
    if isinstance(value, str):
        if not _CHANGE_VERSION_DIGITS.fullmatch(value):
            raise ValueError("is text other than decimal digits without sign, spaces or leading zeros")
        value = int(value)
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError("is not a finite number")
    # The range first: a huge Decimal such as 1E+400 cannot even be rounded to an integer.
    if not 0 <= value <= CHANGE_VERSION_MAX:
        raise ValueError(f"is outside 0..{CHANGE_VERSION_MAX}")
    if isinstance(value, Decimal) and value != value.to_integral_value():
        raise ValueError("has a fractional part")
    return int(value)


def _kind(value: object) -> str:
    """What JSON type a value has, for messages that must not quote it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "an object", list: "an array"}.get(type(value), f"a {type(value).__name__}")


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def load_json(text: str | bytes) -> object:
    """Parse JSON with every non-integer number as an exact Decimal; NaN/Infinity are rejected."""
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise MalformedJson(detail=str(exc)) from exc


def _encode(value: object, out: list[str], quote: Callable[[str], str]) -> None:
    if isinstance(value, str):
        out.append(quote(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} cannot be written as a JSON number")
        out.append(format(value, "f"))
    elif isinstance(value, dict):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, got {type(key).__name__}")
            if index:
                out.append(",")
            out.append(quote(key))
            out.append(":")
            _encode(item, out, quote)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out, quote)
        out.append("]")
    else:
        # float included on purpose: money must stay Decimal from queue to target.
        raise TypeError(
            f"{type(value).__name__} is not allowed in an orderbridge JSON body (use Decimal, not float)"
        )


def dump_json(obj: object) -> str:
    """Compact JSON with Decimals written exactly as they are (`Decimal('12.90')` -> `12.90`); floats refused.

    Text stays readable UTF-8; only a body holding a lone surrogate (which `load_json` accepts from a
    `\\ud800` escape) is written with ASCII escapes, so the result can always be encoded and sent.
    """
    out: list[str] = []
    _encode(obj, out, encode_basestring)
    text = "".join(out)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            out.clear()
            _encode(obj, out, encode_basestring_ascii)
            text = "".join(out)
    return text


def canonical_order_id(value: object) -> str | None:
    """The one form of an ECP order id: upper case (ASCII only, as the contracts' id pattern); None if no id.

    The ECP must resolve order ids ignoring case (integrator_func/README.md): Business Central stores
    externalDocumentNumber, a Code[35] field, upper-cased
    (https://learn.microsoft.com/dynamics365/business-central/dev-itpro/developer/methods-auto/code/code-data-type).
    """
    if not isinstance(value, str) or not value.isascii():
        return None
    return value.upper()
