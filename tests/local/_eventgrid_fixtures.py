"""Fixtures of the local Event Grid tests: one Azurite per session, a recording webhook, the dev topology.

Imported by tests/local/test_eventgrid*.py (tests/local/conftest.py belongs to the stack's tests).
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orderbridge.local.clock import SimClock
from orderbridge.local.eventgrid import Azurite, EventGridTopology, LocalEventGrid, read_topology
from orderbridge.local.eventgrid._server import AsgiServer
from orderbridge.synth import Synthesis

ECP_TOPIC = "ecp-order-events"
ECP_SUBSCRIPTION = "order-events-processor"
FAST = 2000.0  # simulated seconds per wall second: 10 s of Event Grid's schedule take 5 ms


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """One Azurite blob service for the test session (about 2 s to start)."""
    with Azurite(tmp_path_factory.mktemp("azurite-state")) as running:
        yield running


@pytest.fixture(scope="session")
def dev_topology(dev: Synthesis) -> EventGridTopology:
    return read_topology(dev)


def with_subscription(topology: EventGridTopology, name: str, **changes: Any) -> EventGridTopology:
    """`topology` with one subscription's settings changed (attempts, TTL, batching)."""
    subscriptions = tuple(dataclasses.replace(s, **changes) if s.name == name else s for s in topology.subscriptions)
    return dataclasses.replace(topology, subscriptions=subscriptions)


@dataclass(frozen=True)
class Received:
    """One request the webhook got: its headers, its JSON body and the simulated time of arrival."""

    headers: dict[str, str]
    body: Any
    at: float

    @property
    def kind(self) -> str:
        return self.headers.get("aeg-event-type", "")


Answer = Callable[[Received], Awaitable[Response] | Response]


def ok(received: Received) -> Response:
    return Response(status_code=200)


class Webhook:
    """A webhook that answers the validation handshake and then whatever `answer` says, recording every request."""

    def __init__(self, clock: SimClock, answer: Answer = ok) -> None:
        self.clock = clock
        self.answer = answer
        self.received: list[Received] = []
        self.notified = asyncio.Event()
        self._server = AsgiServer(Starlette(routes=[Route("/hook", self._handle, methods=["POST"])]))
        self.url = f"{self._server.url}/hook"

    @property
    def notifications(self) -> list[Received]:
        return [r for r in self.received if r.kind == "Notification"]

    async def _handle(self, request: Request) -> Response:
        received = Received(dict(request.headers), json.loads(await request.body()), self.clock.now().timestamp())
        self.received.append(received)
        if received.kind == "SubscriptionValidation":
            return JSONResponse({"validationResponse": received.body[0]["data"]["validationCode"]})
        self.notified.set()
        answer = self.answer(received)
        return await answer if asyncio.iscoroutine(answer) else answer

    async def __aenter__(self) -> Webhook:
        await self._server.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._server.stop()


def grid(
    topology: EventGridTopology, state_dir: Path, clock: SimClock, webhook: Webhook, azurite: Azurite | None, **options: Any
) -> LocalEventGrid:
    """A local Event Grid whose every subscription delivers to `webhook`."""
    return LocalEventGrid(
        topology,
        state_dir=state_dir,
        clock=clock,
        webhook_urls={s.name: webhook.url for s in topology.subscriptions},
        blob_connection_string=azurite.connection_string if azurite else None,
        **options,
    )


async def eventually(condition: Callable[[], bool], *, timeout: float = 5.0) -> None:
    """Wait (wall seconds) until `condition()` holds; fail the test naming the timeout otherwise."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.005)


def event(event_id: str, *, event_type: str = "ECP.Order.Created", data: Any = None) -> dict[str, Any]:
    """An Event Grid schema event as the ECP publishes it."""
    return {
        "id": event_id,
        "subject": f"orders/{event_id}",
        "eventType": event_type,
        "eventTime": "2026-01-05T10:00:00.1234567Z",
        "data": data if data is not None else {"orderId": event_id},
        "dataVersion": "1.0",
    }


def read_dead_letters(azurite: Azurite, container: str, prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Every dead-letter blob under `prefix`, read back with azure-storage-blob: name -> events."""
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    client = service.get_container_client(container)
    if not client.exists():
        return {}
    return {b.name: json.loads(client.download_blob(b.name).readall()) for b in client.list_blobs(name_starts_with=prefix)}
