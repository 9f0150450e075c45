"""ecp_integrator as the host calls it (session messages), against the local fake ECP."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from order_integration.contracts import dump_json
from order_integration.mapping import to_ecp_order_update
from order_integration.messages import InboundMessage
from order_integration.redelivery import replay_message
from order_integration.servicebus import SendFailed
from orderbridge.fake_apis import Fault
from tests.integrator._runtime_support import (
    ECP_KEY,
    T0,
    example,
    redelivered,
    state_message,
    user_function,
)

ecp_integrator = user_function("ecp_integrator")
REJECTED = "order-updates-rejected"


def put_ecp_order(harness, erp_change_version: int | None = None) -> None:
    order = example("ecp-order")
    if erp_change_version is not None:
        order["erpChangeVersion"] = erp_change_version
    harness.ecp.put_order(json.loads(dump_json(order)))


def state(change_version: int = 3) -> dict:
    value = example("erp-sales-order-state")
    value["changeVersion"] = change_version
    return value


def methods(harness) -> list[str]:
    return [r.method for r in harness.ecp.requests]


def test_newer_state_is_patched_onto_the_ecp_order(harness):
    put_ecp_order(harness, erp_change_version=2)
    current = state(3)
    ecp_integrator(state_message(current, correlation_id="evt-77"))
    get, patch = harness.ecp.requests
    # The canonical id: the ECP resolves ids ignoring case, Business Central upper-cases them.
    assert (get.method, get.path) == ("GET", "/orders/ORD-100045")
    assert (patch.method, patch.path) == ("PATCH", "/orders/ORD-100045")
    assert patch.raw_body == dump_json(to_ecp_order_update(current)).encode()
    for request in (get, patch):
        assert request.headers["x-api-key"] == ECP_KEY
        assert request.headers["x-correlation-id"] == "evt-77"
    stored = harness.ecp.order("ord-100045")
    assert stored["erpChangeVersion"] == 3
    assert stored["erpOrderNumber"] == current["number"]
    assert harness.parked(REJECTED) == [] and harness.bus.messages("order-updates") == []


def test_first_update_applies_when_the_ecp_has_no_erp_change_yet(harness):
    put_ecp_order(harness)
    ecp_integrator(state_message(state(1)))
    assert methods(harness) == ["GET", "PATCH"]
    assert harness.ecp.order("ord-100045")["erpChangeVersion"] == 1


@pytest.mark.parametrize("have", [3, 5])
def test_older_or_same_state_is_skipped_with_a_log_line(harness, caplog, have):
    put_ecp_order(harness, erp_change_version=have)
    with caplog.at_level("INFO", logger="order_integration"):
        ecp_integrator(state_message(state(3)))
    assert methods(harness) == ["GET"]
    assert harness.ecp.order("ord-100045")["erpChangeVersion"] == have
    [line] = [r.getMessage() for r in caplog.records if "skipped ERP change 3" in r.getMessage()]
    assert f"already has change {have}" in line and "orderId=ORD-100045" in line


def test_redelivered_update_is_applied_once(harness):
    put_ecp_order(harness, erp_change_version=2)
    message = state(3)
    ecp_integrator(state_message(message, correlation_id="evt-1"))
    ecp_integrator(state_message(message, correlation_id="evt-1", delivery_count=2))
    assert methods(harness) == ["GET", "PATCH", "GET"]


def test_updates_arriving_out_of_order_never_regress(harness):
    put_ecp_order(harness)
    ecp_integrator(state_message(state(4)))
    ecp_integrator(state_message(state(3)))
    assert methods(harness) == ["GET", "PATCH", "GET"]
    assert harness.ecp.order("ord-100045")["erpChangeVersion"] == 4


def test_unknown_ecp_order_is_parked_with_the_original_message(harness):
    ecp_integrator(state_message(state(3), correlation_id="evt-5"))
    [parked] = harness.parked(REJECTED)
    props = parked.message.application_properties
    assert props["reason"] == "OrderNotFound" and "'ORD-100045'" in props["description"]
    assert "ECP_BASE_URL" in props["description"]  # a wrong base URL also answers 404
    assert props["parkedBy"] == "ecp-integrator"
    assert props["originalMessageId"] == "SO-104233-3"
    assert parked.message.correlation_id == "evt-5"
    assert parked.message.body == dump_json(state(3)).encode()


def test_state_breaking_its_schema_is_parked_without_calling_the_ecp(harness):
    broken = state(3)
    broken["changeVersion"] = "three"
    ecp_integrator(state_message(broken, message_id="SO-104233-x"))
    [parked] = harness.parked(REJECTED)
    props = parked.message.application_properties
    assert props["reason"] == "SchemaViolation" and "$.changeVersion" in props["description"]
    assert harness.ecp.requests == []


def test_ecp_validation_error_on_the_update_is_parked_with_the_ecps_message(harness):
    put_ecp_order(harness, erp_change_version=2)
    harness.ecp.fail_next(
        Fault(status=422, body={"error": {"code": "Invalid", "message": "unknown carrier DHLX"}}), method="PATCH"
    )
    ecp_integrator(state_message(state(3)))
    [parked] = harness.parked(REJECTED)
    props = parked.message.application_properties
    assert props["reason"] == "TargetRejected"
    assert "HTTP 422" in props["description"] and "unknown carrier DHLX" in props["description"]


@pytest.mark.parametrize("fault", [Fault(status=503, retry_after="45"), Fault(disconnect=True)])
def test_ecp_outage_schedules_a_retry_in_the_same_session(harness, fault):
    put_ecp_order(harness, erp_change_version=2)
    harness.ecp.fail_next(fault, method="PATCH")
    ecp_integrator(state_message(state(3)))
    [retry] = harness.bus.messages("order-updates")
    assert retry.message.session_id == "ORD-100045"
    assert retry.message.message_id == "SO-104233-3+retry1"
    assert retry.enqueue_at >= T0 + timedelta(seconds=27)
    assert harness.run_due("order-updates", "ecp_integrator", until=T0 + timedelta(hours=1)) == 1
    assert harness.ecp.order("ord-100045")["erpChangeVersion"] == 3


def test_if_the_retry_cannot_be_scheduled_the_function_raises(harness):
    put_ecp_order(harness)
    harness.ecp.fail_next(503)
    harness.bus.failure = "ServiceBusConnectionError"
    with pytest.raises(SendFailed):
        ecp_integrator(state_message(state(3)))


def test_a_parked_update_replayed_after_a_long_outage_is_retried_in_its_session_and_applied(harness):
    """The README's replay: the parked copy keeps its session, and the replay gets the whole retry span."""
    put_ecp_order(harness, erp_change_version=2)
    harness.ecp.fail_while(lambda: True, Fault(status=503))
    ecp_integrator(state_message(state(3), correlation_id="evt-long"))
    harness.run_due("order-updates", "ecp_integrator", until=T0 + timedelta(hours=3))
    [parked] = harness.bus.take_due(REJECTED, harness.clock.now())
    assert parked.message.application_properties["reason"] == "RetriesExhausted"
    assert parked.message.application_properties["sessionId"] == "ORD-100045"

    harness.ecp.clear_faults()
    harness.ecp.fail_next(503)  # the ECP stumbles once more right after the replay
    harness.bus.send("order-updates", replay_message(InboundMessage.from_functions(redelivered(parked))))
    [replayed] = harness.bus.take_due("order-updates", harness.clock.now())
    assert replayed.message.session_id == "ORD-100045"
    ecp_integrator(redelivered(replayed))

    assert harness.parked(REJECTED) == []
    [retry] = harness.bus.messages("order-updates")
    assert retry.message.message_id == "SO-104233-3+replay1+retry1" and retry.message.session_id == "ORD-100045"
    assert harness.run_due("order-updates", "ecp_integrator", until=harness.clock.now() + timedelta(hours=1)) == 1
    assert harness.ecp.order("ord-100045")["erpChangeVersion"] == 3
    assert harness.bus.dropped == []
