"""The fake ECP as the local stack runs it: placing, announcing, remembering across a restart."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from orderbridge.local.clock import SimClock
from orderbridge.local.documents import DocumentStore
from orderbridge.local.ecp import LocalEcp
from orderbridge.local.publisher import EventOutbox, Topic
from orderbridge.local.servers import AsgiServer
from tests.local.test_publisher import RecordingTopic

KEY = "ecp-local-key"


def _ecp(tmp_path: Path, topic: Topic | None, **options: Any) -> LocalEcp:
    store = DocumentStore(tmp_path / "ecp.db")  # the orders and their outbox in one store, as the stack has them
    outbox = EventOutbox(store, name="ecp", topic=lambda: topic, clock=SimClock())
    return LocalEcp(api_key=KEY, store=store, outbox=outbox.start(), clock=SimClock(), **options)


def _wait_for(condition: Any) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_an_order_placed_over_http_is_announced_on_the_topic(tmp_path: Path) -> None:
    topic = RecordingTopic(failures=[])
    with AsgiServer(topic.app, name="topic") as server:
        with _ecp(tmp_path, Topic(f"{server.url}/api/events", "topic-key")) as ecp:
            placed = httpx.post(
                f"{ecp.base_url}/orders",
                json={"id": "ord-7", "number": "WEB-7", "createdAt": "2026-12-03T10:00:00Z"},
                headers={"X-Api-Key": KEY},
            )
            fetched = httpx.get(f"{ecp.base_url}/orders/ord-7", headers={"X-Api-Key": KEY})
            _wait_for(lambda: topic.accepted)
    assert placed.status_code == 201 and fetched.json()["number"] == "WEB-7"
    [event] = topic.accepted
    assert event["eventType"] == "ECP.Order.Created"
    assert event["data"] == {"orderId": "ord-7", "orderNumber": "WEB-7", "createdAt": "2026-12-03T10:00:00Z"}


def test_a_duplicate_announcement_carries_a_new_event_id(tmp_path: Path) -> None:
    topic = RecordingTopic(failures=[])
    with AsgiServer(topic.app, name="topic") as server:
        with _ecp(tmp_path, Topic(f"{server.url}/api/events", "k"), duplicate_rate=1.0) as ecp:
            ecp.place({"id": "ord-8"})
            _wait_for(lambda: len(topic.accepted) == 2)
    first, second = topic.accepted
    assert first["data"] == second["data"] == {"orderId": "ord-8"} and first["id"] != second["id"]


def test_orders_and_their_versions_survive_a_restart(tmp_path: Path) -> None:
    with _ecp(tmp_path, None) as ecp:
        ecp.place({"id": "ord-9", "status": "open"})
        for version in (1, 3):
            answer = httpx.patch(
                f"{ecp.base_url}/orders/ord-9", json={"erpChangeVersion": version}, headers={"X-Api-Key": KEY}
            )
            assert answer.status_code == 200
    with _ecp(tmp_path, None) as again:
        assert again.order("ord-9")["erpChangeVersion"] == 3
        assert {order: [v for v, _ in versions] for order, versions in again.version_history().items()} == {"ord-9": [1, 3]}


def test_a_share_of_the_fetches_fails_with_503(tmp_path: Path) -> None:
    with _ecp(tmp_path, None) as ecp:
        ecp.place({"id": "ord-10"})
        ecp.fail_fetches(0.5, seed=7)
        with httpx.Client(base_url=ecp.base_url, headers={"X-Api-Key": KEY}) as shop:
            statuses = [shop.get("/orders/ord-10").status_code for _ in range(40)]
    assert set(statuses) == {200, 503} and 8 <= statuses.count(503) <= 32
