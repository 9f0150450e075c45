"""The fake ERP's working day: a created sales order is released, shipped, invoiced and paid.

Each step is a new `erp-sales-order-state` (what `GET /salesOrders/{id}/state` answers) with the
next `changeVersion`, followed by an `ERP.SalesOrder.Updated` event through the ERP's outbox. The
steps are due at simulated times and kept in the state dir, so a resumed stack carries on with the
orders the killed one had in flight. By default an order goes through its life in three simulated
minutes, so a demo sees every update come back to the shop.
"""
from __future__ import annotations

import heapq
import logging
import threading
import zlib
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from orderbridge.local.clock import SimClock
from orderbridge.local.documents import DocumentStore
from orderbridge.local.publisher import EventOutbox
from topology import ERP_TO_ECP

logger = logging.getLogger(__name__)

STEPS = "erp-lifecycle"
CHANGES = "erp-changes"  # journal: each change carried out, with the simulated time
# (status, changeType, simulated seconds after the order was created)
SCHEDULE: tuple[tuple[str, str, float], ...] = (
    ("Released", "Released", 0.0),
    ("Shipped", "Shipped", 60.0),
    ("Invoiced", "Invoiced", 120.0),
    ("Invoiced", "Paid", 180.0),
)


@dataclass(frozen=True)
class Step:
    """One due change of one sales order."""

    due: str  # ISO 8601, simulated time
    sales_order: dict[str, Any]  # the order as created: id, number, externalDocumentNumber, lines, ...
    index: int  # into SCHEDULE; its changeVersion is index + 1

    @property
    def key(self) -> str:
        return f"{self.sales_order['id']}#{self.index}"


def state_of(sales_order: dict[str, Any], index: int, *, now: datetime) -> dict[str, Any]:
    """The `erp-sales-order-state` of `sales_order` after step `index` of SCHEDULE."""
    status, change, _ = SCHEDULE[index]
    total = float(sales_order.get("totalAmountIncludingTax") or 0)
    state: dict[str, Any] = {
        "id": sales_order["id"],
        "number": sales_order["number"],
        "externalDocumentNumber": sales_order["externalDocumentNumber"],
        "changeVersion": index + 1,
        "status": status,
        "lastModifiedDateTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "currencyCode": sales_order.get("currencyCode") or "EUR",
        "totalAmountIncludingTax": total,
    }
    if index >= 1:
        state["shipments"] = [_shipment(sales_order, now)]
    if index >= 2:
        state["invoices"] = [{
            "number": f"INV-{sales_order['number']}",
            "invoiceDate": now.date().isoformat(),
            "totalAmountIncludingTax": total,
            "remainingAmount": 0 if change == "Paid" else total,
        }]
    return state


def _shipment(sales_order: dict[str, Any], now: datetime) -> dict[str, Any]:
    lines = [
        {"lineObjectNumber": line["lineObjectNumber"], "quantity": line["quantity"]}
        for line in sales_order.get("salesOrderLines", [])
        if line.get("lineType") == "Item" and line.get("quantity")
    ]
    return {
        "number": f"SHP-{sales_order['number']}",
        "shipmentDate": now.date().isoformat(),
        "shippingAgentCode": "DHL",
        "packageTrackingNumbers": [f"00340434{zlib.crc32(sales_order['id'].encode()):010d}"],
        "lines": lines,
    }


class Lifecycle:
    """Runs the due steps of every created order on a background thread."""

    def __init__(
        self,
        *,
        store: DocumentStore,
        outbox: EventOutbox,
        clock: SimClock,
        set_state: Callable[[str, dict[str, Any]], None],
        on_paid: Callable[[str], object] = lambda sales_order_id: None,
        erp_lock: AbstractContextManager[Any] = nullcontext(),
    ) -> None:
        """`erp_lock` is the fake ERP's own lock: taken before the store's, in the order its
        request handling takes them, so the two can never wait for each other."""
        self._store, self._outbox, self._clock = store, outbox, clock
        self._set_state, self._on_paid = set_state, on_paid
        self._erp_lock = erp_lock
        self._due: list[tuple[datetime, str, Step]] = []
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="erp-lifecycle", daemon=True)
        for _, record in store.all(STEPS):  # a resumed stack: the steps the killed one had not run
            self._push(Step(**record))

    def begin(self, sales_order: dict[str, Any]) -> None:
        """Plan the life of a sales order the ERP has just created."""
        created = self._clock.now()
        steps = [
            Step((created + timedelta(seconds=after)).isoformat(), sales_order, index)
            for index, (_, _, after) in enumerate(SCHEDULE)
        ]
        with self._store.transaction():
            for step in steps:
                self._store.put(STEPS, step.key, {"due": step.due, "sales_order": sales_order, "index": step.index})
        for step in steps:
            self._push(step)

    def start(self) -> "Lifecycle":
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def changes(self) -> dict[str, list[tuple[int, str]]]:
        """Every change carried out, by ECP order id: its version and simulated time."""
        history: dict[str, list[tuple[int, str]]] = {}
        for order_id, entry in self._store.journal(CHANGES):
            history.setdefault(order_id, []).append((entry["version"], entry["at"]))
        return history

    @property
    def in_flight(self) -> int:
        """Steps not yet carried out."""
        with self._wake:
            return len(self._due)

    def _push(self, step: Step) -> None:
        with self._wake:
            heapq.heappush(self._due, (datetime.fromisoformat(step.due), step.key, step))
            self._wake.notify_all()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (not self._due or self._due[0][0] > self._clock.now()):
                    wait = self._clock.wall_until(self._due[0][0]) if self._due else 0.5
                    self._wake.wait(timeout=min(wait, 0.5))
                if self._stopped:
                    return
                _, _, step = heapq.heappop(self._due)
            try:
                self._carry_out(step)
            except Exception:  # a bug must not end the ERP's day: logged, and the step is due again
                logger.exception("the fake ERP could not carry out %s; retrying in a simulated minute", step.key)
                self._push(Step((self._clock.now() + timedelta(minutes=1)).isoformat(), step.sales_order, step.index))

    def _carry_out(self, step: Step) -> None:
        """Change the state (and post a paid order), announce it, forget the step: one transaction."""
        with self._erp_lock, self._store.transaction():
            self._change(step)

    def _change(self, step: Step) -> None:
        now = self._clock.now()
        state = state_of(step.sales_order, step.index, now=now)
        self._set_state(state["id"], state)
        if step.index == len(SCHEDULE) - 1:
            self._on_paid(state["id"])
        self._outbox.add(
            event_type=ERP_TO_ECP.event_type,
            subject=f"/salesOrders/{state['id']}",
            data={
                "salesOrderId": state["id"],
                "ecpOrderId": state["externalDocumentNumber"],
                "changeVersion": state["changeVersion"],
                "changeType": SCHEDULE[step.index][1],
            },
        )
        self._store.append(CHANGES, state["externalDocumentNumber"].upper(),
                           {"version": state["changeVersion"], "at": now.isoformat()})
        self._store.delete(STEPS, step.key)
