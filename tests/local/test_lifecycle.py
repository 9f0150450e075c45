"""The fake ERP's working day: each step a valid state with the next version, announced, resumable."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from order_integration.contracts import load_json, validate
from order_integration.mapping import to_ecp_order_update

from orderbridge.local.clock import SimClock
from orderbridge.local.documents import DocumentStore
from orderbridge.local.lifecycle import SCHEDULE, Lifecycle, state_of
from orderbridge.local.publisher import EventOutbox

SALES_ORDER = {
    "id": "so-104001", "number": "SO104001", "externalDocumentNumber": "ORD-100045", "currencyCode": "EUR",
    "totalAmountIncludingTax": 38.75,
    "salesOrderLines": [
        {"lineType": "Item", "lineObjectNumber": "COF-ETH-250", "quantity": 2},
        {"lineType": "Comment", "lineObjectNumber": "", "quantity": 0},
    ],
}


def test_every_step_is_a_valid_state_that_maps_to_a_valid_shop_update() -> None:
    clock = SimClock()
    statuses = []
    for index in range(len(SCHEDULE)):
        state = load_json(json.dumps(state_of(SALES_ORDER, index, now=clock.now())).encode())  # as sent over HTTP
        validate("erp-sales-order-state", state)
        update = to_ecp_order_update(state)
        validate("ecp-order-update", update)
        statuses.append((update["erpChangeVersion"], update["status"], update["paymentStatus"]))
    assert statuses == [(1, "processing", "notInvoiced"), (2, "shipped", "notInvoiced"),
                        (3, "completed", "unpaid"), (4, "completed", "paid")]


def _wait_for(condition: Any) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_resumed_erp_carries_out_the_steps_the_killed_one_had_not(tmp_path: Path) -> None:
    states: dict[str, list[int]] = {}
    paid: list[str] = []
    clock = SimClock(6000.0)  # three simulated minutes in 30 ms

    def lifecycle() -> tuple[Lifecycle, EventOutbox]:
        store = DocumentStore(tmp_path / "erp.db")
        outbox = EventOutbox(store, name="erp", topic=lambda: None, clock=clock)
        return Lifecycle(
            store=store, outbox=outbox, clock=clock,
            set_state=lambda sid, state: states.setdefault(sid, []).append(state["changeVersion"]),
            on_paid=paid.append,
        ), outbox

    first, outbox = lifecycle()
    first.begin(SALES_ORDER)  # not started: as if killed before any step ran
    first.stop()
    outbox.stop()
    again, outbox = lifecycle()
    again.start()
    _wait_for(lambda: again.in_flight == 0 and paid)
    again.stop()
    assert states == {"so-104001": [1, 2, 3, 4]} and paid == ["so-104001"]
    assert outbox.pending == 4  # every change announced, waiting for the topic
    outbox.stop()
