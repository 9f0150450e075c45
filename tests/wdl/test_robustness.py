"""Arbitrary input never escapes as a Python error: only the engine's typed errors or problems."""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orderbridge.wdl import EvaluationContext, WdlError, evaluate, lint
from tests._properties import examples

ALPHABET = st.sampled_from(list("@{}()[]'.,?- abxy0123_") + ["body(", "item()", "concat(", "''", "@@", "@{"])
TEXT = st.lists(ALPHABET, max_size=25).map("".join)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                    max_leaves=8)


@settings(max_examples=examples(300), deadline=None)
@given(TEXT)
def test_any_string_evaluates_or_fails_with_a_typed_error(text: str) -> None:
    context = EvaluationContext(parameters={"a": {"b": [1]}}, actions={"x": {"outputs": {"body": 1}}})
    try:
        evaluate(text, context)
    except WdlError as exc:
        assert str(exc)


@settings(max_examples=examples(150), deadline=None)
@given(st.dictionaries(TEXT, JSON, max_size=4), JSON)
def test_lint_reports_problems_for_any_shape_without_crashing(actions: dict[str, Any], trigger: Any) -> None:
    problems = lint({"$schema": "s", "contentVersion": "1", "triggers": {"t": trigger}, "actions": actions})
    assert all(problem.path and problem.message for problem in problems)


TYPES = st.sampled_from(["Compose", "If", "Foreach", "Until", "Switch", "Scope", "Http", "Select", "Table", "Bogus"])
ACTION = st.fixed_dictionaries({"type": TYPES}, optional={
    key: JSON for key in ("inputs", "runAfter", "expression", "foreach", "actions", "else", "cases", "default",
                          "runtimeConfiguration", "trackedProperties", "limit")})


@settings(max_examples=examples(300), deadline=None)
@given(st.dictionaries(TEXT, ACTION, max_size=4))
def test_compiling_any_shape_succeeds_or_raises_a_typed_error(actions: dict[str, Any]) -> None:
    from orderbridge.wdl import prepare

    definition = {"triggers": {"manual": {"type": "Request"}}, "actions": actions}
    try:
        prepare(definition)
    except WdlError as exc:
        assert str(exc)


INPUT_KEYS = st.sampled_from(["from", "select", "where", "columns", "name", "value", "content", "schema", "headers",
                              "queries", "method", "uri", "body", "statusCode", "interval", "variables", "runStatus",
                              "runError", "joinWith", "format", "authentication", "retryPolicy"])
RUNNABLE = st.fixed_dictionaries(
    {"type": st.sampled_from(["Compose", "Http", "ParseJson", "Response", "Terminate", "Wait", "SetVariable",
                              "InitializeVariable", "Select", "Query", "Join", "Table", "If", "Foreach"])},
    optional={"inputs": JSON | st.dictionaries(INPUT_KEYS, JSON, max_size=4), "expression": st.sampled_from(["@true", "@triggerBody()", True]),
              "foreach": st.sampled_from(["@triggerBody()", "@createArray(1, 2)"]), "actions": st.just({})})


@settings(max_examples=examples(200), deadline=None)
@given(st.dictionaries(st.sampled_from(["A", "B", "C"]), RUNNABLE, max_size=3), JSON)
def test_running_any_runnable_shape_records_failures_instead_of_crashing(actions: dict[str, Any], body: Any) -> None:
    from orderbridge.wdl import HttpResponse, TriggerInput, VirtualClock, run

    definition = {"triggers": {"manual": {"type": "Request", "inputs": {}}}, "actions": actions}
    try:
        result = run(definition, trigger=TriggerInput(body=body), clock=VirtualClock(),
                     http=lambda request: HttpResponse(200))
    except WdlError as exc:
        assert str(exc)
        return
    assert result.status in ("Succeeded", "Failed", "Cancelled")
    assert all(record.status in ("Succeeded", "Failed", "Skipped", "TimedOut") for record in result.all_records)
