"""How the fake ECP and ERP publish their events: a durable outbox and the real `azure-eventgrid` client.

A real system that must never lose an event writes it in the same transaction as the change it
describes and publishes it afterwards, retrying until the topic accepts it (the transactional outbox).
The fakes do the same, so an Event Grid that is down or slow delays events but never drops them,
and a killed stack publishes, on `--resume`, whatever it had not yet handed over.

Events go out with `EventGridPublisherClient` and `AzureKeyCredential`, exactly as an ECP-side
publisher would send them to Azure (the client accepts a plain `http://127.0.0.1` endpoint).
"""
from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import AzureError, HttpResponseError
from azure.eventgrid import EventGridEvent, EventGridPublisherClient

from orderbridge.local.clock import SimClock
from orderbridge.local.documents import DocumentStore

logger = logging.getLogger(__name__)

BATCH = 50
RETRY_WALL_SECONDS = 0.2  # between attempts while the topic is unreachable: the fakes' own pace
# Answers that no retry can change (a malformed or oversized batch): kept aside with the answer.
REFUSED_FOR_GOOD = frozenset({400, 413})


@dataclass(frozen=True)
class Topic:
    """Where a system publishes: the topic's endpoint and its access key."""

    endpoint: str
    key: str


class EventOutbox:
    """Events committed to be published on one topic, sent in order by a background thread."""

    def __init__(self, store: DocumentStore, *, name: str, topic: Callable[[], Topic | None], clock: SimClock) -> None:
        """`store` is the one the system writes its changes to: an event added inside
        `store.transaction()` is committed with the change it announces."""
        self._store, self._name = store, name
        store.execute(
            "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, event TEXT NOT NULL)"
        )
        store.execute("CREATE TABLE IF NOT EXISTS refused (name TEXT NOT NULL, event TEXT NOT NULL, reason TEXT NOT NULL)")
        self._topic = topic  # read at each send: the topic may start after the system does
        self._clock = clock
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-outbox", daemon=True)
        self._endpoint: str | None = None

    def add(self, *, event_type: str, subject: str, data: dict[str, Any], data_version: str = "1.0") -> str:
        """Commit an event for publishing and return its id; it is on disk when this returns."""
        event = {
            "id": str(uuid.uuid4()),
            "eventType": event_type,
            "subject": subject,
            "data": data,
            "dataVersion": data_version,
            "eventTime": self._clock.now().isoformat(),
        }
        self._store.execute("INSERT INTO outbox (name, event) VALUES (?, ?)", (self._name, json.dumps(event)))
        self._wake.set()
        return event["id"]

    @property
    def pending(self) -> int:
        """Events not yet accepted by the topic."""
        return int(self._store.rows("SELECT COUNT(*) FROM outbox WHERE name = ?", (self._name,))[0][0])

    def start(self) -> "EventOutbox":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        client: EventGridPublisherClient | None = None
        while not self._stopped.is_set():
            try:
                client = self._publish_next(client)
            except Exception:  # a bug must not silently end publishing: logged, and the batch goes again
                logger.exception("the event outbox could not publish; retrying")
                self._stopped.wait(RETRY_WALL_SECONDS)

    def _publish_next(self, client: EventGridPublisherClient | None) -> EventGridPublisherClient | None:
        """Publish the oldest batch once; returns the client to reuse."""
        batch, topic = self._next_batch(), self._topic()
        if not batch or topic is None:
            self._wake.wait(RETRY_WALL_SECONDS)
            self._wake.clear()
            return client
        if client is None or self._endpoint != topic.endpoint:
            client, self._endpoint = EventGridPublisherClient(topic.endpoint, AzureKeyCredential(topic.key)), topic.endpoint
        try:
            # retry_total=0 per call: the outbox is the retry loop, and the SDK's would hold a
            # batch for seconds. (4.22.1 drops client-level retry options for basic topics.)
            client.send([_event(row) for _, row in batch], retry_total=0)
        except HttpResponseError as error:
            if error.status_code in REFUSED_FOR_GOOD:
                logger.error("topic refused %d event(s) for good: HTTP %s", len(batch), error.status_code)
                self._refuse(batch, f"HTTP {error.status_code}: {error.message}")
            else:
                logger.warning("topic answered HTTP %s; the batch goes again", error.status_code)
                self._stopped.wait(RETRY_WALL_SECONDS)
            return client
        except AzureError:
            # Not accepted (down, 5xx, throttled): nothing is removed; the same batch goes again.
            self._stopped.wait(RETRY_WALL_SECONDS)
            return client
        self._remove(batch[-1][0])
        return client

    def _next_batch(self) -> list[tuple[int, dict[str, Any]]]:
        rows = self._store.rows("SELECT seq, event FROM outbox WHERE name = ? ORDER BY seq LIMIT ?", (self._name, BATCH))
        return [(int(seq), json.loads(event)) for seq, event in rows]

    def refused(self) -> list[tuple[dict[str, Any], str]]:
        """Events the topic refused for good (400, 413), with its answer: kept, never dropped."""
        rows = self._store.rows("SELECT event, reason FROM refused WHERE name = ?", (self._name,))
        return [(json.loads(event), reason) for event, reason in rows]

    def _refuse(self, batch: list[tuple[int, dict[str, Any]]], reason: str) -> None:
        """Move a batch the topic will never accept out of the way, with the reason."""
        with self._store.transaction():
            for _, event in batch:
                self._store.execute("INSERT INTO refused (name, event, reason) VALUES (?, ?, ?)",
                                    (self._name, json.dumps(event), reason))
            self._remove(batch[-1][0])

    def _remove(self, up_to: int) -> None:
        self._store.execute("DELETE FROM outbox WHERE name = ? AND seq <= ?", (self._name, up_to))


def _event(row: dict[str, Any]) -> EventGridEvent:
    return EventGridEvent(
        subject=row["subject"],
        event_type=row["eventType"],
        data=row["data"],
        data_version=row["dataVersion"],
        id=row["id"],
        event_time=datetime.fromisoformat(row["eventTime"]),
    )
