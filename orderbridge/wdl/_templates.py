"""JSON values as they stand in a definition, compiled once and evaluated per run.

Rules (https://learn.microsoft.com/azure/logic-apps/logic-apps-workflow-definition-language#expressions):
- a string starting with `@` (not `@{`) is one expression and keeps its type: "@parameters('age')" -> 42;
- `@{…}` segments are interpolated and the result is always a string: "@{parameters('age')}" -> "42";
- `@@` escapes: "@@" -> "@", "My age is @@{x}" -> "My age is @{x}";
- objects and arrays are evaluated member by member; anything else is returned as is.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._errors import ExpressionSyntaxError
from ._expressions import Environment, Expression, parse_expression, to_interpolated_text

ValueEvaluator = Callable[[Environment], Any]


@dataclass
class Template:
    """A compiled JSON value and the expressions inside it."""

    evaluate: ValueEvaluator
    expressions: list[Expression] = field(default_factory=list)


def is_template_expression(value: Any) -> bool:
    """An ARM template expression ("[parameters('x')]"): Resource Manager evaluates it when the template is
    deployed, so it is deploy-time text, not WDL; "[[" escapes a literal bracket
    (https://learn.microsoft.com/azure/azure-resource-manager/templates/template-expressions)."""
    return isinstance(value, str) and value.startswith("[") and value.endswith("]") and not value.startswith("[[")


def compile_value(value: Any, path: str | None = None) -> Template:
    """Compile any JSON value; syntax errors are raised now, with `path`."""
    expressions: list[Expression] = []
    evaluator = _compile(value, path, expressions)
    return Template(evaluator, expressions)


def _compile(value: Any, path: str | None, found: list[Expression]) -> ValueEvaluator:
    if isinstance(value, str):
        return _compile_string(value, path, found)
    if isinstance(value, dict):
        members = [(key, _compile(item, path, found)) for key, item in value.items()]
        if all(getattr(ev, "constant", False) for _, ev in members):
            return _constant(value)
        return lambda env: {key: ev(env) for key, ev in members}
    if isinstance(value, list):
        items = [_compile(item, path, found) for item in value]
        if all(getattr(ev, "constant", False) for ev in items):
            return _constant(value)
        return lambda env: [ev(env) for ev in items]
    return _constant(value)


def _constant(value: Any) -> ValueEvaluator:
    def constant(env: Environment) -> Any:
        return value

    constant.constant = True  # type: ignore[attr-defined]
    return constant


def _compile_string(text: str, path: str | None, found: list[Expression]) -> ValueEvaluator:
    if "@" not in text:
        return _constant(text)
    if text.startswith("@@"):
        return _constant(text[1:])
    if text.startswith("@") and not text.startswith("@{"):
        expression = parse_expression(text[1:], path)
        found.append(expression)
        return lambda env: expression.evaluate(env, path)
    parts = _split_interpolation(text, path)
    if all(isinstance(part, str) for part in parts):
        return _constant("".join(parts))  # type: ignore[arg-type]
    found.extend(part for part in parts if isinstance(part, Expression))

    def interpolate(env: Environment) -> str:
        return "".join(
            part if isinstance(part, str) else to_interpolated_text(part.evaluate(env, path)) for part in parts
        )

    return interpolate


def _split_interpolation(text: str, path: str | None) -> list[str | Expression]:
    """Literal text and `@{…}` expressions, in order; `@@{` is a literal `@{`."""
    parts: list[str | Expression] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("@@{", i):
            literal.append("@{")
            i += 3
        elif text.startswith("@{", i):
            end = _closing_brace(text, i + 2, path)
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(parse_expression(text[i + 2 : end], path))
            i = end + 1
        else:
            literal.append(text[i])
            i += 1
    if literal:
        parts.append("".join(literal))
    return parts


def _closing_brace(text: str, start: int, path: str | None) -> int:
    in_string = False
    for i in range(start, len(text)):
        char = text[i]
        if char == "'":
            in_string = not in_string
        elif char == "}" and not in_string:
            return i
    raise ExpressionSyntaxError("'@{' is never closed by '}'", expression=text, position=start - 2, path=path)
