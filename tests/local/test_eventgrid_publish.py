"""Publishing to a local topic: the access key, the Event Grid schema, the size limit, the real SDK."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from azure.core.credentials import AzureKeyCredential, AzureSasCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.eventgrid import EventGridEvent, EventGridPublisherClient, generate_sas

from orderbridge.local.clock import SimClock
from orderbridge.local.eventgrid import EventGridTopology
from tests.local._eventgrid_fixtures import (  # noqa: F401  (fixtures)
    ECP_SUBSCRIPTION,
    ECP_TOPIC,
    Webhook,
    dev_topology,
    event,
    eventually,
    grid,
)


def test_the_real_publisher_reaches_the_webhook_after_the_handshake(dev_topology: EventGridTopology, tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock()
        async with Webhook(clock) as webhook, grid(dev_topology, tmp_path, clock, webhook, None) as eventgrid:
            client = EventGridPublisherClient(eventgrid.endpoint(ECP_TOPIC), AzureKeyCredential(eventgrid.key(ECP_TOPIC)))
            sent = EventGridEvent(subject="orders/1", event_type="ECP.Order.Created", data={"orderId": "1"}, data_version="1.0")
            await asyncio.to_thread(client.send, [sent])
            await eventually(lambda: len(webhook.notifications) == 1)

        *handshakes, delivery = webhook.received  # both subscriptions deliver to this webhook
        assert {h.headers["aeg-subscription-name"] for h in handshakes} == {s.name.upper() for s in dev_topology.subscriptions}
        for handshake in handshakes:
            assert handshake.kind == "SubscriptionValidation"
            assert [e["eventType"] for e in handshake.body] == ["Microsoft.EventGrid.SubscriptionValidationEvent"]
        assert delivery.kind == "Notification"
        assert delivery.headers["aeg-subscription-name"] == ECP_SUBSCRIPTION.upper()
        [received] = delivery.body
        assert received["id"] == str(sent.id) and received["data"] == {"orderId": "1"}
        assert received["topic"] == dev_topology.topic(ECP_TOPIC).resource_id  # stamped, as Azure does
        assert received["metadataVersion"] == "1"

    asyncio.run(scenario())


def test_a_topic_refuses_publishers_without_its_key_and_takes_a_signed_token(
    dev_topology: EventGridTopology, tmp_path: Path
) -> None:
    async def scenario() -> None:
        clock = SimClock()
        async with Webhook(clock) as webhook, grid(dev_topology, tmp_path, clock, webhook, None) as eventgrid:
            endpoint, key = eventgrid.endpoint(ECP_TOPIC), eventgrid.key(ECP_TOPIC)
            async with httpx.AsyncClient() as http:
                missing = await http.post(endpoint, json=[event("a")])
                wrong = await http.post(endpoint, json=[event("b")], headers={"aeg-sas-key": "bm90IHRoZSBrZXk="})
            assert (missing.status_code, wrong.status_code) == (401, 401)
            assert "aeg-sas-key" in missing.json()["error"]["message"]

            wrong_client = EventGridPublisherClient(endpoint, AzureKeyCredential("bm90IHRoZSBrZXk="))
            with pytest.raises(ClientAuthenticationError):
                await asyncio.to_thread(wrong_client.send, [event("c")])
            expired = generate_sas(endpoint, key, datetime.now(timezone.utc) - timedelta(minutes=1))
            with pytest.raises(ClientAuthenticationError):
                await asyncio.to_thread(EventGridPublisherClient(endpoint, AzureSasCredential(expired)).send, [event("d")])

            token = generate_sas(endpoint, key, datetime.now(timezone.utc) + timedelta(hours=1))
            await asyncio.to_thread(EventGridPublisherClient(endpoint, AzureSasCredential(token)).send, [event("signed")])
            await eventually(lambda: len(webhook.notifications) == 1)
            assert [d["id"] for d in eventgrid.deliveries(ECP_SUBSCRIPTION)] == ["signed"]

    asyncio.run(scenario())


SCHEMA_VIOLATIONS = [
    ({"id": "x"}, "JSON array"),
    ([], "JSON array"),
    ([{**event("1"), "subject": None}], "'subject'"),
    ([event("1"), {k: v for k, v in event("2").items() if k != "eventType"}], "event [1]: required string property 'eventType'"),
    ([{k: v for k, v in event("1").items() if k != "data"}], "'data'"),
    ([{**event("1"), "eventTime": "yesterday"}], "'eventTime'"),
    ([{**event("1"), "dataVersion": 1}], "'dataVersion'"),
    ([{**event("1"), "topic": "/subscriptions/x/topics/other"}], "'topic'"),
    ([{**event("1"), "metadataVersion": "2"}], "'metadataVersion'"),
]


def test_a_publish_outside_the_event_grid_schema_is_400_naming_the_problem(
    dev_topology: EventGridTopology, tmp_path: Path
) -> None:
    async def scenario() -> None:
        clock = SimClock()
        async with Webhook(clock) as webhook, grid(dev_topology, tmp_path, clock, webhook, None) as eventgrid:
            async with httpx.AsyncClient() as http:
                for body, named in SCHEMA_VIOLATIONS:
                    answer = await http.post(
                        eventgrid.endpoint(ECP_TOPIC), json=body, headers={"aeg-sas-key": eventgrid.key(ECP_TOPIC)}
                    )
                    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "BadRequest"), body
                    assert named in answer.json()["error"]["message"], body
            assert eventgrid.deliveries(ECP_SUBSCRIPTION) == []  # nothing of a refused publish is stored

    asyncio.run(scenario())


def test_a_publish_over_1_mb_is_413(dev_topology: EventGridTopology, tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock()
        async with Webhook(clock) as webhook, grid(dev_topology, tmp_path, clock, webhook, None) as eventgrid:
            headers = {"aeg-sas-key": eventgrid.key(ECP_TOPIC), "Content-Type": "application/json"}
            just_over = json.dumps([event("big", data={"pad": "x" * (1024 * 1024)})]).encode()
            async with httpx.AsyncClient() as http:
                answer = await http.post(eventgrid.endpoint(ECP_TOPIC), content=just_over, headers=headers)
                streamed = await http.post(eventgrid.endpoint(ECP_TOPIC), content=_chunks(just_over), headers=headers)
            assert (answer.status_code, streamed.status_code) == (413, 413)
            assert answer.json()["error"]["code"] == "PayloadTooLarge"
            assert eventgrid.deliveries(ECP_SUBSCRIPTION) == []

    asyncio.run(scenario())


async def _chunks(body: bytes):  # no Content-Length: the limit holds while reading
    for start in range(0, len(body), 64 * 1024):
        yield body[start : start + 64 * 1024]
