"""The fakes' event outbox: the real azure-eventgrid client, and nothing lost while the topic is down."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orderbridge.local.clock import SimClock
from orderbridge.local.documents import DocumentStore
from orderbridge.local.publisher import EventOutbox, Topic
from orderbridge.local.servers import AsgiServer


class RecordingTopic:
    """A stand-in topic endpoint: answers `failures` first, then 200, recording what it accepted."""

    def __init__(self, failures: list[int]) -> None:
        self.failures = list(failures)
        self.accepted: list[dict[str, Any]] = []
        self.keys: list[str | None] = []
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route("/api/events", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        body = json.loads(await request.body())
        with self._lock:
            self.keys.append(request.headers.get("aeg-sas-key"))
            if self.failures:
                status = self.failures.pop(0)
                return JSONResponse({"error": {"code": "Injected", "message": "topic says no"}}, status_code=status)
            self.accepted.extend(body)
        return Response(status_code=200)


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_events_reach_the_topic_through_the_sdk_once_it_accepts_them(tmp_path: Path) -> None:
    topic = RecordingTopic(failures=[503, 500])
    with AsgiServer(topic.app, name="topic") as server:
        outbox = EventOutbox(
            DocumentStore(tmp_path / "ecp.db"), name="ecp", topic=lambda: Topic(f"{server.url}/api/events", "k1"),
            clock=SimClock(),
        )
        outbox.start()
        ids = [outbox.add(event_type="ECP.Order.Created", subject=f"orders/{n}", data={"orderId": f"ord-{n}"}) for n in range(3)]
        _wait_for(lambda: outbox.pending == 0)
        outbox.stop()
    assert [event["id"] for event in topic.accepted] == ids
    assert topic.accepted[0]["eventType"] == "ECP.Order.Created" and topic.accepted[0]["dataVersion"] == "1.0"
    assert set(topic.keys) == {"k1"}


def test_events_not_yet_published_survive_a_restart(tmp_path: Path) -> None:
    first = EventOutbox(DocumentStore(tmp_path / "erp.db"), name="erp", topic=lambda: None, clock=SimClock())  # no topic yet
    first.start()
    first.add(event_type="ERP.SalesOrder.Updated", subject="salesOrders/so-1", data={"salesOrderId": "so-1"})
    first.stop()
    topic = RecordingTopic(failures=[])
    with AsgiServer(topic.app, name="topic") as server:
        again = EventOutbox(
            DocumentStore(tmp_path / "erp.db"), name="erp", topic=lambda: Topic(f"{server.url}/api/events", "k"),
            clock=SimClock(),
        )
        again.start()
        _wait_for(lambda: again.pending == 0)
        again.stop()
    assert [event["data"] for event in topic.accepted] == [{"salesOrderId": "so-1"}]


def test_a_batch_the_topic_refuses_for_good_is_kept_with_its_answer(tmp_path: Path) -> None:
    topic = RecordingTopic(failures=[400])
    with AsgiServer(topic.app, name="topic") as server:
        outbox = EventOutbox(
            DocumentStore(tmp_path / "ecp.db"), name="ecp", topic=lambda: Topic(f"{server.url}/api/events", "k"),
            clock=SimClock(),
        )
        outbox.start()
        outbox.add(event_type="ECP.Order.Created", subject="orders/x", data={"orderId": "x"})
        _wait_for(lambda: outbox.pending == 0)
        refused = outbox.refused()
        outbox.stop()
    assert [(event["data"], reason.startswith("HTTP 400")) for event, reason in refused] == [({"orderId": "x"}, True)]
    assert topic.accepted == []
