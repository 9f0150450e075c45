"""The expression language: lexer, parser and compiler to Python closures.

Grammar (https://learn.microsoft.com/azure/logic-apps/logic-apps-workflow-definition-language#expressions):

    expression := primary accessor*
    primary    := 'string' | number | true | false | null | name '(' [expression (',' expression)*] ')'
    accessor   := ['?'] ('.' name | '[' expression ']')

Strings use single quotes, `''` escapes a quote. `?` before an accessor returns null instead of
failing when the value is null or the property does not exist.

A compiled expression is a closure `(Environment) -> value`, built once per definition.
Function arguments are evaluated eagerly, including those of `if`, `and`, `or` and `coalesce`:
Logic Apps evaluates both branches of `if()` (shown in
https://blog.kloud.com.au/2017/10/17/azure-logic-app-evaluating-if-condition-with-the-help-of-json-expression-by-passing-null),
so an expression that fails in the branch not taken still fails here.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ._errors import (
    ExpressionEvaluationError,
    ExpressionSyntaxError,
    FunctionArgumentError,
    UnknownFunctionError,
    WdlError,
)
from ._functions import lookup as library_lookup
from ._functions._common import type_name

# Workflow functions read the run, so the engine resolves them (not the pure library); lower-case keys.
WORKFLOW_FUNCTIONS: dict[str, tuple[int, int]] = {
    name.lower(): arity
    for name, arity in {
        "trigger": (0, 0),
        "triggerBody": (0, 0),
        "triggerOutputs": (0, 0),
        "triggerFormDataValue": (1, 1),
        "triggerFormDataMultiValues": (1, 1),
        "triggerMultipartBody": (1, 1),
        "multipartBody": (2, 2),
        "body": (1, 1),
        "outputs": (1, 1),
        "actions": (1, 1),
        "action": (0, 0),
        "actionBody": (1, 1),
        "actionOutputs": (1, 1),
        "items": (1, 1),
        "item": (0, 0),
        "iterationIndexes": (1, 1),
        "variables": (1, 1),
        "parameters": (1, 1),
        "workflow": (0, 0),
        "result": (1, 1),
    }.items()
}


FUNCTIONS_REFERENCE = "https://learn.microsoft.com/azure/logic-apps/workflow-definition-language-functions-reference"
# Functions listed in the reference above that the engine does not implement (lower-case).
UNSUPPORTED_WDL_FUNCTIONS = frozenset({"formdatamultivalues", "formdatavalue", "listcallbackurl", "xml", "xpath"})


def unknown_function_problem(name: str) -> str:
    """Why a call to `name` cannot be evaluated: a real WDL function the engine lacks, or no WDL function."""
    if name.lower() in UNSUPPORTED_WDL_FUNCTIONS:
        return (f"the function '{name}' is not supported by orderbridge.wdl "
                "(it is a Workflow Definition Language function)")
    return f"unknown function '{name}'; check the spelling against {FUNCTIONS_REFERENCE}"


# encodeUriComponent is documented with one argument, yet Microsoft-authored templates call it with more and
# deploy; what Azure does with the extra arguments is not documented (README), so such a call parses and fails
# when it is evaluated instead of refusing the whole definition.
_ARITY_CHECKED_WHEN_EVALUATED = frozenset({"encodeuricomponent"})


def undocumented_arity_problem(name: str, count: int) -> str | None:
    """The precise report for a call whose argument count the reference doesn't cover, else None."""
    spec = library_lookup(name)
    if spec is None or spec.name.lower() not in _ARITY_CHECKED_WHEN_EVALUATED:
        return None
    if spec.min_args <= count and (spec.max_args is None or count <= spec.max_args):
        return None
    return (f"{name}() is documented with {spec.max_args} argument(s) but is given {count} "
            f"({FUNCTIONS_REFERENCE}#{spec.name}); Azure deploys such calls, but what it does with the other "
            "arguments is not documented, so orderbridge.wdl fails this expression when it is evaluated")


def names_differing_in_case(name: str, candidates: Iterable[str]) -> str:
    """A note for a name that matches a candidate only when letter case is ignored, else ""."""
    near = sorted(c for c in candidates if c != name and c.lower() == name.lower())
    if not near:
        return ""
    return (f"; '{near[0]}' differs only in letter case: the docs do not say whether Azure matches action and "
            "loop names case-insensitively, so orderbridge.wdl matches them exactly")


class Environment(Protocol):
    """What evaluating an expression needs: workflow functions, the clock and GUIDs."""

    def workflow_function(self, name: str, args: list[Any]) -> Any:
        """Evaluate workflow function `name` (lower-case) with evaluated `args`."""

    def now(self) -> datetime:
        """The current time (aware UTC)."""

    def new_guid(self) -> str:
        """A fresh GUID string."""


Evaluator = Callable[[Environment], Any]


@dataclass(frozen=True)
class FunctionCall:
    """A call found in an expression, for `lint`: the name and its literal arguments (None if not literal)."""

    name: str
    literal_args: tuple[Any, ...]


_MISSING = object()


@dataclass
class Expression:
    """A parsed expression: its text, its compiled form and the calls it makes."""

    text: str
    evaluator: Evaluator
    calls: list[FunctionCall] = field(default_factory=list)

    def evaluate(self, env: Environment, path: str | None = None) -> Any:
        """Evaluate, attaching the expression text and action path to any error."""
        try:
            return self.evaluator(env)
        except WdlError as exc:
            if exc.expression is None:
                exc.expression = self.text
            exc.path = exc.path or path
            raise
        except RecursionError as exc:
            raise ExpressionEvaluationError("expression nests too deeply", expression=self.text, path=path) from exc
        except (TypeError, ValueError, KeyError, ZeroDivisionError, OverflowError, AttributeError) as exc:
            # A library function met a value it did not expect: report it like Azure, as a failed expression.
            raise ExpressionEvaluationError(
                f"evaluation failed: {type(exc).__name__}: {exc}", expression=self.text, path=path
            ) from exc


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<punct>\?\.|\?\[|[().,\[\]])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    value: Any
    position: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            hint = " (strings use single quotes)" if text[position] == '"' else ""
            raise ExpressionSyntaxError(
                f"unexpected character {text[position]!r}{hint}", expression=text, position=position
            )
        kind = match.lastgroup
        raw = match.group()
        if kind == "string":
            tokens.append(_Token("literal", raw[1:-1].replace("''", "'"), position))
        elif kind == "number":
            is_float = any(c in raw for c in ".eE")
            tokens.append(_Token("literal", float(raw) if is_float else int(raw), position))
        elif kind == "name":
            tokens.append(_Token("name", raw, position))
        elif kind == "punct":
            tokens.append(_Token(raw, raw, position))
        elif match.end() == position:  # pragma: no cover - the pattern never matches empty
            break
        position = match.end()
    tokens.append(_Token("end", None, len(text)))
    return tokens


_KEYWORDS = {"true": True, "false": False, "null": None}


class _Parser:
    def __init__(self, text: str, functions: Callable[[str], Any]) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.calls: list[FunctionCall] = []
        self.lookup = functions

    def fail(self, message: str, token: _Token) -> ExpressionSyntaxError:
        return ExpressionSyntaxError(message, expression=self.text, position=token.position)

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self, kind: str) -> _Token:
        token = self.peek()
        if token.kind != kind:
            found = "the end of the expression" if token.kind == "end" else repr(token.value)
            raise self.fail(f"expected {kind!r} but found {found}", token)
        self.index += 1
        return token

    def parse(self) -> tuple[Evaluator, Any]:
        evaluator, literal = self.expression()
        token = self.peek()
        if token.kind != "end":
            raise self.fail(f"unexpected {token.value!r} after a complete expression", token)
        return evaluator, literal

    def expression(self) -> tuple[Evaluator, Any]:
        """Returns the evaluator and, when the expression is a plain literal, its value (else _MISSING)."""
        evaluator, literal = self.primary()
        while self.peek().kind in (".", "[", "?.", "?["):
            evaluator = self.accessor(evaluator)
            literal = _MISSING
        return evaluator, literal

    def primary(self) -> tuple[Evaluator, Any]:
        token = self.peek()
        if token.kind == "literal":
            self.index += 1
            value = token.value
            return (lambda env: value), value
        if token.kind == "name":
            self.index += 1
            if self.peek().kind == "(":
                return self.call(token), _MISSING
            if token.value.lower() in _KEYWORDS:
                value = _KEYWORDS[token.value.lower()]
                return (lambda env: value), value
            raise self.fail(f"{token.value!r} is neither a function call nor true/false/null", token)
        if token.kind == "end":
            raise self.fail("the expression is empty or ends too early", token)
        raise self.fail(f"unexpected {token.value!r}", token)

    def call(self, name_token: _Token) -> Evaluator:
        self.take("(")
        args: list[Evaluator] = []
        literals: list[Any] = []
        if self.peek().kind != ")":
            while True:
                evaluator, literal = self.expression()
                args.append(evaluator)
                literals.append(None if literal is _MISSING else literal)
                if self.peek().kind == ",":
                    self.index += 1
                    continue
                break
        self.take(")")
        name = name_token.value
        self.calls.append(FunctionCall(name, tuple(literals)))
        return _compile_call(name, args, self.lookup)

    def accessor(self, target: Evaluator) -> Evaluator:
        token = self.peek()
        self.index += 1
        null_safe = token.kind.startswith("?")
        if token.kind in (".", "?."):
            key = self.take("name").value
            return lambda env: select(target(env), key, null_safe)
        index, _ = self.expression()
        self.take("]")
        return lambda env: select(target(env), index(env), null_safe)


def _compile_call(name: str, args: list[Evaluator], lookup: Callable[[str], Any]) -> Evaluator:
    key = name.lower()
    if key in WORKFLOW_FUNCTIONS:
        low, high = WORKFLOW_FUNCTIONS[key]
        _check_arity(name, len(args), low, high)
        return lambda env: env.workflow_function(key, [arg(env) for arg in args])
    spec = lookup(name)
    if spec is None:
        # Unknown functions fail when evaluated (lint reports them statically), never a silent null.
        def unknown(env: Environment) -> Any:
            raise UnknownFunctionError(unknown_function_problem(name))

        return unknown
    unsettled = undocumented_arity_problem(name, len(args))
    if unsettled is not None:
        def unsettled_call(env: Environment) -> Any:
            raise FunctionArgumentError(unsettled)

        return unsettled_call
    _check_arity(spec.name, len(args), spec.min_args, spec.max_args)
    impl = spec.impl
    if spec.needs_env:
        return lambda env: impl(env, *[arg(env) for arg in args])
    if len(args) == 1:
        only = args[0]
        return lambda env: impl(only(env))
    return lambda env: impl(*[arg(env) for arg in args])


def _check_arity(name: str, count: int, low: int, high: int | None) -> None:
    if count < low or (high is not None and count > high):
        expected = f"{low}" if low == high else (f"at least {low}" if high is None else f"{low} to {high}")
        raise FunctionArgumentError(
            f"the function '{name}' takes {expected} argument(s) but was given {count}"
        )


def select(value: Any, key: Any, null_safe: bool) -> Any:
    """Property or index access with the `?` rule: null instead of an error when asked."""
    if value is None:
        if null_safe:
            return None
        raise ExpressionEvaluationError(
            f"property {json.dumps(key)} cannot be selected: the value is null; use '?' (e.g. ?['{key}']) "
            "if it may be missing"
        )
    if isinstance(value, dict):
        if isinstance(key, str):
            if key in value:
                return value[key]
            # Exact name first, then case-insensitive: how Logic Apps resolves names in our experience;
            # the documentation does not say (see README).
            folded = key.lower()
            for name, item in value.items():
                if name.lower() == folded:
                    return item
            if null_safe:
                return None
            shown = ", ".join(repr(k) for k in list(value)[:10])
            raise ExpressionEvaluationError(
                f"property '{key}' doesn't exist, available properties are {shown or 'none'}; "
                f"use ?['{key}'] if it may be missing"
            )
        raise ExpressionEvaluationError(f"an object cannot be indexed by {json.dumps(key)}; use a property name")
    if isinstance(value, list):
        if isinstance(key, int) and not isinstance(key, bool):
            if 0 <= key < len(value):
                return value[key]
            if null_safe:
                return None
            raise ExpressionEvaluationError(
                f"array index {key} is out of range for an array of {len(value)} item(s)"
            )
        raise ExpressionEvaluationError(
            f"an array cannot be selected by {json.dumps(key)}; use an integer index like [0]"
        )
    if null_safe:
        return None
    raise ExpressionEvaluationError(
        f"property {json.dumps(key)} cannot be selected on a value of type {type_name(value)}"
    )


def parse_expression(text: str, path: str | None = None) -> Expression:
    """Parse the text after the leading `@` (or inside `@{…}`)."""
    try:
        parser = _Parser(text, library_lookup)
        evaluator, _ = parser.parse()
    except WdlError as exc:
        if path and exc.path is None:
            exc.path = path
        raise
    return Expression(text, evaluator, parser.calls)


def to_interpolated_text(value: Any) -> str:
    """How a value is written into a string by `@{…}`: the same text `string()` gives."""
    if isinstance(value, str):
        return value
    spec = library_lookup("string")
    if spec is None:
        raise ExpressionEvaluationError("string interpolation needs the function library's string(), which is missing")
    return spec.impl(value)
