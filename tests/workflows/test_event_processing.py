"""Both workflows run in the engine against a loopback source API (fake ECP / fake ERP) and a fake
Service Bus: what they fetch, what they queue or park, and what Event Grid hears back."""
from __future__ import annotations

import json
from typing import Any

import pytest

from orderbridge.fake_apis._server import FakeApiServer
from orderbridge.wdl import HttpRequest, HttpResponse, HttpxTransport, RunResult, Transport

from tests.workflows._harness import (
    API_KEY,
    ERP_EVENTS,
    ORDER_EVENTS,
    SERVICE_BUS_AUDIENCE,
    SERVICE_BUS_HOST,
    VALIDATION_EVENT_TYPE,
    FakeServiceBus,
    WorkflowUnderTest,
    run_pipeline,
    statuses,
)


def deliver(pipeline: WorkflowUnderTest, events: list[dict[str, Any]], server: FakeApiServer,
            transport: Transport, service_bus: FakeServiceBus) -> RunResult:
    return run_pipeline(pipeline, events, source_base_url=server.base_url, source=transport,
                        service_bus=service_bus)


def parked_reasons(pipeline: WorkflowUnderTest, service_bus: FakeServiceBus) -> list[str]:
    return [m.properties["reason"] for m in service_bus.messages(pipeline.parking_queue)]


def test_happy_path_fetches_with_the_key_and_queues_the_resource_as_fetched(
    pipeline: WorkflowUnderTest, source_server: FakeApiServer, http_client: HttpxTransport, service_bus: FakeServiceBus
) -> None:
    event = pipeline.event(1)
    resource = pipeline.seed(source_server, event)
    sent_to_source: list[HttpRequest] = []

    def recording(request: HttpRequest) -> HttpResponse:
        sent_to_source.append(request)
        return http_client(request)

    result = deliver(pipeline, [event], source_server, recording, service_bus)

    assert result.status == "Succeeded", result.error_message
    assert result.response is not None and result.response.status_code == 200
    [fetch] = sent_to_source
    assert (fetch.method, fetch.url) == ("GET", source_server.base_url + pipeline.fetch_path(event))
    assert fetch.headers == {"Accept": "application/json", "X-Api-Key": API_KEY}
    assert fetch.body is None and fetch.authentication is None
    [received] = source_server.requests
    assert (received.method, received.path, received.headers["x-api-key"]) == (
        "GET", pipeline.fetch_path(event), API_KEY)
    [send] = service_bus.requests
    assert send.method == "POST"
    assert send.url == f"https://{SERVICE_BUS_HOST}/{pipeline.queue}/messages"
    assert send.authentication == {"type": "ManagedServiceIdentity", "audience": SERVICE_BUS_AUDIENCE}
    assert send.headers == {
        "BrokerProperties": send.headers["BrokerProperties"],
        "Content-Type": "application/json",
        "eventType": f'"{pipeline.event_type}"',
        "eventSource": f'"{event["topic"]}"',
        "dataVersion": '"1.0"',
    }
    [message] = service_bus.messages(pipeline.queue)
    assert message.broker_properties == pipeline.broker_properties(event)
    assert message.body == resource
    assert service_bus.messages(pipeline.parking_queue) == []


def test_subscription_validation_handshake_is_answered_without_calling_anyone(
    pipeline: WorkflowUnderTest, source_server: FakeApiServer, http_client: HttpxTransport, service_bus: FakeServiceBus
) -> None:
    handshake = {
        "id": "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66",
        "topic": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.EventGrid/topics/t",
        "subject": "",
        "eventType": VALIDATION_EVENT_TYPE,
        "eventTime": "2026-11-27T09:14:03Z",
        "dataVersion": "1",
        "metadataVersion": "1",
        "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6",
                 "validationUrl": "https://rp-eastus2.eventgrid.azure.net/eventsubscriptions/x/validate?id=1"},
    }

    result = run_pipeline(pipeline, [handshake], source_base_url=source_server.base_url, source=http_client,
                          service_bus=service_bus, delivery="SubscriptionValidation")

    assert result.response is not None
    assert (result.response.status_code, result.response.body) == (
        200, {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"})
    assert source_server.requests == [] and service_bus.requests == []


@pytest.mark.parametrize("body", [{"eventType": "not an array"}, ["not an object"], "text"])
def test_a_request_that_is_not_an_event_grid_array_is_refused_with_400(
    pipeline: WorkflowUnderTest, source_server: FakeApiServer, http_client: HttpxTransport, service_bus: FakeServiceBus,
    body: Any,
) -> None:
    """Event Grid always posts an array of events; anything else is a caller's mistake."""
    result = run_pipeline(pipeline, [], source_base_url=source_server.base_url, source=http_client,
                          service_bus=service_bus, body=body)

    assert result.response is not None and result.response.status_code == 400
    assert result.all_records == [] and service_bus.requests == []


def test_batch_of_ten_with_one_malformed_event_queues_nine_parks_one_and_answers_200(
    pipeline: WorkflowUnderTest, source_server: FakeApiServer, http_client: HttpxTransport, service_bus: FakeServiceBus
) -> None:
    events = [pipeline.event(n) for n in range(1, 11)]
    for event in events:
        pipeline.seed(source_server, event)
    malformed = {**events[4], "data": {"note": "no ids at all"}}
    events[4] = malformed

    result = deliver(pipeline, events, source_server, http_client, service_bus)

    assert result.response is not None and result.response.status_code == 200
    queued = service_bus.messages(pipeline.queue)
    assert sorted(m.broker_properties["CorrelationId"] for m in queued) == sorted(
        e["id"] for e in events if e is not malformed)
    [parked] = service_bus.messages(pipeline.parking_queue)
    assert parked.body == malformed
    assert parked.properties["reason"] == "MalformedEvent"
    assert parked.properties["parkedBy"] == pipeline.parked_by
    assert malformed["id"] in parked.properties["description"]
    assert len(source_server.requests) == 9, "the malformed event must not be fetched"
    assert statuses(result, pipeline.fetch_action).count("Succeeded") == 9


@pytest.mark.parametrize("data_version", ["2.0", "0.9", "10", "", None])
def test_unknown_data_version_is_parked_without_fetching(
    pipeline: WorkflowUnderTest, source_server: FakeApiServer, http_client: HttpxTransport, service_bus: FakeServiceBus,
    data_version: str | None,
) -> None:
    event = pipeline.event(1, dataVersion=data_version)
    pipeline.seed(source_server, event)

    result = deliver(pipeline, [event], source_server, http_client, service_bus)

    assert result.response is not None and result.response.status_code == 200
    assert parked_reasons(pipeline, service_bus) == ["UnsupportedDataVersion"]
    assert source_server.requests == [] and service_bus.messages(pipeline.queue) == []


@pytest.mark.parametrize("data_version", ["1", "1.0", "1.3"])
def test_every_version_1_minor_is_accepted(
    pipeline: WorkflowUnderTest, source_server: FakeApiServer, http_client: HttpxTransport, service_bus: FakeServiceBus,
    data_version: str,
) -> None:
    event = pipeline.event(1, dataVersion=data_version)
    pipeline.seed(source_server, event)

    deliver(pipeline, [event], source_server, http_client, service_bus)

    [message] = service_bus.messages(pipeline.queue)
    assert message.properties["dataVersion"] == data_version


def test_an_event_type_the_workflow_does_not_handle_is_parked(
    pipeline: WorkflowUnderTest, source_server: FakeApiServer, http_client: HttpxTransport, service_bus: FakeServiceBus
) -> None:
    event = pipeline.event(1, eventType="ECP.Order.Deleted")

    result = deliver(pipeline, [event], source_server, http_client, service_bus)

    assert result.response is not None and result.response.status_code == 200
    assert parked_reasons(pipeline, service_bus) == ["UnsupportedEventType"]
    assert source_server.requests == []


@pytest.mark.parametrize(
    ("pipeline", "broken_data"),
    [
        (ORDER_EVENTS, {"orderId": ""}),
        (ORDER_EVENTS, {"orderId": None}),
        (ERP_EVENTS, {"salesOrderId": "SO-1", "ecpOrderId": "ord-1"}),
        (ERP_EVENTS, {"salesOrderId": "SO-1", "ecpOrderId": "ord-1", "changeVersion": "three"}),
        (ERP_EVENTS, {"salesOrderId": "SO-1", "changeVersion": 3}),
        (ERP_EVENTS, {"ecpOrderId": "ord-1", "changeVersion": 3}),
    ],
    indirect=["pipeline"],
)
def test_each_missing_or_unusable_id_is_a_malformed_event(
    pipeline: WorkflowUnderTest, source_server: FakeApiServer, http_client: HttpxTransport, service_bus: FakeServiceBus,
    broken_data: dict[str, Any],
) -> None:
    event = pipeline.event(1, data=broken_data)

    result = deliver(pipeline, [event], source_server, http_client, service_bus)

    assert result.response is not None and result.response.status_code == 200
    assert parked_reasons(pipeline, service_bus) == ["MalformedEvent"]
    assert source_server.requests == []


def test_a_resource_the_source_does_not_know_is_parked_with_the_event(
    pipeline: WorkflowUnderTest, source_server: FakeApiServer, http_client: HttpxTransport, service_bus: FakeServiceBus
) -> None:
    event = pipeline.event(7)  # never seeded: the source answers 404

    result = deliver(pipeline, [event], source_server, http_client, service_bus)

    assert result.status == "Succeeded", result.error_message
    assert result.response is not None and result.response.status_code == 200
    assert len(source_server.requests) == 1, "404 is permanent: no retries"
    [parked] = service_bus.messages(pipeline.parking_queue)
    assert parked.body == event
    assert parked.properties["reason"] == "OrderNotFound"
    assert "404" in parked.properties["description"] and event["id"] in parked.properties["description"]
    assert parked.broker_properties == {"MessageId": event["id"], "CorrelationId": event["id"]}
    assert service_bus.messages(pipeline.queue) == []


def test_a_redelivered_event_is_sent_again_with_the_same_message_id_and_queued_once(
    pipeline: WorkflowUnderTest, source_server: FakeApiServer, http_client: HttpxTransport, service_bus: FakeServiceBus
) -> None:
    event = pipeline.event(3)
    pipeline.seed(source_server, event)

    first = deliver(pipeline, [event], source_server, http_client, service_bus)
    second = deliver(pipeline, [event], source_server, http_client, service_bus)

    assert [r.response.status_code for r in (first, second) if r.response] == [200, 200]
    sent_ids = [json.loads(request.headers["BrokerProperties"])["MessageId"] for request in service_bus.requests]
    assert sent_ids == [pipeline.broker_properties(event)["MessageId"]] * 2
    assert len(service_bus.messages(pipeline.queue)) == 1


@pytest.mark.parametrize("pipeline", [ERP_EVENTS], indirect=True)
def test_an_erp_change_the_state_has_moved_past_sends_the_current_state_under_its_own_version(
    pipeline: WorkflowUnderTest, source_server: FakeApiServer, http_client: HttpxTransport,
    service_bus: FakeServiceBus
) -> None:
    """Both events fetch the state at version 4: the MessageId names the body sent, so the older
    event's send is the same message and duplicate detection drops it; nothing is lost."""
    shipped = pipeline.event(3)
    invoiced = pipeline.event(4, data={**shipped["data"], "changeVersion": 4, "changeType": "Invoiced"})
    state = pipeline.seed(source_server, invoiced)

    result = deliver(pipeline, [shipped, invoiced], source_server, http_client, service_bus)

    assert result.response is not None and result.response.status_code == 200, result.error_message
    sent = [json.loads(request.headers["BrokerProperties"])["MessageId"] for request in service_bus.requests]
    assert sent == [f"{shipped['data']['salesOrderId']}-4"] * 2
    [message] = service_bus.messages(pipeline.queue)
    assert message.body == state
    assert message.broker_properties["SessionId"] == shipped["data"]["ecpOrderId"].upper()


LONG = "x" * 129  # one more than Service Bus allows for MessageId / SessionId


@pytest.mark.parametrize(
    ("pipeline", "changes"),
    [
        (ORDER_EVENTS, {"dataVersion": '1.0"x'}),
        (ORDER_EVENTS, {"topic": 'topics/"quoted"'}),
        (ORDER_EVENTS, {"data": {"orderId": "o" * 200}}),
        (ERP_EVENTS, {"dataVersion": '1.0"x'}),
        (ERP_EVENTS, {"topic": 'topics/"quoted"'}),
        (ERP_EVENTS, {"data": {"salesOrderId": "SO-1", "ecpOrderId": "ord-1", "changeVersion": "0" * 123 + "3"}}),
        (ERP_EVENTS, {"data": {"salesOrderId": "SO-1", "ecpOrderId": LONG, "changeVersion": 3}}),
    ],
    indirect=["pipeline"],
)
def test_values_service_bus_would_refuse_make_a_malformed_event_that_is_parked(
    pipeline: WorkflowUnderTest, source_server: FakeApiServer, http_client: HttpxTransport, service_bus: FakeServiceBus,
    changes: dict[str, Any],
) -> None:
    """A quote inside a quoted property or an id over 128 characters would get a 400 from Service Bus,
    so the send would fail and the batch bounce until Event Grid dead-letters it without our reason.
    (A changeVersion of leading zeros passes isInt() yet makes `{salesOrderId}-{changeVersion}` too long.)"""
    event = pipeline.event(1, **changes)
    pipeline.seed(source_server, event)

    result = deliver(pipeline, [event], source_server, http_client, service_bus)

    assert result.response is not None and result.response.status_code == 200, result.error_message
    assert parked_reasons(pipeline, service_bus) == ["MalformedEvent"]
    [parked] = service_bus.messages(pipeline.parking_queue)
    assert parked.body == event
    assert parked.broker_properties == {"MessageId": event["id"], "CorrelationId": event["id"]}
    assert source_server.requests == [] and service_bus.messages(pipeline.queue) == []


def test_events_whose_ids_are_over_128_characters_and_share_a_prefix_are_each_parked(
    pipeline: WorkflowUnderTest, source_server: FakeApiServer, http_client: HttpxTransport, service_bus: FakeServiceBus
) -> None:
    """Such an id cannot be a MessageId; its first 128 characters alone would make the second event a
    duplicate that Service Bus drops silently. The parked MessageId is the first 91 characters, '-' and
    a new guid (128 in all): a redelivery may be parked twice, which is visible, instead of lost."""
    shared = "e" * 128
    events = [pipeline.event(1, id=shared + "-1"), pipeline.event(2, id=shared + "-2")]
    guids = [f"00000000-0000-4000-8000-{n:012d}" for n in (1, 2)]
    unused = iter(guids)

    result = run_pipeline(pipeline, events, source_base_url=source_server.base_url, source=http_client,
                          service_bus=service_bus, guid=lambda: next(unused))

    assert result.response is not None and result.response.status_code == 200, result.error_message
    parked = sorted(service_bus.messages(pipeline.parking_queue), key=lambda m: m.body["id"])
    assert [m.body for m in parked] == events
    assert [m.properties["reason"] for m in parked] == ["MalformedEvent"] * 2
    assert sorted(m.broker_properties["MessageId"] for m in parked) == [f"{shared[:91]}-{g}" for g in guids]
    assert [m.broker_properties["CorrelationId"] for m in parked] == [shared] * 2
    assert source_server.requests == [] and service_bus.messages(pipeline.queue) == []


@pytest.mark.parametrize(
    ("pipeline", "data"),
    [
        (ORDER_EVENTS, {"orderId": "o" * 35}),
        (ERP_EVENTS, {"salesOrderId": "s" * 64, "ecpOrderId": "e" * 35, "changeVersion": 2**63 - 1}),
    ],
    indirect=["pipeline"],
)
def test_an_event_id_of_exactly_128_characters_is_queued_with_the_longest_contract_ids(
    pipeline: WorkflowUnderTest, source_server: FakeApiServer, http_client: HttpxTransport, service_bus: FakeServiceBus,
    data: dict[str, Any],
) -> None:
    event = pipeline.event(1, id="i" * 128, data=data)
    pipeline.seed(source_server, event)

    result = deliver(pipeline, [event], source_server, http_client, service_bus)

    assert result.response is not None and result.response.status_code == 200
    [queued] = service_bus.messages(pipeline.queue)
    assert queued.broker_properties == pipeline.broker_properties(event)
    assert len(queued.broker_properties["CorrelationId"]) == 128


@pytest.mark.parametrize(("broker", "headers", "expected"), [
    ({"MessageId": "m" * 128, "SessionId": "s" * 128}, {"eventType": '"ECP.Order.Created"'}, 201),
    ({"MessageId": "m" * 129}, {}, 400),
    ({"MessageId": "m", "SessionId": "s" * 129}, {}, 400),
    ({"MessageId": "m"}, {"dataVersion": '"1.0"x"'}, 400),
    ({"MessageId": "m"}, {"dataVersion": "1.0"}, 400),
])
def test_the_fake_service_bus_refuses_what_service_bus_refuses(
    service_bus: FakeServiceBus, broker: dict[str, str], headers: dict[str, str], expected: int
) -> None:
    request = HttpRequest("POST", f"https://{SERVICE_BUS_HOST}/online-orders/messages",
                          {"BrokerProperties": json.dumps(broker), "Content-Type": "application/json", **headers},
                          {"id": "o"}, {"type": "ManagedServiceIdentity", "audience": SERVICE_BUS_AUDIENCE}, 5.0)

    assert service_bus(request).status_code == expected
