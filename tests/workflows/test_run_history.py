"""Neither the source API key nor the fetched payload may appear in run history
(secureData: https://learn.microsoft.com/azure/logic-apps/logic-apps-securing-a-logic-app#secure-data-code-view)."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from orderbridge.wdl import REDACTED, HttpResponse, RunResult

from tests.workflows._harness import (
    API_KEY,
    JSON_CONTENT,
    PAYLOAD_MARKER,
    FakeServiceBus,
    Reply,
    ScriptedSource,
    WorkflowUnderTest,
    run_pipeline,
)

PAYLOAD = {"id": "resource-1", "customer": {"email": PAYLOAD_MARKER}}
MAINTENANCE_PAGE = HttpResponse(200, {"Content-Type": "text/html"}, f"<html>down for maintenance {PAYLOAD_MARKER}</html>")


def _contradicting(pipeline: WorkflowUnderTest, event: dict[str, Any]) -> Reply:
    """200 with a resource (it carries the payload marker) whose id is not the event's: parked."""
    return HttpResponse(200, dict(JSON_CONTENT), {**pipeline.resource(event), "id": "someone-else"})


def recorded_text(result: RunResult) -> str:
    """Everything the run recorded: every action's inputs, outputs, errors, attempts and the answer."""
    parts: list[Any] = [result.error_message, result.outputs]
    if result.response is not None:
        parts += [result.response.headers, result.response.body]
    for record in [result.trigger, *result.all_records]:
        parts += [record.inputs, record.outputs, record.error_code, record.error_message, record.tracked_properties,
                  [attempt.error for attempt in record.attempts]]
    return json.dumps(parts, default=str)


@pytest.mark.parametrize(
    ("case", "reply", "bus_faults", "data"),
    [
        ("queued", lambda p, e: p.found(e), [], None),
        ("parked after 404", lambda p, e: HttpResponse(404, {}, PAYLOAD), [], None),
        ("source down", lambda p, e: HttpResponse(503, {}, PAYLOAD), [], None),
        ("Service Bus refuses", lambda p, e: p.found(e), [401], None),
        ("malformed event", lambda p, e: p.found(e), [], {"unexpected": True}),
        ("maintenance page", lambda p, e: MAINTENANCE_PAGE, [], None),
        ("parked: the resource contradicts the event", _contradicting, [], None),
    ],
)
def test_the_key_and_the_payload_appear_nowhere_in_the_recorded_run(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus, case: str,
    reply: Callable[[WorkflowUnderTest, dict[str, Any]], Reply], bus_faults: list[int], data: dict[str, Any] | None,
) -> None:
    service_bus.fail_next(*bus_faults)
    event = pipeline.event(1) if data is None else pipeline.event(1, data=data)
    source = ScriptedSource(service_bus.clock, [reply(pipeline, event)])

    result = run_pipeline(pipeline, [event], source_base_url="https://source.example", source=source,
                          service_bus=service_bus)

    text = recorded_text(result)
    assert API_KEY not in text, f"{case}: the API key leaked into run history"
    assert PAYLOAD_MARKER not in text, f"{case}: the fetched payload leaked into run history"
    if source.requests:
        assert source.requests[0].headers["X-Api-Key"] == API_KEY, "the key was sent, only hidden from history"


def test_the_fetch_and_send_inputs_are_recorded_as_redacted(pipeline: WorkflowUnderTest, service_bus: FakeServiceBus) -> None:
    event = pipeline.event(1)
    source = ScriptedSource(service_bus.clock, [pipeline.found(event)])

    result = run_pipeline(pipeline, [event], source_base_url="https://source.example", source=source,
                          service_bus=service_bus)

    fetch, send = result.action(pipeline.fetch_action), result.action(pipeline.send_action)
    assert (fetch.inputs, fetch.outputs, send.inputs) == (REDACTED, REDACTED, REDACTED)
    assert service_bus.messages(pipeline.queue)[0].body == pipeline.resource(event)


def test_an_action_reading_the_fetchs_secured_outputs_has_its_inputs_hidden_too(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus
) -> None:
    """Azure hides the inputs of an action that uses secured outputs
    (https://learn.microsoft.com/azure/logic-apps/logic-apps-securing-a-logic-app#considerations-for-securing-inputs-and-outputs):
    the parking reason is therefore read from Park_event's headers, not from Classify_failure."""
    source = ScriptedSource(service_bus.clock, [HttpResponse(404, {}, PAYLOAD)])

    result = run_pipeline(pipeline, [pipeline.event(1)], source_base_url="https://source.example", source=source,
                          service_bus=service_bus)

    assert result.action("Classify_failure").inputs == REDACTED
    assert result.action("Park_event").inputs["headers"]["reason"] == '"OrderNotFound"'
