"""The local Event Grid: the topics' HTTP front, the store and one delivery loop per subscription."""
from __future__ import annotations

import asyncio
import functools
import logging
import random
import ssl
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from orderbridge.local.clock import ANSWER_TIMEOUT_FLOOR_SECONDS, SimClock
from orderbridge.local.eventgrid._app import topics_app
from orderbridge.local.eventgrid._deadletter import BlobDeadLetters
from orderbridge.local.eventgrid._delivery import DEFAULT_CONCURRENCY, SubscriptionDelivery
from orderbridge.local.eventgrid._errors import EventGridConfigError
from orderbridge.local.eventgrid._server import AsgiServer
from orderbridge.local.eventgrid._store import EventStore
from orderbridge.local.eventgrid._topology import EventGridTopology

log = logging.getLogger(__name__)
STORE_FILE = "eventgrid.sqlite3"


class LocalEventGrid:
    """Serve `topology`'s topics and deliver to the given webhooks; `async with` runs it.

    `webhook_urls` maps each subscription name to the URL that replaces its Azure endpoint (the
    local Logic App host's trigger URL). `blob_connection_string` is where dead letters go
    (Azurite's; None: they wait in the store, as with an unavailable container in Azure).
    """

    def __init__(
        self,
        topology: EventGridTopology,
        *,
        state_dir: Path,
        clock: SimClock,
        webhook_urls: Mapping[str, str],
        blob_connection_string: str | None,
        port: int = 0,
        answer_timeout_floor: float = ANSWER_TIMEOUT_FLOOR_SECONDS,
        concurrency: int = DEFAULT_CONCURRENCY,
        rng: random.Random | None = None,
    ) -> None:
        missing = [s.name for s in topology.subscriptions if s.name not in webhook_urls]
        if missing:
            raise EventGridConfigError(f"no webhook URL for event subscription(s) {', '.join(missing)}")
        self.topology = topology
        self._clock = clock
        self._store = EventStore(state_dir / STORE_FILE)
        self._dead_letters = BlobDeadLetters(blob_connection_string) if blob_connection_string else None
        self._http = httpx.AsyncClient(verify=_tls_context())
        self._deliveries = {
            s.name: SubscriptionDelivery(
                s, topology.topic(s.topic), webhook_urls[s.name], store=self._store, clock=clock, http=self._http,
                dead_letters=self._dead_letters, rng=rng or random.Random(), answer_timeout_floor=answer_timeout_floor,
                concurrency=concurrency,
            )
            for s in topology.subscriptions
        }
        self._server = AsgiServer(topics_app(topology, self._store, clock, self._accepted), port=port)
        self._tasks: list[asyncio.Task[None]] = []

    def endpoint(self, topic: str) -> str:
        """The topic's publish URL, for `EventGridPublisherClient(endpoint, AzureKeyCredential(key))`."""
        return f"{self._server.url}/{topic}/api/events"

    def key(self, topic: str) -> str:
        """The topic's access key (kept in the state dir; never log it)."""
        return self._store.topic_key(topic)

    def endpoints(self) -> dict[str, dict[str, str]]:
        """Every topic's URL and key, for `<state-dir>/endpoints.json`."""
        return {t.name: {"endpoint": self.endpoint(t.name), "key": self.key(t.name)} for t in self.topology.topics}

    def states(self, subscription: str) -> dict[str, int]:
        """How many of the subscription's deliveries are pending, delivered, dead-lettered, dropped."""
        return self._store.states(subscription)

    def deliveries(self, subscription: str) -> list[dict[str, Any]]:
        """Each event routed to `subscription` with its state, attempts and dead-letter reason."""
        return self._store.deliveries(subscription)

    async def start(self) -> None:
        """Serve the topics, then handshake with each webhook and start delivering.

        Raises SubscriptionValidationError if a webhook does not echo its validation code; the
        topics keep accepting events in the meantime, as Azure's do.
        """
        await self._server.start()
        try:
            for delivery in self._deliveries.values():
                await delivery.validate()
        except BaseException:
            await self.stop()
            raise
        for delivery in self._deliveries.values():
            task = asyncio.create_task(delivery.run(), name=f"eventgrid {delivery.spec.name}")
            task.add_done_callback(_report_crash)
            self._tasks.append(task)

    async def stop(self) -> None:
        """Stop serving and delivering; what is not delivered stays in the store for the next start."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self._server.stop()
        await self._http.aclose()
        if self._dead_letters is not None:
            self._dead_letters.close()
        self._store.close()

    def _accepted(self, topic: str) -> None:
        for subscription in self.topology.subscriptions_of(topic):
            self._deliveries[subscription.name].wake()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~50 ms; every Event Grid of a process shares one context.
    return ssl.create_default_context()


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped delivering", task.get_name(), exc_info=task.exception())
