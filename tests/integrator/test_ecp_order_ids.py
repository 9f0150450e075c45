"""Issue 10, items 8 and 12: one canonical ECP order id for the session, the GET and the PATCH.

Business Central upper-cases Code fields, so the ERP names the ECP order `ord-100045` as `ORD-100045`;
the ECP resolves ids ignoring case (a contract requirement, integrator_func/README.md). Each test
delivers through `ecp_integrator` as the host calls it, against the fake ECP.
"""
from __future__ import annotations

import json

import pytest

from order_integration.contracts import dump_json
from orderbridge.fake_apis import Fault
from tests.integrator._runtime_support import example, state_message, user_function
from topology import ERP_TO_ECP

ecp_integrator = user_function(ERP_TO_ECP.function_name)
REJECTED = ERP_TO_ECP.parking_queue_name


def put_ecp_order(harness, order_id: str = "ord-100045", erp_change_version: int = 2) -> dict:
    order = {**json.loads(dump_json(example("ecp-order"))), "id": order_id, "erpChangeVersion": erp_change_version}
    harness.ecp.put_order(order)
    return order


def state(external_document_number: str = "ORD-100045", change_version: int = 3) -> dict:
    return {**example("erp-sales-order-state"), "externalDocumentNumber": external_document_number,
            "changeVersion": change_version}


@pytest.mark.parametrize("session_id", ["ORD-100045", "ord-100045", "Ord-100045"])
def test_an_erp_state_in_upper_case_updates_the_ecp_order_in_lower_case(harness, session_id):
    put_ecp_order(harness)

    ecp_integrator(state_message(state("ORD-100045"), session_id=session_id))

    stored = harness.ecp.order("ord-100045")
    assert stored["id"] == "ord-100045" and stored["erpChangeVersion"] == 3
    assert [(r.method, r.path) for r in harness.ecp.requests] == [("GET", "/orders/ORD-100045"),
                                                                   ("PATCH", "/orders/ORD-100045")]
    assert harness.parked(REJECTED) == []


@pytest.mark.parametrize("session_id", ["ORD-999999", "ORD-1000450", "", None])
def test_a_session_that_is_not_the_body_s_ecp_order_is_parked_without_calling_the_ecp(harness, session_id):
    """Updates are serialised per session; one in another order's session could overtake a newer one."""
    put_ecp_order(harness)

    ecp_integrator(state_message(state("ord-100045"), session_id=session_id))

    assert harness.ecp.requests == []
    assert harness.ecp.order("ord-100045")["erpChangeVersion"] == 2
    [parked] = harness.parked(REJECTED)
    props = parked.message.application_properties
    assert props["reason"] == "SessionMismatch" and "SessionId 'ORD-100045'" in props["description"]


def test_an_ecp_answering_with_another_order_is_parked_and_nothing_is_patched(harness):
    put_ecp_order(harness)
    other = {**harness.ecp.order("ord-100045"), "id": "ord-100046", "erpChangeVersion": 1}
    harness.ecp.fail_next(Fault(status=200, body=other), method="GET")

    ecp_integrator(state_message(state("ord-100045"), session_id="ORD-100045"))

    assert [r.method for r in harness.ecp.requests] == ["GET"]
    [parked] = harness.parked(REJECTED)
    assert parked.message.application_properties["reason"] == "OrderIdMismatch"
    assert harness.ecp.order("ord-100045")["erpChangeVersion"] == 2
