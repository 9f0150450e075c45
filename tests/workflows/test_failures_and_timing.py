"""Retries, outages and the 30 s Event Grid answer window, on virtual time with a scripted source.

Event Grid waits 30 s for an answer and retries 5xx but not 400/401/403/413
(https://learn.microsoft.com/azure/event-grid/delivery-and-retry), so every failure that is not
the event's own fault must end in a 5xx within 30 s, with nothing parked.
"""
from __future__ import annotations

import json
import re

import pytest

from orderbridge.wdl import HttpResponse, RunResult, TransportError
from orderbridge.wdl import _actions
from orderbridge.wdl._runtime import Outcome
from infra.workflow_definitions import load_definition

from tests.workflows._harness import (
    EVENT_GRID_TIMEOUT_SECONDS,
    FakeServiceBus,
    WorkflowUnderTest,
    ScriptedSource,
    response_seconds,
    run_pipeline,
    statuses,
)

FOUND = "the resource the event names"  # replaced by pipeline.found()
NOT_FOUND = HttpResponse(404, {}, {"error": {"code": "NotFound"}})
UNAVAILABLE = HttpResponse(503, {}, {"error": {"code": "ServiceUnavailable"}})


def deliver(pipeline: WorkflowUnderTest, source: ScriptedSource, service_bus: FakeServiceBus, events: int = 1) -> RunResult:
    return run_pipeline(pipeline, [pipeline.event(n) for n in range(1, events + 1)],
                        source_base_url="https://source.example", source=source, service_bus=service_bus)


def assert_retry_later(result: RunResult) -> None:
    assert result.response is not None
    assert result.response.status_code == 503, "Event Grid must redeliver: a 5xx, never a 4xx"
    assert result.status == "Failed", "the run must show up as failed in monitoring"


def test_a_503_then_200_is_retried_after_the_minimum_interval_and_queued(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus
) -> None:
    source = ScriptedSource(service_bus.clock, [UNAVAILABLE, pipeline.found()])

    result = deliver(pipeline, source, service_bus)

    assert result.response is not None and result.response.status_code == 200
    attempts = result.action(pipeline.fetch_action).attempts
    assert [a.status_code for a in attempts] == [503, 200]
    assert (attempts[1].start - attempts[0].end).total_seconds() == 5.0
    assert len(service_bus.messages(pipeline.queue)) == 1


@pytest.mark.parametrize("transient", [HttpResponse(429), HttpResponse(408), HttpResponse(500),
                                       TransportError("connection refused")])
def test_throttling_timeouts_and_connection_failures_are_retried(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus, transient: HttpResponse | Exception
) -> None:
    source = ScriptedSource(service_bus.clock, [transient, pipeline.found()])

    result = deliver(pipeline, source, service_bus)

    assert len(source.requests) == 2
    assert result.response is not None and result.response.status_code == 200


@pytest.mark.parametrize("outage", [UNAVAILABLE, TransportError("connection refused")])
def test_a_source_down_beyond_the_retry_budget_answers_503_and_sends_nothing(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus, outage: HttpResponse | Exception
) -> None:
    source = ScriptedSource(service_bus.clock, [outage])

    result = deliver(pipeline, source, service_bus)

    assert_retry_later(result)
    assert len(source.requests) == 2, "one call and the one retry of the policy"
    assert service_bus.requests == [], "neither queued nor parked: a transient failure is retried by Event Grid"
    assert statuses(result, "Classify_failure") == ["Failed"]
    assert statuses(result, "Park_event") == ["Skipped"]


@pytest.mark.parametrize("status", [400, 401, 403, 409])
def test_other_client_errors_of_the_source_are_not_parked(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus, status: int
) -> None:
    """Only 404 means "this resource does not exist"; a 401 (rotated key) must not park every event."""
    source = ScriptedSource(service_bus.clock, [HttpResponse(status)])

    result = deliver(pipeline, source, service_bus)

    assert_retry_later(result)
    assert len(source.requests) == 1
    assert service_bus.requests == []


@pytest.mark.parametrize("status", [500, 401, 403])
def test_service_bus_refusing_the_message_answers_503_and_parks_nothing(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus, status: int
) -> None:
    """A 401/403 right after deployment is the role assignment still propagating."""
    service_bus.fail_next(status)
    source = ScriptedSource(service_bus.clock, [pipeline.found()])

    result = deliver(pipeline, source, service_bus)

    assert_retry_later(result)
    assert len(service_bus.requests) == 1, "no retry inside the run: Event Grid redelivers"
    assert service_bus.messages(pipeline.queue) == [] and service_bus.messages(pipeline.parking_queue) == []


def test_a_failed_parking_send_answers_503(pipeline: WorkflowUnderTest, service_bus: FakeServiceBus) -> None:
    service_bus.fail_next(503)
    source = ScriptedSource(service_bus.clock, [NOT_FOUND])

    result = deliver(pipeline, source, service_bus)

    assert_retry_later(result)
    assert statuses(result, "Park_event") == ["Failed"]


def test_one_transient_failure_in_a_batch_answers_503_for_the_whole_batch(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus
) -> None:
    source = ScriptedSource(service_bus.clock, [pipeline.found()])
    service_bus.fail_next(500)  # the first send of the batch fails, the other nine succeed

    result = deliver(pipeline, source, service_bus, events=10)

    assert_retry_later(result)
    assert len(service_bus.messages(pipeline.queue)) == 9, "the redelivery re-sends these; duplicates are dropped"


def test_the_answer_comes_only_after_service_bus_has_the_message(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus
) -> None:
    service_bus.latency = 2.0
    source = ScriptedSource(service_bus.clock, [pipeline.found()], latency=1.0)

    result = deliver(pipeline, source, service_bus)

    send = result.action(pipeline.send_action)
    answer = result.action("Respond_to_Event_Grid")
    assert send.status == "Succeeded" and answer.start >= send.end
    assert response_seconds(result) == 3.0


@pytest.mark.parametrize(
    ("case", "replies", "source_latency", "bus_latency", "events"),
    [
        ("source never answers", [FOUND], 120.0, 0.0, 1),
        ("slow 503s until the action times out", [UNAVAILABLE], 4.0, 0.0, 1),
        ("answer just inside the fetch limit, then Service Bus hangs", [FOUND], 7.9, 120.0, 1),
        ("404 just inside the fetch limit, then the parking send hangs", [NOT_FOUND], 7.9, 120.0, 1),
        ("a full batch of ten, all slow", [FOUND], 7.9, 4.9, 10),
    ],
)
@pytest.mark.parametrize("reading", ["action", "attempt"])
def test_the_worst_retry_cases_answer_within_event_grids_30_seconds(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus, case: str, replies: list[HttpResponse | str],
    source_latency: float, bus_latency: float, events: int, reading: str,
) -> None:
    """Under both readings of limit.timeout that interrupt a request (whole action, each attempt)."""
    service_bus.latency = bus_latency
    source = ScriptedSource(service_bus.clock, [pipeline.found() if r is FOUND else r for r in replies],
                            latency=source_latency)

    result = run_pipeline(pipeline, [pipeline.event(n) for n in range(1, events + 1)],
                          source_base_url="https://source.example", source=source, service_bus=service_bus,
                          limit_timeout_reading=reading)

    elapsed = response_seconds(result)
    assert elapsed <= EVENT_GRID_TIMEOUT_SECONDS - 5, f"{case}: answered after {elapsed} s"
    assert result.response is not None and result.response.status_code in (200, 503), case


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"PT(\d+)S", duration)
    assert match, f"expected a PTnS duration, got {duration}"
    return float(match.group(1))


def test_the_budget_also_holds_if_limit_timeout_bounded_each_attempt(pipeline: WorkflowUnderTest) -> None:
    """The docs do not say outright whether limit.timeout bounds each attempt or the whole action
    (the engine reads it as the whole action). Were it per attempt, the worst case would be every
    attempt running its full limit plus the retry waits, then the send's limit: still under 30 s."""
    actions = load_definition(pipeline.workflow, trigger_concurrency=1, maximum_waiting_runs=11)[
        "actions"]["For_each_event"]["actions"]
    fetch, send, park = actions[pipeline.fetch_action], actions[pipeline.send_action], actions["Park_event"]
    retries = fetch["inputs"]["retryPolicy"]
    assert retries["type"] == "fixed" and send["inputs"]["retryPolicy"] == park["inputs"]["retryPolicy"] == {
        "type": "none"}
    fetch_worst = (retries["count"] + 1) * _seconds(fetch["limit"]["timeout"]) + retries["count"] * _seconds(
        retries["interval"])
    worst = fetch_worst + max(_seconds(send["limit"]["timeout"]), _seconds(park["limit"]["timeout"]))
    assert worst <= EVENT_GRID_TIMEOUT_SECONDS - 4, f"per-attempt reading: {worst} s"


@pytest.mark.parametrize("loop_status", ["Cancelled", "TimedOut"])
def test_a_cancelled_or_timed_out_loop_is_also_answered_503(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus, monkeypatch: pytest.MonkeyPatch, loop_status: str
) -> None:
    """Azure marks an action Cancelled, e.g. when its limit.timeout lapses
    (https://learn.microsoft.com/azure/logic-apps/logic-apps-workflow-actions-triggers#asynchronous-limits),
    or TimedOut; the engine's Foreach itself only ends Succeeded or Failed, so this test makes the real
    loop report the status and checks the routing: without it in Respond_with_retry's runAfter neither
    Response runs and Event Grid gets a 502 from the trigger."""
    real_foreach = _actions.HANDLERS["foreach"]

    def foreach_ending(*args: object) -> Outcome:
        outcome = real_foreach(*args)  # type: ignore[arg-type]
        return Outcome(loop_status, outcome.inputs, outcome.outputs, "ActionTimedOut", f"the loop ended {loop_status}")

    monkeypatch.setitem(_actions.HANDLERS, "foreach", foreach_ending)
    source = ScriptedSource(service_bus.clock, [pipeline.found()])

    result = deliver(pipeline, source, service_bus)

    assert statuses(result, "For_each_event") == [loop_status]
    assert statuses(result, "Respond_to_Event_Grid") == ["Skipped"]
    assert_retry_later(result)


@pytest.mark.parametrize(("slow", "seconds"), [("source", 40.0), ("service bus", 40.0)])
def test_if_limit_timeout_does_not_interrupt_requests_a_late_answer_loses_nothing(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus, slow: str, seconds: float
) -> None:
    """Third reading of limit.timeout: Consumption does not cut a synchronous request short (only the
    120 s outbound limit does). Then the 30 s answer is best effort: Event Grid gives up on the first
    delivery and redelivers the same batch; the late first run still queues the resource, the
    redelivery's send carries the same MessageId and duplicate detection drops it."""
    event = pipeline.event(1)
    source = ScriptedSource(service_bus.clock, [pipeline.found()], latency=seconds if slow == "source" else 0.0)
    service_bus.latency = seconds if slow == "service bus" else 0.0

    late = run_pipeline(pipeline, [event], source_base_url="https://source.example", source=source,
                        service_bus=service_bus, limit_timeout_reading="async-only")
    source.latency = service_bus.latency = 0.0
    redelivery = run_pipeline(pipeline, [event], source_base_url="https://source.example", source=source,
                              service_bus=service_bus, limit_timeout_reading="async-only")

    assert response_seconds(late) > EVENT_GRID_TIMEOUT_SECONDS, "Event Grid counts this delivery as failed"
    assert late.response is not None and late.response.status_code == 200
    assert redelivery.response is not None and redelivery.response.status_code == 200
    sent_ids = [json.loads(r.headers["BrokerProperties"])["MessageId"] for r in service_bus.requests]
    assert sent_ids == [pipeline.broker_properties(event)["MessageId"]] * 2
    assert len(service_bus.messages(pipeline.queue)) == 1
    assert service_bus.messages(pipeline.parking_queue) == []
