"""The fake ERP as the local stack runs it: durable data, its working day, outages and latency.

Like Business Central, it does not refuse a second order with the same `externalDocumentNumber`:
the ERP integrator's look-up is what prevents duplicates, so a duplicate would happen here and
`duplicates()` counts it. Every created order, posted invoice and state is written to the state
dir before its answer leaves; each created order then goes through its life (lifecycle), announcing
every change on the ERP's topic through the durable outbox, and is posted once paid: it then lives
on as a posted invoice, as in Business Central, and its state endpoint keeps answering.

Faults are in simulated time: `outage(start, seconds)` answers 503 in that window, and a latency
in simulated milliseconds is waited out at the time scale.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from orderbridge.fake_apis import Fault, FakeErp
from orderbridge.fake_apis._server import RecordedRequest, Reply
from orderbridge.local.clock import SimClock
from orderbridge.local.documents import DocumentStore
from orderbridge.local.lifecycle import Lifecycle
from orderbridge.local.publisher import EventOutbox

ORDERS = "erp-orders"
INVOICES = "erp-invoices"
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
        self._durable = store
        self._clock = clock
        self._outbox = outbox
        self.restore(
            orders=[order for _, order in store.all(ORDERS)],
            invoices=[invoice for _, invoice in store.all(INVOICES)],
            states=dict(store.all(STATES)),
        )
        self.lifecycle = Lifecycle(
            store=store, outbox=outbox, clock=clock, set_state=self.set_state, on_paid=self.post, erp_lock=self._lock
        )

    def outage(self, *, begins: datetime, seconds: float) -> None:
        """Answer 503 from `begins` for `seconds`, in simulated time."""
        ends = begins + timedelta(seconds=seconds)
        self.fail_while(lambda: begins <= self._clock.now() < ends, Fault(status=503))

    def set_state(self, sales_order_id: str, state: dict[str, Any]) -> None:
        with self._lock:
            super().set_state(sales_order_id, state)
            self._durable.put(STATES, sales_order_id, state)

    @property
    def outbox_pending(self) -> int:
        """ERP events not yet accepted by the topic."""
        return self._outbox.pending

    def created_at(self) -> dict[str, str]:
        """When (simulated) the first ERP order of each ECP order id was created."""
        first: dict[str, str] = {}
        for order_id, entry in self._durable.journal(CREATED):
            first.setdefault(order_id, entry["at"])
        return first

    def post(self, sales_order_id: str, quantities: Any = None) -> dict[str, Any] | None:
        """Post the order (FakeErp.post), keeping the invoice and what is left of the order durable.

        An order already posted (a resumed stack carrying out its last step again) is left as it is.
        """
        with self._lock, self._durable.transaction():
            if not any(order["id"] == sales_order_id for order in self._orders):
                return None
            invoice = super().post(sales_order_id, quantities)
            self._durable.put(INVOICES, invoice["id"], invoice)
            remaining = next((o for o in self._orders if o["id"] == sales_order_id), None)
            if remaining is None:
                self._durable.delete(ORDERS, sales_order_id)
            else:
                self._durable.put(ORDERS, sales_order_id, remaining)
            return invoice

    def route(self, request: RecordedRequest) -> Reply:
        with self._durable.transaction():  # an order, its create record and its planned life, or none
            return self._route(request)

    def _route(self, request: RecordedRequest) -> Reply:
        reply = super().route(request)
        if request.method == "POST" and request.path == "/salesOrders" and reply.status == 201:
            self._durable.put(ORDERS, str(reply.body["id"]), reply.body)
            created = {"salesOrderId": reply.body["id"], "at": self._clock.now().isoformat()}
            self._durable.append(CREATED, str(reply.body.get("externalDocumentNumber", "")).upper(), created)
            self.lifecycle.begin(reply.body)
        return reply

    def start(self) -> "LocalErp":
        super().start()
        self.lifecycle.start()
        return self

    def stop(self) -> None:
        self.lifecycle.stop()
        super().stop()
