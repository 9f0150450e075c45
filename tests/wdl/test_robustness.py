"""Arbitrary input never escapes as a Python error: only the engine's typed errors or problems."""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orderbridge.wdl import EvaluationContext, WdlError, evaluate, lint

ALPHABET = st.sampled_from(list("@{}()[]'.,?- abxy0123_") + ["body(", "item()", "concat(", "''", "@@", "@{"])
TEXT = st.lists(ALPHABET, max_size=25).map("".join)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                    max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_any_string_evaluates_or_fails_with_a_typed_error(text: str) -> None:
    context = EvaluationContext(parameters={"a": {"b": [1]}}, actions={"x": {"outputs": {"body": 1}}})
    try:
        evaluate(text, context)
    except WdlError as exc:
        assert str(exc)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(TEXT, JSON, max_size=4), JSON)
def test_lint_reports_problems_for_any_shape_without_crashing(actions: dict[str, Any], trigger: Any) -> None:
    problems = lint({"$schema": "s", "contentVersion": "1", "triggers": {"t": trigger}, "actions": actions})
    assert all(problem.path and problem.message for problem in problems)


TYPES = st.sampled_from(["Compose", "If", "Foreach", "Until", "Switch", "Scope", "Http", "Select", "Table", "Bogus"])
ACTION = st.fixed_dictionaries({"type": TYPES}, optional={
    key: JSON for key in ("inputs", "runAfter", "expression", "foreach", "actions", "else", "cases", "default",
                          "runtimeConfiguration", "trackedProperties", "limit")})


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(TEXT, ACTION, max_size=4))
def test_compiling_any_shape_succeeds_or_raises_a_typed_error(actions: dict[str, Any]) -> None:
    from orderbridge.wdl import prepare

    definition = {"triggers": {"manual": {"type": "Request"}}, "actions": actions}
    try:
        prepare(definition)
    except WdlError as exc:
        assert str(exc)
