"""The fake ECP as the local stack runs it: a shop that takes orders, keeps them, and announces them.

    POST  /orders        place an order (an `ecp-order` document), 201; announces ECP.Order.Created
    GET   /orders/{id}   the order (what the order events processor fetches)
    PATCH /orders/{id}   an `ecp-order-update` from the ECP integrator

Every order and every `erpChangeVersion` an order was given is written to the state dir before
the answer leaves, so a resumed stack still knows them, and the demo can tell whether an order
ever went backwards. The announcement goes through the durable outbox (publisher), so it is
never lost while Event Grid is down. Placing an order does not validate it: a real shop's bugs
are what the contracts are for (the demo's poison orders rely on that).
"""
from __future__ import annotations

import random
from typing import Any

from orderbridge.fake_apis import Fault, FakeEcp
from orderbridge.fake_apis._server import RecordedRequest, Reply, error_reply
from orderbridge.local.clock import SimClock
from orderbridge.local.documents import DocumentStore
from orderbridge.local.publisher import EventOutbox
from topology import ECP_TO_ERP

ORDERS = "ecp-orders"
VERSIONS = "ecp-versions"


class LocalEcp(FakeEcp):
    """FakeEcp with order placement, durable data and announcements on the ECP's topic."""

    name = "local-ecp"

    def __init__(
        self,
        *,
        api_key: str,
        store: DocumentStore,
        outbox: EventOutbox,
        clock: SimClock,
        duplicate_rate: float = 0.0,
        seed: int = 0,
    ) -> None:
        super().__init__(api_key=api_key)
        self._durable = store
        self._outbox = outbox
        self._clock = clock
        self._duplicate_rate = duplicate_rate
        self._random = random.Random(seed)
        for _, order in store.all(ORDERS):
            super().put_order(order)

    def fail_fetches(self, rate: float, *, seed: int = 0) -> None:
        """Answer a share `rate` of the fetches (GET) with 503, as an overloaded shop would."""
        coin = random.Random(seed)
        self.fail_while(lambda: coin.random() < rate, Fault(status=503), method="GET")

    def place(self, order: dict[str, Any]) -> None:
        """Take an order as the shop's checkout would: keep it, then announce it."""
        with self._lock, self._durable.transaction():  # the order and its announcement, or neither
            super().put_order(order)
            self._durable.put(ORDERS, str(order["id"]), order)
            self._announce(order)
            if self._random.random() < self._duplicate_rate:
                self._announce(order)  # a publisher retry after a lost answer: same order, new event id

    def version_history(self) -> dict[str, list[tuple[int, str]]]:
        """Every `erpChangeVersion` each order was given, with the simulated time, in the order applied."""
        history: dict[str, list[tuple[int, str]]] = {}
        for order_id, entry in self._durable.journal(VERSIONS):
            history.setdefault(order_id, []).append((entry["version"], entry["at"]))
        return history

    def route(self, request: RecordedRequest) -> Reply:
        if request.path == "/orders" and request.method == "POST":
            return self._place_over_http(request.body)
        with self._durable.transaction():  # the updated order and its version history, or neither
            reply = super().route(request)
            if request.method == "PATCH" and reply.status == 200 and isinstance(reply.body, dict):
                self._durable.put(ORDERS, str(reply.body["id"]), reply.body)
                entry = {"version": reply.body.get("erpChangeVersion"), "at": self._clock.now().isoformat()}
                self._durable.append(VERSIONS, str(reply.body["id"]), entry)
        return reply

    def _place_over_http(self, body: Any) -> Reply:
        if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not body["id"]:
            return error_reply(400, "BadRequest", "an order is a JSON object with a non-empty string `id`")
        self.place(body)
        return Reply(201, {"id": body["id"]})

    def _announce(self, order: dict[str, Any]) -> None:
        data: dict[str, Any] = {"orderId": order["id"]}
        if "number" in order:
            data["orderNumber"] = order["number"]
        if "createdAt" in order:
            data["createdAt"] = order["createdAt"]
        self._outbox.add(event_type=ECP_TO_ERP.event_type, subject=f"/orders/{order['id']}", data=data)
