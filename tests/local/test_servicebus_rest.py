"""The REST send front under a real uvicorn: what the workflows send arrives in the broker as Azure would
store it, and each refusal gets Azure's answer code."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from orderbridge.local.servicebus import Broker, Credentials, EntitySettings, rest_app, sas_token
from tests.local.conftest import BrokerFactory, ManualClock, serving
from topology import ECP_TO_ERP, ERP_TO_ECP

TOKEN = "local-managed-identity-token-3f9a"
SAS_KEY_NAME, SAS_KEY = "RootManageSharedAccessKey", "c2FzLWtleS1mb3ItdGVzdHM="
NAMESPACE_HOST = "sb-orderbridge-dev.servicebus.windows.net"
ORDERS, UPDATES = ECP_TO_ERP.queue_name, ERP_TO_ECP.queue_name
# Header spellings the workflows use for their custom properties.
PROPERTY_NAMES = ("eventType", "eventSource", "dataVersion", "parkedBy")


@pytest.fixture()
def broker(open_broker: BrokerFactory, dev_entities: list[EntitySettings]) -> Broker:
    return open_broker(dev_entities)


class CurrentApp:
    """One uvicorn for the module, serving each test's own front (and so its own broker)."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[httpx.Client, CurrentApp]]:
    current = CurrentApp()
    with serving(current) as base_url, httpx.Client(base_url=base_url, timeout=10) as http:
        yield http, current


@pytest.fixture()
def client(broker: Broker, server: tuple[httpx.Client, CurrentApp]) -> httpx.Client:
    http, current = server
    current.app = rest_app(
        broker, Credentials(bearer_token=TOKEN, sas_keys={SAS_KEY_NAME: SAS_KEY}),
        property_names=PROPERTY_NAMES, namespace_host=NAMESPACE_HOST,
    )
    return http


def send(client: httpx.Client, queue: str, body: bytes = b'{"id": "ord-1"}', *, auth: str | None = f"Bearer {TOKEN}",
         broker_properties: object = None, headers: dict[str, str] | None = None) -> httpx.Response:
    sent = {"Content-Type": "application/json", **(headers or {})}
    if auth is not None:
        sent["Authorization"] = auth
    if broker_properties is not None:
        given = broker_properties
        sent["BrokerProperties"] = given if isinstance(given, str) else json.dumps(given)
    return client.post(f"/{queue}/messages", content=body, headers=sent)


def test_a_workflow_send_is_stored_with_its_broker_and_custom_properties(client: httpx.Client, broker: Broker) -> None:
    answer = send(client, ORDERS, broker_properties={"MessageId": "ord-1", "CorrelationId": "evt-1", "Unknown": 1},
                  headers={"eventType": '"ECP.Order.Created"', "eventSource": '"/ecp/orders"', "dataVersion": '"1.0"'})
    assert answer.status_code == 201, answer.text
    (message,) = broker.receive(ORDERS)
    assert (message.message_id, message.correlation_id, message.content_type, message.body) == (
        "ord-1", "evt-1", "application/json", b'{"id": "ord-1"}')
    assert message.application_properties == {
        "eventType": "ECP.Order.Created", "eventSource": "/ecp/orders", "dataVersion": "1.0"}


def test_unquoted_custom_property_values_are_typed(client: httpx.Client, broker: Broker) -> None:
    answer = send(client, ORDERS, broker_properties={"MessageId": "m"}, headers={
        "priority": "3", "ratio": "0.5", "urgent": "true", "due": "Sun, 06 Nov 1994 08:49:37 GMT"})
    assert answer.status_code == 201, answer.text
    assert broker.receive(ORDERS)[0].application_properties == {
        "priority": 3, "ratio": 0.5, "urgent": True, "due": datetime(1994, 11, 6, 8, 49, 37, tzinfo=timezone.utc)}


def test_session_id_time_to_live_and_scheduled_enqueue_time_are_honoured(
    client: httpx.Client, broker: Broker, clock: ManualClock,
) -> None:
    due = clock.now() + timedelta(minutes=5)
    answer = send(client, UPDATES, broker_properties={
        "MessageId": "so-1-2", "SessionId": "ORD-1", "TimeToLive": 600,
        "ScheduledEnqueueTimeUtc": due.strftime("%a, %d %b %Y %H:%M:%S GMT")})
    assert answer.status_code == 201, answer.text
    (message,) = broker.peek(UPDATES)
    assert (message.session_id, message.scheduled_enqueue_time, message.expires_at) == (
        "ORD-1", due, due + timedelta(seconds=600))


def test_a_duplicate_is_accepted_and_dropped(client: httpx.Client, broker: Broker) -> None:
    for _ in range(2):
        assert send(client, ORDERS, broker_properties={"MessageId": "ord-1"}).status_code == 201
    assert len(broker.peek(ORDERS, max_messages=5)) == 1


@pytest.mark.parametrize(("queue", "broker_properties", "headers", "detail"), [
    (ORDERS, "{not json", {}, "not JSON"),
    (ORDERS, "[1, 2]", {}, "JSON object"),
    (ORDERS, {"MessageId": 42}, {}, "must be a string"),
    (ORDERS, {"MessageId": "x" * 129}, {}, "128"),
    (ORDERS, {"TimeToLive": "soon"}, {}, "TimeToLive"),
    (ORDERS, {"ScheduledEnqueueTimeUtc": "2026-11-27T12:00:00Z"}, {}, "RFC 1123"),
    (UPDATES, {"MessageId": "so-1-2"}, {}, "SessionId"),
    (ORDERS, {"MessageId": "m"}, {"eventType": "ECP.Order.Created"}, "double quotes"),
])
def test_a_bad_request_is_answered_400_and_nothing_is_stored(
    client: httpx.Client, broker: Broker, queue: str, broker_properties: object, headers: dict[str, str], detail: str,
) -> None:
    answer = send(client, queue, broker_properties=broker_properties, headers=headers)
    assert answer.status_code == 400 and detail in answer.text, answer.text
    assert broker.peek(queue) == []


def _sas(resource: str, *, key: str = SAS_KEY, key_name: str = SAS_KEY_NAME, expiry: float | None = None) -> str:
    return sas_token(resource, key_name, key, int(expiry if expiry is not None else time.time() + 600))


@pytest.mark.parametrize("auth", [
    None,
    "Bearer not-the-token",
    "Basic dXNlcjpwYXNz",
    _sas(f"https://{NAMESPACE_HOST}/{ORDERS}", key="d3Jvbmcta2V5"),
    _sas(f"https://{NAMESPACE_HOST}/{ORDERS}", key_name="OtherPolicy"),
    _sas(f"https://{NAMESPACE_HOST}/{ORDERS}", expiry=time.time() - 1),
    _sas(f"https://{NAMESPACE_HOST}/{UPDATES}"),
], ids=["none", "wrong-bearer", "basic", "wrong-key", "unknown-key-name", "expired", "other-entity"])
def test_a_request_without_valid_credentials_is_answered_401(
    client: httpx.Client, broker: Broker, auth: str | None,
) -> None:
    answer = send(client, ORDERS, auth=auth, broker_properties={"MessageId": "ord-1"})
    assert answer.status_code == 401, answer.text
    assert TOKEN not in answer.text and SAS_KEY not in answer.text
    assert broker.peek(ORDERS) == []


@pytest.mark.parametrize("resource", [f"https://{NAMESPACE_HOST}/", f"sb://{NAMESPACE_HOST}/{ORDERS}"])
def test_a_sas_token_for_the_namespace_or_the_entity_is_accepted(client: httpx.Client, resource: str) -> None:
    assert send(client, ORDERS, auth=_sas(resource), broker_properties={"MessageId": "ord-1"}).status_code == 201


def test_an_unknown_queue_is_answered_404(client: httpx.Client) -> None:
    answer = send(client, "no-such-queue", broker_properties={"MessageId": "m"})
    assert answer.status_code == 404 and "no-such-queue" in answer.text


def test_a_message_over_256_kb_is_answered_413(client: httpx.Client, broker: Broker) -> None:
    answer = send(client, ORDERS, body=b"x" * (256 * 1024 + 1), broker_properties={"MessageId": "big"})
    assert answer.status_code == 413, answer.text
    assert broker.peek(ORDERS) == []
