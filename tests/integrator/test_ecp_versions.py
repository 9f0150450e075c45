"""Issue 10, items 1 and 13: an ECP order never goes backwards, whatever JSON form a change version takes.

Each test delivers through `ecp_integrator` as the host calls it, against the fake ECP, and asserts
what the ECP holds afterwards.
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from order_integration.contracts import CHANGE_VERSION_MAX, dump_json
from tests.integrator._runtime_support import STATE_PROPERTIES, example, host_message, state_message, user_function
from topology import ERP_TO_ECP

ecp_integrator = user_function(ERP_TO_ECP.function_name)
REJECTED = ERP_TO_ECP.parking_queue_name
ORDER_ID = "ord-100045"
VERSION_MARK = "__CHANGE_VERSION__"


def put_ecp_order(harness, **fields: Any) -> None:
    """The example ECP order, with `fields` as the ECP stores them (written as JSON text)."""
    order = json.loads(dump_json(example("ecp-order")))
    harness.ecp.put_order({**order, **fields})


def invoiced(version: Any) -> dict[str, Any]:
    """An ERP state of the example order: invoiced and paid, so the ECP order is `completed`."""
    state = example("erp-sales-order-state")
    return {**state, "changeVersion": version, "status": "Invoiced"}


def open_again(version: Any) -> dict[str, Any]:
    """An earlier ERP state of the same order: still open, no shipments, no invoices."""
    state = example("erp-sales-order-state")
    return {**state, "changeVersion": version, "status": "Open", "shipments": [], "invoices": []}


def with_version_text(state: dict[str, Any], version_text: str) -> bytes:
    """The state's JSON with `changeVersion` written exactly as `version_text` (e.g. `1e400`)."""
    body = dump_json({**state, "changeVersion": VERSION_MARK})
    return body.replace(json.dumps(VERSION_MARK), version_text).encode()


def raw_state_message(body: bytes, message_id: str = "SO-104233-x") -> Any:
    return host_message(body, message_id=message_id, session_id=ORDER_ID.upper(), properties=STATE_PROPERTIES)


def patches(harness) -> list[Any]:
    return [r for r in harness.ecp.requests if r.method == "PATCH"]


def test_a_version_sent_as_5_0_is_patched_as_the_integer_5_and_change_3_cannot_undo_it(harness):
    put_ecp_order(harness, erpChangeVersion=2)

    ecp_integrator(state_message(invoiced(Decimal("5.0"))))
    ecp_integrator(state_message(open_again(3)))

    [patch] = patches(harness)
    assert b'"erpChangeVersion":5,' in patch.raw_body, "always a JSON integer on the wire"
    stored = harness.ecp.order(ORDER_ID)
    assert type(stored["erpChangeVersion"]) is int and stored["erpChangeVersion"] == 5
    assert stored["status"] == "completed" and stored["invoices"], "the older change 3 must not be applied"
    assert harness.parked(REJECTED) == []


@pytest.mark.parametrize("stored", ["7", 7.0], ids=["text", "7.0"])
def test_a_version_the_ecp_stores_in_another_json_form_is_compared_as_an_integer(harness, stored):
    put_ecp_order(harness, erpChangeVersion=stored, status="completed")

    ecp_integrator(state_message(open_again(3)))
    assert patches(harness) == [] and harness.ecp.order(ORDER_ID)["status"] == "completed"

    ecp_integrator(state_message(invoiced(8)))
    assert harness.ecp.order(ORDER_ID)["erpChangeVersion"] == 8
    assert harness.parked(REJECTED) == []


@pytest.mark.parametrize("stored", [
    "seven", "07", " 7", "7.0", "-7", "", 7.5, -1, True, False, {"version": 7}, [7], CHANGE_VERSION_MAX + 1, 1e300,
])
def test_an_unreadable_ecp_version_is_parked_with_a_reason_and_never_overwritten(harness, stored):
    put_ecp_order(harness, erpChangeVersion=stored, status="completed")

    ecp_integrator(state_message(open_again(3)))

    assert patches(harness) == []
    assert harness.ecp.order(ORDER_ID)["erpChangeVersion"] == stored
    [parked] = harness.parked(REJECTED)
    props = parked.message.application_properties
    assert props["reason"] == "UnreadableEcpChangeVersion"
    assert "'ORD-100045'" in props["description"] and "ERP change 3" in props["description"]


def test_an_ecp_order_without_a_version_yet_takes_the_first_change(harness):
    put_ecp_order(harness, erpChangeVersion=None)
    ecp_integrator(state_message(invoiced(1)))
    assert harness.ecp.order(ORDER_ID)["erpChangeVersion"] == 1


@pytest.mark.parametrize("version_text", ['"5"', "5e0", "5.000", str(CHANGE_VERSION_MAX), f'"{CHANGE_VERSION_MAX}"'])
def test_every_form_the_contract_allows_is_applied_as_a_json_integer(harness, version_text):
    put_ecp_order(harness, erpChangeVersion=1)

    ecp_integrator(raw_state_message(with_version_text(invoiced(0), version_text)))

    expected = int(json.loads(version_text)) if version_text.startswith('"') else int(Decimal(version_text))
    [patch] = patches(harness)
    assert f'"erpChangeVersion":{expected},'.encode() in patch.raw_body
    assert harness.ecp.order(ORDER_ID)["erpChangeVersion"] == expected
    assert harness.parked(REJECTED) == []


@pytest.mark.parametrize("version_text", [
    "1e400", "1" + "0" * 3999, str(CHANGE_VERSION_MAX + 1), f'"{CHANGE_VERSION_MAX + 1}"',
    f"{CHANGE_VERSION_MAX + 1}.0",
    "5.5", "1e-400", "0", "-3", '"05"', '"5.0"', '" 5"', '"5\\n"', '"+5"', '"\u0665"', "true", "null", "[5]",
])
def test_a_version_out_of_range_or_not_a_whole_number_is_parked_and_blocks_nothing(harness, version_text):
    """1e400 or a 4,000-digit version, once stored, would make every later change look stale."""
    put_ecp_order(harness, erpChangeVersion=2)

    ecp_integrator(raw_state_message(with_version_text(invoiced(0), version_text)))
    [parked] = harness.parked(REJECTED)
    assert parked.message.application_properties["reason"] == "SchemaViolation"
    assert "$.changeVersion" in parked.message.application_properties["description"]
    assert harness.ecp.requests == []

    ecp_integrator(state_message(invoiced(4)))
    assert harness.ecp.order(ORDER_ID)["erpChangeVersion"] == 4
