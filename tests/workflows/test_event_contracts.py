"""The workflows accept what the event contracts in schemas/ allow: a publisher that follows the
schema never has an event parked."""
from __future__ import annotations

import json
from typing import Any

import pytest

from order_integration.contracts import ContractViolation, validate
from orderbridge.fake_apis._server import FakeApiServer
from orderbridge.wdl import HttpxTransport

from infra.package import REPO_ROOT

from tests.workflows._harness import FakeServiceBus, WorkflowUnderTest, run_pipeline


def _schema(pipeline: WorkflowUnderTest) -> dict[str, Any]:
    path = REPO_ROOT / "schemas" / f"{pipeline.data_contract}.schema.json"
    return json.loads(path.read_text(encoding="utf-8"))


def schema_examples(pipeline: WorkflowUnderTest) -> list[dict[str, Any]]:
    return _schema(pipeline)["examples"]


def id_length_limits(pipeline: WorkflowUnderTest) -> dict[str, int]:
    """The required string ids of the event's data and their contract maxLength (orderId 35, ...)."""
    schema = _schema(pipeline)
    limits = {name: spec["maxLength"] for name, spec in schema["properties"].items()
              if name in schema["required"] and "maxLength" in spec}
    assert limits, f"schemas/{pipeline.data_contract}.schema.json limits no id's length"
    return limits


def _with_id_length(pipeline: WorkflowUnderTest, n: int, name: str, length: int) -> dict[str, Any]:
    """Event `n` whose data id `name` has `length` characters (a pattern-conforming one)."""
    data = {**pipeline.make_data(n), name: "A" * length}
    return pipeline.event(n, data=data)


def test_the_test_events_follow_the_contract(pipeline: WorkflowUnderTest) -> None:
    for n in (1, 2, 10):
        validate(pipeline.data_contract, pipeline.event(n)["data"])


def test_every_schema_example_is_queued_not_parked(
    pipeline: WorkflowUnderTest, source_server: FakeApiServer, http_client: HttpxTransport, service_bus: FakeServiceBus
) -> None:
    examples = schema_examples(pipeline)
    assert examples, f"schemas/{pipeline.data_contract}.schema.json has no examples"
    events = [pipeline.event(n, data=data) for n, data in enumerate(examples, start=1)]
    for event in events:
        validate(pipeline.data_contract, event["data"])
        pipeline.seed(source_server, event)

    result = run_pipeline(pipeline, events, source_base_url=source_server.base_url, source=http_client,
                          service_bus=service_bus)

    assert result.response is not None and result.response.status_code == 200, result.error_message
    queued = [m.broker_properties["CorrelationId"] for m in service_bus.messages(pipeline.queue)]
    assert queued == [e["id"] for e in events]
    assert service_bus.messages(pipeline.parking_queue) == []


def test_ids_of_the_longest_length_the_contract_allows_are_queued(
    pipeline: WorkflowUnderTest, source_server: FakeApiServer, http_client: HttpxTransport, service_bus: FakeServiceBus
) -> None:
    limits = id_length_limits(pipeline)
    events = [_with_id_length(pipeline, n, name, limit) for n, (name, limit) in enumerate(limits.items(), start=1)]
    for event in events:
        validate(pipeline.data_contract, event["data"])
        pipeline.seed(source_server, event)

    result = run_pipeline(pipeline, events, source_base_url=source_server.base_url, source=http_client,
                          service_bus=service_bus)

    assert result.response is not None and result.response.status_code == 200, result.error_message
    queued = [m.broker_properties for m in service_bus.messages(pipeline.queue)]
    assert sorted(queued, key=lambda b: b["CorrelationId"]) == [pipeline.broker_properties(e) for e in events]
    assert service_bus.messages(pipeline.parking_queue) == []


def test_an_id_longer_than_the_contract_allows_is_parked_as_malformed_without_fetching(
    pipeline: WorkflowUnderTest, source_server: FakeApiServer, http_client: HttpxTransport, service_bus: FakeServiceBus
) -> None:
    """The integrators would refuse it (BC's externalDocumentNumber holds 35 characters) and the ids they
    derive from it (+retry1, +parked) must stay within Service Bus's 128: the workflow parks it at once,
    with the reason, instead of queueing what can only fail later."""
    limits = id_length_limits(pipeline)
    events = [_with_id_length(pipeline, n, name, limit + 1)
              for n, (name, limit) in enumerate(limits.items(), start=1)]
    for event in events:
        with pytest.raises(ContractViolation):
            validate(pipeline.data_contract, event["data"])
        pipeline.seed(source_server, event)

    result = run_pipeline(pipeline, events, source_base_url=source_server.base_url, source=http_client,
                          service_bus=service_bus)

    assert result.response is not None and result.response.status_code == 200, result.error_message
    parked = {m.body["id"]: m.properties for m in service_bus.messages(pipeline.parking_queue)}
    assert sorted(parked) == [e["id"] for e in events]
    for event, limit in zip(events, limits.values()):
        assert parked[event["id"]]["reason"] == "MalformedEvent"
        assert f"to {limit} characters" in parked[event["id"]]["description"], parked[event["id"]]
    assert source_server.requests == [] and service_bus.messages(pipeline.queue) == []
