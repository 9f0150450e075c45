"""Property tests: the ECP order schema and the mapping agree for every instance the schema allows.

Instances come from hypothesis-jsonschema, go through the same path as a queue message (JSON text ->
`load_json` -> `validate` -> map -> `dump_json` -> `load_json` -> `validate`), and must end either in
a valid ERP sales order or in the typed MappingError — never in a KeyError, a TypeError or an ERP
body the ERP schema rejects.
"""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from order_integration.contracts import dump_json, load_json, read_change_version, validate
from order_integration.errors import MappingError
from order_integration.mapping import ORDER_DATE_FROM, ErpDefaults, to_ecp_order_update, to_erp_sales_order
from order_integration.money import MINOR_UNITS
from tests._properties import examples

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
WEB_CUSTOMER = {"web_customer_number": "WEB", "shipping_charge_item": "SHIPPING"}
# Generating one order costs ~0.2 s (large nested objects): 200 examples for the contract property
# itself and 100 for the derived ones under `make test-deep`; `make test` draws a share (tests/_properties.py).
# hypothesis-jsonschema filters internally (formats, patterns), which now and then trips filter_too_much.
_INDEXES = re.compile(r"\[\d+\]")
PROPERTY_SETTINGS = settings(
    max_examples=examples(200),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
DERIVED_PROPERTY_SETTINGS = settings(PROPERTY_SETTINGS, max_examples=examples(100))


def _schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))


def _as_message(instance: object) -> Any:
    """What a consumer holds after reading the instance from a queue: JSON text parsed with Decimals."""
    return load_json(json.dumps(instance))


def _map_checked(order: Any) -> dict[str, Any]:
    validate("ecp-order", order)  # our compiled validator agrees with the schema hypothesis read
    # The ERP is set up with the order's tax basis; a mismatch is its own example-based test.
    erp = to_erp_sales_order(order, ErpDefaults(**WEB_CUSTOMER, prices_include_tax=order["pricesIncludeTax"]))
    on_the_wire = load_json(dump_json(erp))
    validate("erp-sales-order", on_the_wire)
    return on_the_wire


@PROPERTY_SETTINGS
@given(from_schema(_schema("ecp-order")))
def test_every_valid_ecp_order_maps_to_a_valid_erp_order_or_raises_mapping_error(
    order: dict[str, Any],
) -> None:
    message = _as_message(order)
    try:
        erp = _map_checked(message)
    except MappingError as exc:
        assert exc.field.startswith("$."), f"MappingError must name a JSON path, got {exc.field!r}"
        event("MappingError on " + _INDEXES.sub("[]", exc.field))
        return
    event("mapped")
    assert erp["externalDocumentNumber"] == message["id"]


def _money(value: Decimal, decimals: int) -> str:
    return format(value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP), "f")


def _reconciled(order: dict[str, Any], currency: str) -> dict[str, Any]:
    """Make a schema-generated order internally consistent, as a real ECP would send it."""
    decimals = MINOR_UNITS[currency]
    order["currency"] = currency
    if order["createdAt"] < ORDER_DATE_FROM.isoformat():  # a real ECP's orders are recent; 2000 is a leap year too
        order["createdAt"] = ORDER_DATE_FROM.isoformat()[:4] + order["createdAt"][4:]
    for address in (order["billingAddress"], order.get("shippingAddress")):
        if address and len(address.get("firstName", "")) + len(address["lastName"]) >= 100:
            address["firstName"] = address["firstName"][:40]
    subtotal = tax = Decimal(0)
    for line in order["lines"]:
        price = min(Decimal(line["unitPrice"]), Decimal(10_000))
        if line.get("gift"):
            price = Decimal(0)
        line["unitPrice"] = _money(price, min(decimals + 2, 5))
        gross = (line["quantity"] * Decimal(line["unitPrice"])).quantize(
            Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP
        )
        discount = min(Decimal(line.get("discountAmount", "0")).quantize(Decimal(1).scaleb(-decimals)), gross)
        line["discountAmount"] = _money(discount, decimals)
        line["taxAmount"] = _money(Decimal(line.get("taxAmount", "0")) % 1000, decimals)
        line["lineTotal"] = _money(gross - discount, decimals)
        subtotal += gross - discount
        tax += Decimal(line["taxAmount"])
    shipping_total = Decimal(0)
    if "shipping" in order:
        shipping = order["shipping"]
        price = Decimal(shipping["price"]) % 1000
        shipping["price"] = _money(price, decimals)
        shipping["discountAmount"] = _money(
            min(Decimal(shipping.get("discountAmount", "0")), price), decimals
        )
        shipping["taxAmount"] = _money(Decimal(shipping.get("taxAmount", "0")) % 100, decimals)
        shipping_total = Decimal(shipping["price"]) - Decimal(shipping["discountAmount"])
        tax += Decimal(shipping["taxAmount"])
    budget = subtotal + shipping_total
    for discount in order.get("discounts", []):
        value = min(Decimal(discount["amount"]).quantize(Decimal(1).scaleb(-decimals)), budget)
        discount["amount"] = _money(value, decimals)
        budget -= value
    for payment in order.get("payments", []):
        payment["amount"] = _money(Decimal(payment["amount"]), decimals)
    discount_total = subtotal + shipping_total - budget
    grand = budget + (0 if order["pricesIncludeTax"] else tax)
    order["totals"] = {
        "subtotal": _money(subtotal, decimals),
        "shippingTotal": _money(shipping_total, decimals),
        "discountTotal": _money(discount_total, decimals),
        "taxTotal": _money(tax, decimals),
        "grandTotal": _money(grand, decimals),
    }
    return order


@DERIVED_PROPERTY_SETTINGS
@given(from_schema(_schema("ecp-order")), st.sampled_from(sorted(MINOR_UNITS)))
def test_every_reconciled_ecp_order_maps_and_keeps_its_amounts(order: dict[str, Any], currency: str) -> None:
    message = _as_message(_reconciled(order, currency))
    erp = _map_checked(message)  # no MappingError allowed: the order is consistent

    items = [line for line in erp["salesOrderLines"] if line["lineType"] == "Item"]
    assert len(items) == len(message["lines"]) + (1 if "shipping" in message else 0)
    decimals = MINOR_UNITS[currency]
    net = sum(
        (line["quantity"] * Decimal(line["unitPrice"])).quantize(
            Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP
        )
        - line["discountAmount"]
        for line in items
    )
    totals = message["totals"]
    assert net == Decimal(totals["subtotal"]) + Decimal(totals["shippingTotal"])
    assert erp["discountAmount"] == Decimal(totals["discountTotal"])
    assert [line["description"] for line in items[: len(message["lines"])]] == [
        line["name"] for line in message["lines"]
    ]
    sequences = [line["sequence"] for line in erp["salesOrderLines"]]
    assert sequences == sorted(set(sequences))


@DERIVED_PROPERTY_SETTINGS
@given(from_schema(_schema("erp-sales-order-state")))
def test_every_valid_erp_state_maps_to_a_valid_ecp_update_or_raises_mapping_error(
    state: dict[str, Any],
) -> None:
    message = _as_message(state)
    validate("erp-sales-order-state", message)
    try:
        update = to_ecp_order_update(message)
    except MappingError as exc:
        assert exc.field.startswith("$.")
        event("MappingError on " + _INDEXES.sub("[]", exc.field))
        return
    event("mapped")
    validate("ecp-order-update", load_json(dump_json(update)))
    assert update["erpChangeVersion"] == read_change_version(message["changeVersion"])
