"""The ERP seam under hostile input (issue 10: 5, 12, 13): erp_integrator through its entry point
against the fake ERP, which stores Code fields upper-cased and deletes an order once it is posted,
as Business Central does."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from order_integration import runtime
from order_integration.contracts import dump_json
from order_integration.mapping import ErpDefaults, to_erp_sales_order
from order_integration.servicebus import OutboundMessage
from order_integration.settings import SettingsError
from orderbridge.fake_apis import Fault
from tests.integrator._runtime_support import DUPLICATE_DETECTION_WINDOW, T0, example, order_message, user_function

erp_integrator = user_function("erp_integrator")
QUEUE = "online-orders"
REJECTED = "online-orders-rejected"
DEFAULTS = ErpDefaults(web_customer_number="WEB", shipping_charge_item="SHIPPING", prices_include_tax=True)


def as_stored(order: dict) -> dict:
    """The ERP sales order the mapping makes of `order`, as plain JSON (the way the ERP holds it)."""
    return json.loads(dump_json(to_erp_sales_order(order, DEFAULTS)))


def published(harness, order: dict) -> None:
    """The order events processor queues the order (MessageId = order id) now, and the function gets
    what Service Bus accepted; duplicate detection drops a repeat inside its window."""
    harness.bus.send(QUEUE, OutboundMessage(body=dump_json(order).encode(), message_id=order["id"]))
    for _ in harness.bus.take_due(QUEUE, harness.clock.now()):
        erp_integrator(order_message(order, enqueued_time_utc=harness.clock.now()))


def published_again_after_the_window(harness, order: dict) -> list[tuple[str, str]]:
    """The same order published again once duplicate detection has forgotten it; the ERP requests it took."""
    before = len(harness.erp.requests)
    harness.clock.advance(DUPLICATE_DETECTION_WINDOW + timedelta(hours=1))
    published(harness, order)
    return [(r.method, r.path) for r in harness.erp.requests[before:]]


def placed_now(harness) -> dict:
    """The example order, placed at the harness's clock, so its first delivery skips the look-up."""
    return {**example("ecp-order"), "createdAt": harness.clock.now().isoformat()}


def parked_description(harness) -> tuple[str, str]:
    [parked] = harness.parked(REJECTED)
    props = parked.message.application_properties
    return props["reason"], props["description"]


def test_an_order_sent_in_lower_case_is_found_as_business_central_stores_it(harness):
    """BC upper-cases the Code[35] externalDocumentNumber; a look-up for 'ord-100045' must find 'ORD-100045'."""
    order = placed_now(harness)
    published(harness, order)
    [stored] = harness.erp.orders_for(order["id"])
    assert stored["externalDocumentNumber"] == "ORD-100045"

    assert published_again_after_the_window(harness, order) == [("GET", "/salesOrders")]

    assert harness.erp.duplicates() == {}
    assert harness.parked(REJECTED) == [] and harness.bus.messages(QUEUE) == []


def test_an_order_posted_in_the_erp_is_not_created_again_when_published_again(harness):
    """Fully shipped and invoiced, the ERP deletes the sales order; its posted invoice still names it."""
    order = placed_now(harness)
    published(harness, order)
    [stored] = harness.erp.orders_for(order["id"])
    harness.erp.post(stored["id"])
    assert harness.erp.orders_for(order["id"]) == []

    assert published_again_after_the_window(harness, order) == [("GET", "/salesOrders"), ("GET", "/salesInvoices")]

    assert harness.erp.duplicates() == {}
    assert harness.erp.orders_for(order["id"]) == [] and len(harness.erp.invoices_for(order["id"])) == 1
    assert harness.parked(REJECTED) == [] and harness.bus.messages(QUEUE) == []


def test_an_order_invoiced_in_parts_is_one_posted_order_with_its_total_quantities(harness):
    order = placed_now(harness)
    published(harness, order)
    [stored] = harness.erp.orders_for(order["id"])
    [coffee] = [line for line in stored["salesOrderLines"] if line["lineObjectNumber"] == "COF-ETH-250"]
    assert coffee["quantity"] == 2
    harness.erp.post(stored["id"], {coffee["sequence"]: 1})
    harness.erp.post(stored["id"])
    assert len(harness.erp.invoices_for(order["id"])) == 2

    assert published_again_after_the_window(harness, order)[-1] == ("GET", "/salesInvoices")

    assert harness.erp.duplicates() == {} and harness.erp.orders_for(order["id"]) == []
    assert harness.parked(REJECTED) == []


def test_a_posted_order_that_differs_from_the_ecp_order_is_parked_not_created_again(harness):
    order = placed_now(harness)
    incomplete = as_stored(order)
    incomplete["salesOrderLines"] = incomplete["salesOrderLines"][:3]  # two comments and the first item
    harness.erp.post(harness.erp.seed(incomplete)["id"])

    assert ("POST", "/salesOrders") not in published_again_after_the_window(harness, order)

    reason, description = parked_description(harness)
    assert reason == "ExistingOrderMismatch"
    assert "posted order SO" in description and "incomplete" in description
    assert harness.erp.orders_for(order["id"]) == []


def test_an_order_posted_twice_already_is_parked_naming_both(harness):
    order = placed_now(harness)
    for _ in range(2):
        harness.erp.post(harness.erp.seed(as_stored(order))["id"])
    assert harness.erp.duplicates() == {"ORD-100045": 2}

    published_again_after_the_window(harness, order)

    reason, description = parked_description(harness)
    assert reason == "ExistingOrderMismatch" and "exist 2 times" in description
    assert description.count("posted order SO") == 2
    assert harness.erp.duplicates() == {"ORD-100045": 2}


@pytest.mark.parametrize(
    ("answered", "named"),
    [
        ({"externalDocumentNumber": "ORD-999", "number": "SO1", "salesOrderLines": []}, "not the one filtered for"),
        ({"externalDocumentNumber": "ORD-100045", "number": "SO1"}, "without salesOrderLines"),
        ({"externalDocumentNumber": "ORD-100045", "salesOrderLines": ["x"]}, "without salesOrderLines"),
        ("ORD-100045", "not a JSON object"),
    ],
)
def test_a_look_up_answer_that_is_not_what_was_asked_for_is_retried_neither_counted_nor_created(
    harness, answered, named
):
    """Counting documents the filter did not select would park the order; ignoring them could duplicate it."""
    harness.erp.fail_next(Fault(status=200, body={"value": [answered]}), method="GET")
    published(harness, {**example("ecp-order"), "createdAt": (T0 - timedelta(days=2)).isoformat()})

    assert [r.method for r in harness.erp.requests] == ["GET"]
    [retry] = harness.bus.messages(QUEUE)
    assert named in retry.message.application_properties["lastError"]
    assert harness.parked(REJECTED) == []


@pytest.mark.parametrize("created_at", ["0001-01-01T00:30:00Z", "1999-12-31T23:59:59+01:00"])
def test_an_order_placed_before_2000_is_parked_before_it_becomes_the_erps_blank_date(harness, created_at):
    erp_integrator(order_message({**example("ecp-order"), "createdAt": created_at}, enqueued_time_utc=T0))

    reason, description = parked_description(harness)
    assert reason == "MappingFailed"
    assert "$.createdAt" in description and "before 2000-01-01" in description
    assert harness.erp.requests == []


def test_an_order_placed_more_than_a_day_ahead_of_the_clock_is_parked(harness):
    ahead = harness.clock.now() + timedelta(days=1, minutes=1)
    erp_integrator(order_message({**example("ecp-order"), "createdAt": ahead.isoformat()}, enqueued_time_utc=T0))

    reason, description = parked_description(harness)
    assert reason == "MappingFailed" and "$.createdAt" in description and "clock" in description
    assert harness.erp.requests == []


@pytest.mark.parametrize(
    "created_at",
    [
        "2000-01-01T00:00:00+14:00",  # the first plausible day, in the earliest time zone
        (T0 + timedelta(hours=14)).isoformat(),  # tomorrow already, in a shop east of UTC
        (T0 + timedelta(hours=23)).isoformat().replace("+00:00", "z").replace("T", "t"),  # RFC 3339 allows both cases
    ],
)
def test_an_order_placed_inside_the_plausible_range_is_created(harness, created_at):
    erp_integrator(order_message({**example("ecp-order"), "createdAt": created_at}, enqueued_time_utc=T0))

    assert harness.parked(REJECTED) == []
    [stored] = harness.erp.orders_for("ord-100045")
    assert stored["orderDate"] == created_at[:10]


@pytest.mark.parametrize("suffix", ["?company=CRONUS", "?", "#orders", "/?tenant=x"])
def test_an_erp_base_url_with_a_query_or_fragment_stops_every_delivery(harness, monkeypatch, suffix):
    """Through the entry point, as a worker starting with that app setting: the message stays with
    Service Bus (the invocation raises), nothing reaches the ERP, and the value is not echoed."""
    bad = harness.erp.base_url + suffix
    monkeypatch.setenv("ERP_BASE_URL", bad)
    runtime.install_runtime(None)  # the next delivery builds the runtime from the environment

    with pytest.raises(SettingsError) as refused:
        erp_integrator(order_message(example("ecp-order")))

    assert any("ERP_BASE_URL" in problem for problem in refused.value.problems)
    assert bad not in str(refused.value)
    assert harness.erp.requests == []
    assert harness.bus.messages(QUEUE) == [] and harness.parked(REJECTED) == []
