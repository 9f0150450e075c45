"""The workflows accept what the event contracts in schemas/ allow: a publisher that follows the
schema never has an event parked."""
from __future__ import annotations

import json
from typing import Any

import pytest

from order_integration.contracts import validate
from orderbridge.fake_apis._server import FakeApiServer
from orderbridge.wdl import HttpxTransport

from orderbridge.packaging import REPO_ROOT

from tests.workflows._harness import FakeServiceBus, Pipeline, run_pipeline


def schema_examples(pipeline: Pipeline) -> list[dict[str, Any]]:
    path = REPO_ROOT / "schemas" / f"{pipeline.data_contract}.schema.json"
    return json.loads(path.read_text(encoding="utf-8"))["examples"]


def test_the_test_events_follow_the_contract(pipeline: Pipeline) -> None:
    for n in (1, 2, 10):
        validate(pipeline.data_contract, pipeline.event(n)["data"])


def test_every_schema_example_is_queued_not_parked(
    pipeline: Pipeline, source_server: FakeApiServer, http_client: HttpxTransport, service_bus: FakeServiceBus
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
