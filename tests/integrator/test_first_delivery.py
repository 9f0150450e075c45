"""Which deliveries create without an ERP look-up: only those Service Bus proves are the order's first.

Every case goes through the real entry point against the fake ERP; the ERP's request log shows
whether the order was looked up. The example order was placed at 2026-11-27 08:14:03 UTC; the
harness's online-orders queue has a one-day duplicate-detection window and was created 30 days
before T0.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from order_integration import runtime
from order_integration.contracts import dump_json
from order_integration.servicebus import OutboundMessage
from order_integration.settings import SettingsError
from tests.integrator._runtime_support import (
    DUPLICATE_DETECTION_WINDOW,
    ORDER_PROPERTIES,
    TEST_TIMEOUTS,
    example,
    order_message,
    user_function,
)

erp_integrator = user_function("erp_integrator")
PLACED = datetime(2026, 11, 27, 8, 14, 3, tzinfo=timezone.utc)
# A look-up searches the open sales orders, then the posted invoices, before the create.
LOOK_UP_THEN_CREATE = ["GET", "GET", "POST"]


def erp_methods_after(harness, message) -> list[str]:
    """Deliver `message` (and the retry a redelivery becomes); the order must then exist once; the
    ERP requests it took, in order."""
    erp_integrator(message)
    harness.run_due("online-orders", "erp_integrator", until=harness.clock.now() + timedelta(hours=1))
    assert len(harness.erp.orders_for("ord-100045")) == 1
    assert harness.bus.messages("online-orders") == []
    return [r.method for r in harness.erp.requests]


def reinstall_runtime(harness) -> None:
    """Build the runtime again from the (changed) environment, as a restarted worker would."""
    runtime.install_runtime(runtime.build_runtime(sender=harness.bus, now=harness.clock.now, timeouts=TEST_TIMEOUTS))


@pytest.mark.parametrize(
    "enqueued",
    [
        PLACED + timedelta(seconds=2),
        PLACED - timedelta(minutes=59),  # the ECP's clock up to an hour ahead of Azure's
        PLACED + timedelta(minutes=59),  # a slow hour: still within MAX_AGE
        (PLACED + timedelta(minutes=5)).replace(tzinfo=None),  # the host's EnqueuedTimeUtc, no offset
    ],
)
def test_a_new_orders_first_delivery_is_created_without_a_look_up(harness, enqueued):
    assert erp_methods_after(harness, order_message(example("ecp-order"), enqueued_time_utc=enqueued)) == ["POST"]


@pytest.mark.parametrize(
    ("case", "message_kwargs", "order_change"),
    [
        ("redelivered", {"delivery_count": 2}, {}),
        ("DeliveryCount missing", {"delivery_count": None}, {}),
        ("enqueued over an hour after the order was placed", {"enqueued_time_utc": PLACED + timedelta(minutes=61)}, {}),
        ("enqueued more than an hour before it", {"enqueued_time_utc": PLACED - timedelta(minutes=61)}, {}),
        ("no enqueue time", {"enqueued_time_utc": None}, {}),
        ("a MessageId other than the order id", {"message_id": "ord-100045-resent"}, {}),
        ("a scheduled retry", {"properties": {"retryAttempt": 1}}, {}),
        ("a replay", {"properties": {"replayCount": 1}}, {}),
        ("a copy that names its original", {"properties": {"originalMessageId": "ord-100045"}}, {}),
        ("createdAt in a valid RFC 3339 form Python does not parse", {}, {"createdAt": "2026-11-27t08:14:03z"}),
    ],
)
def test_a_delivery_that_may_not_be_the_first_is_looked_up(harness, case, message_kwargs, order_change):
    order = {**example("ecp-order"), **order_change}
    kwargs = {"enqueued_time_utc": PLACED + timedelta(seconds=5), **message_kwargs}
    kwargs["properties"] = {**ORDER_PROPERTIES, **kwargs.get("properties", {})}
    assert erp_methods_after(harness, order_message(order, **kwargs)) == LOOK_UP_THEN_CREATE, case


@pytest.mark.parametrize("queue_age", [timedelta(minutes=30), timedelta(hours=22, minutes=59)])
def test_an_order_placed_in_the_queues_first_day_is_looked_up(harness, monkeypatch, queue_age):
    """A replaced queue remembers no MessageId from before it existed, and createdAt may be late."""
    monkeypatch.setenv("ONLINE_ORDERS_QUEUE_CREATED_AT", (PLACED - queue_age).isoformat())
    reinstall_runtime(harness)
    assert erp_methods_after(harness, order_message(example("ecp-order"))) == LOOK_UP_THEN_CREATE


def test_a_window_shorter_than_the_stack_allows_is_refused_so_no_order_skips_its_look_up(harness, monkeypatch):
    """A two-hour window would prove nothing about an order queued an hour late: the app refuses any
    window the stack refuses (under a day), naming the setting, instead of trusting it."""
    monkeypatch.setenv("ONLINE_ORDERS_DUPLICATE_DETECTION_MINUTES", "120")
    with pytest.raises(SettingsError, match="ONLINE_ORDERS_DUPLICATE_DETECTION_MINUTES='120' must be"):
        reinstall_runtime(harness)
    assert harness.erp.requests == []


def test_without_the_queue_settings_every_order_is_looked_up(harness, monkeypatch):
    monkeypatch.delenv("ONLINE_ORDERS_DUPLICATE_DETECTION_MINUTES")
    monkeypatch.delenv("ONLINE_ORDERS_QUEUE_CREATED_AT")
    reinstall_runtime(harness)
    assert erp_methods_after(harness, order_message(example("ecp-order"))) == LOOK_UP_THEN_CREATE


def test_the_same_order_sent_again_is_dropped_inside_the_window_and_looked_up_after_it(harness):
    """The argument end to end: Service Bus (duplicate detection) drops a second message for the order
    inside the window; one sent after it reaches the integrator, which looks it up and finds the order."""
    order = example("ecp-order")
    body = dump_json(order).encode()
    sent = OutboundMessage(body=body, message_id=order["id"], application_properties=ORDER_PROPERTIES)

    def send_and_deliver() -> None:
        harness.bus.send("online-orders", sent)
        for accepted in harness.bus.take_due("online-orders", harness.clock.now()):
            erp_integrator(order_message(order, enqueued_time_utc=harness.clock.now()))
            assert accepted.message.message_id == "ord-100045"

    harness.clock.value = PLACED + timedelta(seconds=5)
    send_and_deliver()
    harness.clock.advance(DUPLICATE_DETECTION_WINDOW - timedelta(minutes=1))
    send_and_deliver()
    assert [s.message.message_id for s in harness.bus.dropped] == ["ord-100045"]
    harness.clock.advance(timedelta(minutes=2))
    send_and_deliver()

    assert [r.method for r in harness.erp.requests] == ["POST", "GET"]
    assert len(harness.erp.orders_for("ord-100045")) == 1
    assert harness.parked("online-orders-rejected") == []


def test_an_order_created_by_hand_in_the_erp_is_not_seen_by_a_first_delivery(harness):
    """The documented limit of the skip: it reasons about orderbridge's own deliveries only."""
    harness.erp.seed({"externalDocumentNumber": "ord-100045", "customerNumber": "WEB", "salesOrderLines": []})
    erp_integrator(order_message(example("ecp-order")))
    assert len(harness.erp.orders_for("ord-100045")) == 2
