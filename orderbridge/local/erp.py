"""The fake ERP as the local stack runs it: durable data, its working day, outages and latency.

Like Business Central, it does not refuse a second order with the same `externalDocumentNumber`:
the ERP integrator's look-up is what prevents duplicates, so a duplicate would happen here and
`duplicates()` counts it. Every created order and every state is written to the state dir before
its answer leaves; each created order then goes through its life (lifecycle), announcing every
change on the ERP's topic through the durable outbox.

Faults are in simulated time: `outage(start, seconds)` answers 503 in that window, and a latency
in simulated milliseconds is waited out at the time scale.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from orderbridge.fake_apis import Fault, FakeErp
from orderbridge.fake_apis._server import RecordedRequest, Reply
from orderbridge.local.clock import SimClock
from orderbridge.local.documents import DocumentStore
from orderbridge.local.lifecycle import Lifecycle
from orderbridge.local.publisher import EventOutbox

ORDERS = "erp-orders"
STATES = "erp-states"
CREATED = "erp-created"  # journal: each create, with the simulated time it was answered


class LocalErp(FakeErp):
    """FakeErp whose data lives in the state dir and whose orders move through their life."""

    name = "local-erp"

    def __init__(
        self,
        *,
        api_key: str,
        store: DocumentStore,
        outbox: EventOutbox,
        clock: SimClock,
        latency_ms: float = 0.0,
        **options: Any,
    ) -> None:
        super().__init__(api_key=api_key, latency=clock.wall_seconds(latency_ms / 1000.0), **options)
        self._documents = store
        self._clock = clock
        for _, order in store.all(ORDERS):
            self.seed(order)
        for sales_order_id, state in store.all(STATES):
            super().set_state(sales_order_id, state)
        self.lifecycle = Lifecycle(store=store, outbox=outbox, clock=clock, set_state=self.set_state)

    def outage(self, *, start: float, seconds: float) -> None:
        """Answer 503 from `start` to `start + seconds` simulated seconds after the clock started."""
        self.fail_while(lambda: start <= self._clock.elapsed() < start + seconds, Fault(status=503))

    def set_state(self, sales_order_id: str, state: dict[str, Any]) -> None:
        with self._lock:
            super().set_state(sales_order_id, state)
            self._documents.put(STATES, sales_order_id, state)

    def created_at(self) -> dict[str, str]:
        """When (simulated) the first ERP order of each ECP order id was created."""
        first: dict[str, str] = {}
        for order_id, entry in self._documents.journal(CREATED):
            first.setdefault(order_id, entry["at"])
        return first

    def duplicates(self) -> dict[str, int]:
        """ECP order ids with more than one ERP order, and how many each has."""
        counts = Counter(str(o.get("externalDocumentNumber", "")).upper() for o in self.sales_orders)
        return {order_id: count for order_id, count in counts.items() if count > 1}

    def route(self, request: RecordedRequest) -> Reply:
        reply = super().route(request)
        if request.method == "POST" and request.path == "/salesOrders" and reply.status == 201:
            self._documents.put(ORDERS, str(reply.body["id"]), reply.body)
            created = {"salesOrderId": reply.body["id"], "at": self._clock.now().isoformat()}
            self._documents.append(CREATED, str(reply.body.get("externalDocumentNumber", "")).upper(), created)
            self.lifecycle.begin(reply.body)
        return reply

    def start(self) -> "LocalErp":
        super().start()
        self.lifecycle.start()
        return self

    def stop(self) -> None:
        self.lifecycle.stop()
        super().stop()
