"""Each guard stands twice in a workflow file, because an action computing it once would cost one billed
execution per event (workflows/README.md, "The guards"). These tests fail when the copies differ token
for token as the engine's tokenizer reads them, when they disagree on the same events, or when the
README's layout of a guard is no longer the guard in the file."""
from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

import pytest

from infra.package import REPO_ROOT
from orderbridge.wdl import EvaluationContext, ExpressionEvaluationError, LoopFrame, VirtualClock
from orderbridge.wdl._expressions import Expression, _tokenize, parse_expression
from infra.workflow_definitions import load_definition

from tests.workflows._harness import (
    JSON_CONTENT,
    PIPELINES,
    TRICKY_IDS,
    VALIDATION_EVENT_TYPE,
    FakeServiceBus,
    WorkflowUnderTest,
    deliver_scripted,
)


@dataclass(frozen=True)
class Guard:
    """A guard: the function its expression starts with, and the places (action, path) it stands."""

    name: str
    function: str
    copies: tuple[tuple[str, ...], ...]


def guards(pipeline: WorkflowUnderTest) -> list[Guard]:
    return [
        Guard("event verdict", "if", ((pipeline.fetch_action, "inputs", "uri"), ("Classify_failure", "inputs"))),
        Guard("body verdict", "if", ((pipeline.send_action, "inputs", "headers", "Content-Type"),
                                     ("Classify_failure", "inputs"))),
        Guard("handshake", "and", (("For_each_event", "foreach"), ("Respond_to_Event_Grid", "inputs", "body"))),
    ]


def _expression(pipeline: WorkflowUnderTest, path: tuple[str, ...]) -> str:
    definition = load_definition(pipeline.workflow, trigger_concurrency=5, maximum_waiting_runs=15)
    actions = definition["actions"]
    node: Any = actions[path[0]] if path[0] in actions else actions["For_each_event"]["actions"][path[0]]
    for key in path[1:]:
        node = node[key]
    assert isinstance(node, str) and node.startswith("@"), f"{pipeline.workflow} {'.'.join(path)} is no expression"
    return node[1:]


def _calls(text: str, function: str) -> list[str]:
    """The text of every call of `function` in the expression, outermost first, as the tokenizer sees it."""
    tokens = _tokenize(text)
    found = []
    for i, token in enumerate(tokens[:-1]):
        if token.kind == "name" and token.value.lower() == function.lower() and tokens[i + 1].kind == "(":
            depth = 0
            for closing in tokens[i + 1:]:
                depth += {"(": 1, ")": -1}.get(closing.kind, 0)
                if depth == 0:
                    found.append(text[token.position:closing.position + 1])
                    break
    return found


def _tokens(text: str) -> list[tuple[str, Any]]:
    return [(t.kind, t.value) for t in _tokenize(text)]


def copies(pipeline: WorkflowUnderTest, guard: Guard) -> list[str]:
    """Each copy of the guard: the first such call in its first place, and in each other place the call of
    the same function that is most like it (so a drifted copy is still found, and shown to differ)."""
    first = _calls(_expression(pipeline, guard.copies[0]), guard.function)[0]
    found = [first]
    for path in guard.copies[1:]:
        candidates = _calls(_expression(pipeline, path), guard.function)
        found.append(max(candidates, key=lambda call: SequenceMatcher(None, _tokens(call), _tokens(first)).ratio()))
    return found


CASES = [(p, g) for p in PIPELINES for g in guards(p)]
CASES_PARAMETRIZED = pytest.mark.parametrize(("pipeline", "guard"), CASES, ids=[f"{p.workflow}-{g.name}" for p, g in CASES])


@CASES_PARAMETRIZED
def test_every_copy_of_a_guard_is_the_same_expression(pipeline: WorkflowUnderTest, guard: Guard) -> None:
    first, *others = copies(pipeline, guard)
    for path, other in zip(guard.copies[1:], others):
        assert _tokens(other) == _tokens(first), (
            f"{pipeline.workflow}: the {guard.name} in {'.'.join(path)} differs from the one in "
            f"{'.'.join(guard.copies[0])}:\n{other}\n!=\n{first}")


def _events(pipeline: WorkflowUnderTest) -> list[dict[str, Any]]:
    """Events that take every branch of the verdict."""
    events = [pipeline.event(1), pipeline.event(2, eventType="Other"), pipeline.event(3, dataVersion="2.0"),
              pipeline.event(4, dataVersion=None), pipeline.event(5, id="i" * 129), pipeline.event(6, topic="t\n"),
              pipeline.event(7, data={}), pipeline.event(8, data={**pipeline.make_data(8), "changeVersion": "007"})]
    lengths = ["A" * n for n in (35, 36, 64, 65)]  # the contracts' maxLength and one more
    for n, value in enumerate(TRICKY_IDS + lengths, start=10):
        events += [pipeline.event(n, data={**pipeline.make_data(n), name: value}) for name in pipeline.make_data(n)
                   if name.endswith("Id")]
    return events


def _fetch_outputs(pipeline: WorkflowUnderTest, event: dict[str, Any]) -> list[dict[str, Any] | None]:
    """What the fetch may have left: nothing, a 404, and answers the body verdict must tell apart."""
    resource = pipeline.resource(event) if isinstance(event["data"], dict) and event["data"] else {}
    bodies = [resource, {**resource, "id": "other"}, {**resource, "externalDocumentNumber": "ORD-100001"},
              {**resource, "changeVersion": 2}, {**resource, "changeVersion": 4}, [resource], "<html>", None]
    return [None, {"statusCode": 404, "headers": {}, "body": None},
            *({"statusCode": 200, "headers": dict(JSON_CONTENT), "body": body} for body in bodies),
            {"statusCode": 200, "headers": {"Content-Type": "text/html"}, "body": "<html>"}]


def _value(expression: Expression, context: EvaluationContext) -> Any:
    try:
        return expression.evaluate(context)
    except ExpressionEvaluationError as error:
        return f"fails: {error}"


def _contexts(pipeline: WorkflowUnderTest, guard: Guard) -> list[EvaluationContext]:
    """What the guard reads: deliveries for the handshake, events for the event verdict, and events with
    each answer their fetch may have left for the body verdict."""
    deliveries = [([pipeline.event(1)], "Notification"), ([{"eventType": VALIDATION_EVENT_TYPE}], "Notification"),
                  ([{"eventType": VALIDATION_EVENT_TYPE}], "SubscriptionValidation"),
                  ([{"eventType": VALIDATION_EVENT_TYPE}, pipeline.event(1)], "SubscriptionValidation")]
    triggers = [{"outputs": {"headers": {"aeg-event-type": delivery}, "body": body}} for body, delivery in deliveries]
    runs = {
        "handshake": [(trigger, pipeline.event(1), None) for trigger in triggers],
        "event verdict": [(triggers[0], event, None) for event in _events(pipeline)],
        "body verdict": [(triggers[0], event, outputs) for event in _events(pipeline)[:8]
                         for outputs in _fetch_outputs(pipeline, event)],
    }[guard.name]
    return [EvaluationContext(trigger=trigger, loops=(LoopFrame("For_each_event", event, 0),),
                              actions={pipeline.fetch_action: {"outputs": outputs}})
            for trigger, event, outputs in runs]


@CASES_PARAMETRIZED
def test_the_copies_of_a_guard_agree_on_the_same_input(pipeline: WorkflowUnderTest, guard: Guard) -> None:
    expressions = [parse_expression(text) for text in copies(pipeline, guard)]
    for context in _contexts(pipeline, guard):
        values = [_value(expression, context) for expression in expressions]
        assert len(set(map(str, values))) == 1, f"{pipeline.workflow} {guard.name}: {values}"


@pytest.mark.parametrize("pipeline", PIPELINES, ids=lambda p: p.workflow)
def test_in_a_run_an_event_is_fetched_exactly_when_the_classification_would_accept_it(
    pipeline: WorkflowUnderTest
) -> None:
    """The fetch URL's copy decides what is fetched, Classify_failure's copy names the parking reason:
    every event not fetched is parked with the verdict the fetch refused it for."""
    events = _events(pipeline)
    service_bus = FakeServiceBus(VirtualClock())
    verdict = parse_expression(copies(pipeline, guards(pipeline)[0])[0])

    result, _ = deliver_scripted(pipeline, service_bus, events)

    assert result.response is not None and result.response.status_code == 200, result.error_message
    fetched = [bool(record.attempts) for record in result.records(pipeline.fetch_action)]
    reasons = {m.body["id"]: m.properties["reason"] for m in service_bus.messages(pipeline.parking_queue)}
    for event, was_fetched in zip(events, fetched, strict=True):
        expected = _value(verdict, EvaluationContext(trigger={}, loops=(LoopFrame("For_each_event", event, 0),)))
        assert was_fetched == (expected == "Accepted"), (event["data"], expected)
        if expected != "Accepted":
            assert reasons[event["id"]] == expected, (event, expected)


def _readme_layouts() -> tuple[dict[str, str], dict[str, str]]:
    """The README's guard blocks by '<workflow> <guard>' and its abbreviations (NAME or NAME(args) = text)."""
    text = (REPO_ROOT / "workflows" / "README.md").read_text(encoding="utf-8")
    blocks = dict(re.findall(r"<!-- guard: (.+?) -->\n```\n(.*?)```", text, re.S))
    legend = blocks.pop("abbreviations")
    macros = dict(re.findall(r"^(\w+(?:\([^)]*\))?)\s+= (.+)$", legend, re.M))
    return blocks, macros


def _expand(layout: str, macros: dict[str, str], fetch_action: str) -> str:
    """Expand the README's abbreviations: calls with plain arguments first, then names all at once (so a
    name's text never lands inside a call's arguments), until none is left; literals last (they hold
    parentheses and quotes)."""
    calls, names, literals = {}, {"FETCH": f"'{fetch_action}'"}, {}
    for head, body in macros.items():
        name, _, params = head.partition("(")
        if params:
            calls[name] = ([param.strip() for param in params.rstrip(")").split(",")], body)
        else:
            (literals if body.startswith("'") else names)[name] = body

    def call(match: re.Match[str]) -> str:
        params, body = calls[match.group(1)]
        for param, arg in zip(params, match.group(2).split(", "), strict=True):
            body = re.sub(rf"\b{param}\b", lambda _: arg, body)
        return body

    def expand(text: str, table: dict[str, str]) -> str:
        return re.sub(rf"\b({'|'.join(table)})\b(?!\()", lambda m: table[m.group(1)], text)

    text, previous = layout, None
    while text != previous:
        previous = text
        while (expanded := re.sub(rf"\b({'|'.join(calls)})\(([^()]*)\)", call, text)) != text:
            text = expanded
        text = expand(text, names)
    return expand(text, literals)


@CASES_PARAMETRIZED
def test_the_readme_lays_out_the_guard_that_is_in_the_file(pipeline: WorkflowUnderTest, guard: Guard) -> None:
    blocks, macros = _readme_layouts()
    key = next(k for k in (f"{pipeline.workflow} {guard.name}", f"both {guard.name}") if k in blocks)
    expanded = _expand(blocks[key], macros, pipeline.fetch_action)
    assert _tokens(expanded) == _tokens(copies(pipeline, guard)[0]), f"workflows/README.md: {key} is out of date"
