"""Run documented example expressions the way users meet them: '@' + text through the engine."""
from __future__ import annotations

from typing import Any

from orderbridge.wdl import evaluate as evaluate_value
from orderbridge.wdl._functions import FunctionEnvironment


def evaluate(expression: str, env: FunctionEnvironment | None = None) -> Any:
    """Evaluate one expression; `env` supplies the clock and GUIDs of utcNow(), guid()…"""
    return evaluate_value("@" + expression, env)


def assert_same(actual: Any, expected: Any, expression: str = "") -> None:
    """Equal value AND equal JSON type: 2 is not 2.0, true is not 1."""
    assert _typed(actual) == _typed(expected), f"{expression} returned {actual!r}, documented {expected!r}"


def _typed(value: Any) -> Any:
    if isinstance(value, list):
        return ("array", [_typed(item) for item in value])
    if isinstance(value, dict):
        return ("object", {key: _typed(item) for key, item in value.items()})
    return (type(value).__name__, value)
