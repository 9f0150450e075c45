"""The ERP -> ECP seam run on both sides: erp-events-processor in the engine queues the ERP state, and
`ecp_integrator`, as the host calls it, applies what was queued to the fake ECP (issue 10, items 1, 8,
12 and 13). Both sides must read a change version and an ECP order id by the same rule.
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from order_integration.contracts import CHANGE_VERSION_MAX, dump_json, load_json
from orderbridge.wdl import HttpRequest, HttpResponse, VirtualClock
from tests.integrator._runtime_support import STATE_PROPERTIES, example, host_message, user_function
from tests.workflows._harness import ERP_EVENTS, JSON_CONTENT, FakeServiceBus, QueuedMessage, deliver_scripted

ecp_integrator = user_function(ERP_EVENTS.pipeline.function_name)
ECP_ORDER_ID = "ord-100045"


def put_ecp_order(harness, erp_change_version: int = 1) -> None:
    order = {**json.loads(dump_json(example("ecp-order"))), "id": ECP_ORDER_ID, "erpChangeVersion": erp_change_version}
    harness.ecp.put_order(order)


def erp_state_text(ecp_order_id: str, version: Any, status: str = "Shipped") -> str:
    """The ERP's state of sales order SO-104233 as its API writes it, `changeVersion` exactly as given."""
    state = {**example("erp-sales-order-state"), "externalDocumentNumber": ecp_order_id, "status": status}
    return dump_json(state).replace('"changeVersion":3', f'"changeVersion":{version}')


def erp_state(ecp_order_id: str, version: Any, status: str = "Shipped") -> dict[str, Any]:
    """The same state as the engine's HTTP transport parses a JSON answer."""
    return json.loads(erp_state_text(ecp_order_id, version, status))


def event(n: int, ecp_order_id: str, version: int) -> dict[str, Any]:
    return ERP_EVENTS.event(n, data={"salesOrderId": "SO-104233", "ecpOrderId": ecp_order_id,
                                      "changeVersion": version, "changeType": "Changed"})


def run_workflow(events: list[dict[str, Any]], states: list[dict[str, Any]]) -> FakeServiceBus:
    """One Event Grid delivery of `events`; the ERP answers the n-th fetch with the n-th state."""
    service_bus = FakeServiceBus(VirtualClock())
    answers = iter(states)

    def erp(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, dict(JSON_CONTENT), next(answers))

    result, _ = deliver_scripted(ERP_EVENTS, service_bus, events, erp)
    assert result.response is not None and result.response.status_code == 200, result.error_message
    return service_bus


def as_delivered(queued: QueuedMessage) -> Any:
    """The queued message as the Functions host hands it to ecp_integrator (the body as JSON text)."""
    broker = queued.broker_properties
    return host_message(json.dumps(queued.body).encode(), message_id=broker["MessageId"],
                        session_id=broker["SessionId"], correlation_id=broker["CorrelationId"],
                        properties={**STATE_PROPERTIES, **queued.properties})


def test_an_erp_state_naming_the_ecp_order_in_upper_case_updates_it_end_to_end(harness):
    """Business Central reports the ECP order `ord-100045` as `ORD-100045` (Code[35] is upper-cased)."""
    put_ecp_order(harness)
    service_bus = run_workflow([event(1, "ORD-100045", 3)], [erp_state("ORD-100045", 3)])

    [queued] = service_bus.messages(ERP_EVENTS.queue)
    ecp_integrator(as_delivered(queued))

    stored = harness.ecp.order(ECP_ORDER_ID)
    assert (stored["id"], stored["erpChangeVersion"], stored["status"]) == (ECP_ORDER_ID, 3, "shipped")
    assert harness.parked(ERP_EVENTS.parking_queue) == []


def test_updates_of_one_ecp_order_in_either_case_share_its_session_and_the_older_one_loses(harness):
    """Change 5 names the order in lower case, change 4 (delivered late) in upper case: one session,
    so the ECP keeps change 5 whichever order the two messages come in."""
    put_ecp_order(harness)
    newer, older = event(1, "ord-100045", 5), event(2, "ORD-100045", 4)
    service_bus = run_workflow([newer, older], [erp_state("ord-100045", 5, "Invoiced"), erp_state("ORD-100045", 4)])

    queued = service_bus.messages(ERP_EVENTS.queue)
    assert {m.broker_properties["SessionId"] for m in queued} == {"ORD-100045"} and len(queued) == 2
    for message in queued:
        ecp_integrator(as_delivered(message))

    stored = harness.ecp.order(ECP_ORDER_ID)
    assert (stored["erpChangeVersion"], stored["status"]) == (5, "completed")
    assert harness.parked(ERP_EVENTS.parking_queue) == []


# How the ERP might write a change version in its state; the workflow and the integrator must agree
# on each: queued and applied as the integer, or parked (never applied) on both sides.
VERSION_FORMS = ["7", "7.0", "7e0", '"7"', str(CHANGE_VERSION_MAX), f'"{CHANGE_VERSION_MAX}"',
                 str(CHANGE_VERSION_MAX + 1), f'"{CHANGE_VERSION_MAX + 1}"', "1e400", "1" + "0" * 3999,
                 "7.5", "0", "-7", '"07"', '"7.0"', '" 7"', '"+7"', '"\u0667"', "true", "null", "[7]", '{"v":7}']


@pytest.mark.parametrize("version_text", VERSION_FORMS)
def test_the_workflow_and_the_integrator_accept_exactly_the_same_change_versions(harness, version_text):
    put_ecp_order(harness)
    state_text = erp_state_text(ECP_ORDER_ID, version_text)
    service_bus = run_workflow([event(1, ECP_ORDER_ID, 1)], [json.loads(state_text)])

    queued = service_bus.messages(ERP_EVENTS.queue)
    if queued:
        ecp_integrator(as_delivered(queued[0]))
    else:  # parked by the workflow; a hand-made or replayed message with this body must park too
        [parked_event] = service_bus.messages(ERP_EVENTS.parking_queue)
        assert parked_event.properties["reason"] == "InvalidChangeVersion"
        ecp_integrator(host_message(state_text.encode(), message_id="SO-104233-x", session_id="ORD-100045",
                                    properties=STATE_PROPERTIES))

    stored = harness.ecp.order(ECP_ORDER_ID)["erpChangeVersion"]
    parked = harness.parked(ERP_EVENTS.parking_queue)
    if queued:
        expected = int(load_json(version_text))
        assert (stored, type(stored), parked) == (expected, int, []), "queued, so applied as the integer"
        assert queued[0].broker_properties["MessageId"] == f"SO-104233-{expected}"
    else:
        assert stored == 1 and [p.message.application_properties["reason"] for p in parked] == ["SchemaViolation"]
