"""Evaluate documented example expressions such as "concat('a', 'b')" with the function library.

Temporary: the engine's `orderbridge.wdl.evaluate` replaces this as soon as it lands; until then
this reads only literals, nested calls and ['key'] lookups, which is all the documented examples use.
"""
from __future__ import annotations

import re
from typing import Any

from orderbridge.wdl._functions import FunctionEnvironment, lookup

_TOKEN = re.compile(r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[(),\[\]]))")


def evaluate(expression: str, env: FunctionEnvironment | None = None) -> Any:
    tokens = _tokenize(expression)
    value, position = _value(tokens, 0, env)
    if position != len(tokens):
        raise SyntaxError(f"unexpected {tokens[position]!r} in {expression!r}")
    return value


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if not match:
            raise SyntaxError(f"cannot read {text[position:]!r}")
        kind = match.lastgroup
        tokens.append((kind, match[kind]))
        position = match.end()
    return tokens


def _value(tokens: list, position: int, env: Any) -> tuple[Any, int]:
    kind, text = tokens[position]
    if kind == "string":
        value, position = text[1:-1].replace("''", "'"), position + 1
    elif kind == "number":
        value, position = (float(text) if re.search(r"[.eE]", text) else int(text)), position + 1
    elif kind == "name" and text in ("true", "false", "null"):
        value, position = {"true": True, "false": False, "null": None}[text], position + 1
    elif kind == "name":
        value, position = _call(text, tokens, position + 1, env)
    else:
        raise SyntaxError(f"unexpected {text!r}")
    while position < len(tokens) and tokens[position][1] == "[":
        key, position = _value(tokens, position + 1, env)
        value, position = value[key], position + 1
    return value, position


def _call(name: str, tokens: list, position: int, env: Any) -> tuple[Any, int]:
    spec = lookup(name)
    if spec is None:
        raise NameError(f"unknown function {name}")
    args, position = [], position + 1
    while tokens[position][1] != ")":
        arg, position = _value(tokens, position, env)
        args.append(arg)
        if tokens[position][1] == ",":
            position += 1
    assert spec.min_args <= len(args) <= (spec.max_args if spec.max_args is not None else len(args)), name
    result = spec.impl(env, *args) if spec.needs_env else spec.impl(*args)
    return result, position + 1


def assert_same(actual: Any, expected: Any, expression: str = "") -> None:
    """Equal value AND equal JSON type: 2 is not 2.0, true is not 1."""
    assert _typed(actual) == _typed(expected), f"{expression} returned {actual!r}, documented {expected!r}"


def _typed(value: Any) -> Any:
    if isinstance(value, list):
        return ("array", [_typed(item) for item in value])
    if isinstance(value, dict):
        return ("object", {key: _typed(item) for key, item in value.items()})
    return (type(value).__name__, value)
