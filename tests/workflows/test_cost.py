"""Billable executions per order, counted with the engine's metering (Consumption: trigger, every
action run incl. each loop iteration and each retry; skipped actions are free —
https://learn.microsoft.com/azure/logic-apps/logic-apps-pricing). Targets from issue 4:
at most 6 for a single event, at most 2.5 per order in a batch of 10."""
from __future__ import annotations

from infra.workflow_definitions import load_definition
from orderbridge.wdl import HttpResponse, RunResult
from orderbridge.workflow_cost import happy_path_costs

from tests.workflows._harness import (
    JSON_CONTENT,
    VALIDATION_EVENT_TYPE,
    FakeServiceBus,
    Reply,
    WorkflowUnderTest,
    deliver_scripted,
)


def deliver(pipeline: WorkflowUnderTest, service_bus: FakeServiceBus, events: list[dict], *replies: Reply,
            delivery: str = "Notification") -> RunResult:
    return deliver_scripted(pipeline, service_bus, events, *replies, delivery=delivery)[0]


def test_a_single_event_costs_five_executions(pipeline: WorkflowUnderTest, service_bus: FakeServiceBus) -> None:
    result = deliver(pipeline, service_bus, [pipeline.event(1)])

    assert result.billing.total == 5  # trigger, For_each_event, fetch, send, Respond_to_Event_Grid
    assert result.billing.total <= 6


def test_a_batch_of_ten_costs_2_3_executions_per_order(pipeline: WorkflowUnderTest, service_bus: FakeServiceBus) -> None:
    result = deliver(pipeline, service_bus, [pipeline.event(n) for n in range(1, 11)])

    assert result.billing.total == 23  # 1 + 1 + 10 x 2 + 1
    assert result.billing.total / 10 <= 2.5


def test_parking_costs_one_more_than_queueing(pipeline: WorkflowUnderTest, service_bus: FakeServiceBus) -> None:
    result = deliver(pipeline, service_bus, [pipeline.event(1)], HttpResponse(404))

    assert result.billing.total == 6  # trigger, loop, fetch, Classify_failure, Park_event, response


def test_the_handshake_costs_three(pipeline: WorkflowUnderTest, service_bus: FakeServiceBus) -> None:
    handshake = {"id": "h", "eventType": VALIDATION_EVENT_TYPE, "dataVersion": "1", "data": {"validationCode": "c"}}

    result = deliver(pipeline, service_bus, [handshake], delivery="SubscriptionValidation")

    assert result.billing.total == 3


def test_each_retry_is_billed(pipeline: WorkflowUnderTest, service_bus: FakeServiceBus) -> None:
    event = pipeline.event(1)
    result = deliver(pipeline, service_bus, [event], HttpResponse(503), pipeline.found(event))

    assert (result.billing.retries, result.billing.total) == (1, 6)


def test_parking_a_fetched_resource_that_contradicts_the_event_costs_seven(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus
) -> None:
    """The body check fails the send (billed), then Classify_failure and Park_event run."""
    event = pipeline.event(1)
    contradicting = {**pipeline.resource(event), "id": "someone-else"}

    result = deliver(pipeline, service_bus, [event], HttpResponse(200, dict(JSON_CONTENT), contradicting))

    assert result.billing.total == 7  # trigger, loop, fetch, send (failed), Classify_failure, Park_event, response


def test_the_shared_measurement_counts_what_the_harness_counts(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus
) -> None:
    """`orderbridge.workflow_cost` (the benchmark and `orderbridge diff`) against this harness's fakes."""
    definition = load_definition(pipeline.workflow, trigger_concurrency=5, maximum_waiting_runs=15)

    shared = {cost.events: cost.total for cost in happy_path_costs(definition, pipeline.workflow)}

    harness = {n: deliver(pipeline, service_bus, [pipeline.event(i) for i in range(1, n + 1)]).billing.total
               for n in shared}
    assert shared == harness == {1: 5, 10: 23}
