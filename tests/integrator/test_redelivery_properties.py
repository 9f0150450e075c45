"""Hand-made retry properties and hostile Retry-After headers, delivered through the entry points.

Only our redelivery writes `retryAttempt`, `firstFailureAt`, `originalMessageId` and `retryChainId`,
but anyone with send rights can set them. A value we never write must end the retry with a park
that names the property, never crash the retry step (the message would be abandoned until Service
Bus dead-letters it) or retry for days.
"""
from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

from order_integration.contracts import dump_json
from orderbridge.fake_apis import Fault
from tests.integrator._runtime_support import (
    ORDER_PROPERTIES,
    STATE_PROPERTIES,
    T0,
    example,
    order_message,
    state_message,
    user_function,
)
from topology import ERP_UNKNOWN_OUTCOME_WAIT, RETRY_MAX_SPAN

LONG = "9" * 5000
# The longest retry span any settings allow, a lost create's last wait included.
LONGEST_RETRY_SPAN = timedelta(minutes=RETRY_MAX_SPAN.high + ERP_UNKNOWN_OUTCOME_WAIT.high)
VALID_RETRY = {"retryAttempt": 2, "firstFailureAt": (T0 - timedelta(minutes=2)).isoformat(), "originalMessageId": "ord-100045",
               "retryChainId": "ord-100045"}
HAND_MADE = {
    "a million retries": ({"retryAttempt": 1000000}, "retryAttempt"),
    "4,000-digit retry count": ({"retryAttempt": LONG}, "retryAttempt"),
    "negative retry count": ({"retryAttempt": -1}, "retryAttempt"),
    "boolean retry count": ({"retryAttempt": True}, "retryAttempt"),
    "first failure without offset": ({"firstFailureAt": "2026-11-27T11:58:00"}, "firstFailureAt"),
    "first failure in a month": ({"firstFailureAt": (T0 + timedelta(days=30)).isoformat()}, "firstFailureAt"),
    "first failure not a time": ({"firstFailureAt": LONG}, "firstFailureAt"),
    "first failure a number": ({"firstFailureAt": 1764244680}, "firstFailureAt"),
    "retry count without first failure": ({"firstFailureAt": None}, "retryAttempt"),
    "5,000-character original id": ({"originalMessageId": LONG}, "originalMessageId"),
    "numeric chain id": ({"retryChainId": 7}, "retryChainId"),
}


def hand_made(changes: dict) -> dict:
    properties = {**ORDER_PROPERTIES, **VALID_RETRY, **changes}
    return {k: v for k, v in properties.items() if v is not None}


def assert_parked_naming(harness, queue: str, name: str, caplog) -> dict:
    [parked] = harness.parked(queue)
    props = parked.message.application_properties
    assert props["reason"] == "ImplausibleRetryProperties", props["reason"]
    assert props["description"].startswith(f"the {name} property is"), props["description"]
    assert "last error:" in props["description"] and len(props["description"]) < 600
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert LONG not in props["description"] and LONG not in logged
    return props


@pytest.mark.parametrize(("changes", "name"), HAND_MADE.values(), ids=HAND_MADE.keys())
def test_a_hand_made_retry_property_parks_the_erp_message_naming_it(harness, caplog, changes, name):
    harness.erp.fail_next(Fault(status=503))
    message = order_message(example("ecp-order"), message_id="ord-100045+retry2", properties=hand_made(changes))
    with caplog.at_level(logging.INFO):
        user_function("erp_integrator")(message)
    assert_parked_naming(harness, "online-orders-rejected", name, caplog)
    assert harness.bus.messages("online-orders") == []  # no retry for days


@pytest.mark.parametrize(("changes", "name"), HAND_MADE.values(), ids=HAND_MADE.keys())
def test_a_hand_made_retry_property_parks_the_ecp_message_naming_it(harness, caplog, changes, name):
    harness.ecp.put_order(json.loads(dump_json(example("ecp-order"))))
    harness.ecp.fail_next(Fault(status=503))
    state = example("erp-sales-order-state")
    properties = {**hand_made(changes), **STATE_PROPERTIES}
    with caplog.at_level(logging.INFO):
        user_function("ecp_integrator")(state_message(state, message_id="SO-104233-3+retry2", properties=properties))
    props = assert_parked_naming(harness, "order-updates-rejected", name, caplog)
    assert props["sessionId"] == state["externalDocumentNumber"].upper()


def test_plausible_retry_properties_still_retry_even_when_written_as_text(harness):
    """A tool that re-sends a message may turn its int properties into text; that is still our retry."""
    harness.erp.fail_next(Fault(status=503))
    properties = hand_made({"retryAttempt": "2"})
    user_function("erp_integrator")(order_message(example("ecp-order"), message_id="ord-100045+retry2", properties=properties))
    [retry] = harness.bus.messages("online-orders")
    assert retry.message.message_id == "ord-100045+retry3"
    assert retry.message.application_properties["firstFailureAt"] == VALID_RETRY["firstFailureAt"]
    assert harness.parked("online-orders-rejected") == []


@pytest.mark.parametrize("retry_after", ["9" * 20, "9" * 5000, "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_a_huge_retry_after_delays_the_retry_at_most_the_longest_retry_span(harness, retry_after):
    harness.erp.fail_next(Fault(status=503, retry_after=retry_after))
    user_function("erp_integrator")(order_message(example("ecp-order"), properties=hand_made({})))
    [retry] = harness.bus.messages("online-orders")
    assert T0 < retry.enqueue_at <= T0 + LONGEST_RETRY_SPAN


def test_a_lost_create_with_a_huge_retry_after_is_retried_not_crashed(harness):
    """The provably first delivery creates at once; its 504 carries a Retry-After that overflows a date."""
    harness.erp.fail_next(Fault(status=504, retry_after="9" * 5000), method="POST")
    user_function("erp_integrator")(order_message(example("ecp-order")))
    [retry] = harness.bus.messages("online-orders")
    assert timedelta(minutes=15) <= retry.enqueue_at - T0 <= LONGEST_RETRY_SPAN


def test_a_long_data_version_is_parked_without_echoing_it(harness, caplog):
    properties = {**ORDER_PROPERTIES, "dataVersion": "2." + LONG}
    with caplog.at_level(logging.INFO):
        user_function("erp_integrator")(order_message(example("ecp-order"), properties=properties))
    [parked] = harness.parked("online-orders-rejected")
    description = parked.message.application_properties["description"]
    assert parked.message.application_properties["reason"] == "UnsupportedDataVersion"
    assert description.startswith("dataVersion a str of 5002 characters (not shown) is not supported")
    assert LONG not in "\n".join(r.getMessage() for r in caplog.records)
