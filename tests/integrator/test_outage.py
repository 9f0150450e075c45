"""A one-hour ERP outage on a virtual clock: every order created once, none parked; a never-ending
failure ends in the parking queue with RetriesExhausted."""
from __future__ import annotations

import copy
import json
from datetime import timedelta

from order_integration.contracts import dump_json
from orderbridge.fake_apis import Fault
from tests.integrator._runtime_support import (
    T0,
    example,
    order_message,
    user_function,
)

erp_integrator = user_function("erp_integrator")
ORDERS = 25


def orders(count: int) -> list[dict]:
    base = example("ecp-order")
    result = []
    for n in range(count):
        order = copy.deepcopy(base)
        order["id"] = f"ord-{200000 + n}"
        order["number"] = f"WEB-{200000 + n}"
        result.append(order)
    return result


def test_one_hour_outage_ends_with_every_order_created_once_and_none_parked(harness):
    outage_end = T0 + timedelta(hours=1)
    harness.erp.fail_while(lambda: harness.clock.now() < outage_end, Fault(status=503))
    batch = orders(ORDERS)
    for index, order in enumerate(batch):
        # Orders keep arriving during the first half of the outage, one every ~70 s.
        harness.clock.value = T0 + timedelta(seconds=70 * index)
        erp_integrator(order_message(order))
    assert harness.erp.sales_orders == []  # every create during the outage was refused with 503

    redeliveries = harness.run_due("online-orders", "erp_integrator", until=T0 + timedelta(hours=3))

    for order in batch:
        assert len(harness.erp.orders_for(order["id"])) == 1, order["id"]
    assert harness.parked("online-orders-rejected") == []
    assert harness.bus.messages("online-orders") == []
    assert len(harness.erp.sales_orders) == ORDERS
    # Each order's first delivery creates without a look-up; every retry looks the order up first.
    assert len([r for r in harness.erp.requests if (r.method, r.path) == ("GET", "/salesOrders")]) == redeliveries
    # Backoff, not a storm: at most ~8 scheduled retries per order within the hour (30 s doubling
    # to 15 min), and the last order is created within one max delay after the ERP is back.
    assert redeliveries <= ORDERS * 9
    assert harness.clock.now() <= outage_end + timedelta(minutes=17)


def test_an_order_that_keeps_failing_is_parked_with_retries_exhausted(harness):
    harness.erp.fail_while(lambda: True, Fault(status=503, retry_after="60"))
    order = example("ecp-order")
    erp_integrator(order_message(order, correlation_id="evt-doomed"))
    harness.run_due("online-orders", "erp_integrator", until=T0 + timedelta(days=1))

    [parked] = harness.parked("online-orders-rejected")
    props = parked.message.application_properties
    assert props["reason"] == "RetriesExhausted"
    assert "ERP answered HTTP 503" in props["description"]
    assert props["parkedBy"] == "erp-integrator"
    assert props["originalMessageId"] == order["id"]
    assert props["eventType"] == "ECP.Order.Created"
    assert parked.message.body == dump_json(order).encode()
    assert parked.message.correlation_id == "evt-doomed"
    # The default span is 90 minutes: it was not parked before then.
    assert harness.clock.now() - T0 >= timedelta(minutes=90)
    assert harness.erp.orders_for(order["id"]) == []
    assert json.loads(parked.message.body)["id"] == order["id"]
