"""Mapping: golden orders both ways, and every rule that makes a valid message unmappable."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from order_integration.contracts import dump_json, load_json, validate
from order_integration.errors import MappingError
from order_integration.mapping import ErpDefaults, to_ecp_order_update, to_erp_sales_order
from order_integration.money import MINOR_UNITS, Currency

GOLDEN = Path(__file__).resolve().parent / "golden"


def defaults_for(order: dict[str, Any]) -> ErpDefaults:
    """The ERP set up for the order: a web customer whose tax basis is the order's."""
    return ErpDefaults(
        web_customer_number="WEB", shipping_charge_item="SHIPPING", prices_include_tax=order["pricesIncludeTax"]
    )


ORDER_CASES = sorted(
    p.name.removesuffix(".ecp-order.json") for p in (GOLDEN / "ecp-to-erp").glob("*.ecp-order.json")
)
STATE_CASES = sorted(
    p.name.removesuffix(".erp-sales-order-state.json")
    for p in (GOLDEN / "erp-to-ecp").glob("*.erp-sales-order-state.json")
)


def _read(path: Path) -> Any:
    return load_json(path.read_bytes())


def _order(case: str) -> dict[str, Any]:
    return _read(GOLDEN / "ecp-to-erp" / f"{case}.ecp-order.json")


def _state(case: str) -> dict[str, Any]:
    return _read(GOLDEN / "erp-to-ecp" / f"{case}.erp-sales-order-state.json")


def test_golden_cases_cover_the_required_situations() -> None:
    assert {
        "de-multiline-discounts",
        "jp-yen-zero-decimals",
        "us-gift-line-tax-on-top",
        "kw-three-decimals-digital",
    } <= set(ORDER_CASES)
    assert len(STATE_CASES) >= 3


@pytest.mark.parametrize("case", ORDER_CASES)
def test_ecp_order_maps_to_the_golden_erp_sales_order(case: str) -> None:
    order = _order(case)
    validate("ecp-order", order)

    erp = to_erp_sales_order(order, defaults_for(order))

    validate("erp-sales-order", erp)
    expected = _read(GOLDEN / "ecp-to-erp" / f"{case}.erp-sales-order.json")
    # Compared as serialized text: 12.90 and 12.9 are different bodies for the ERP.
    assert dump_json(erp) == dump_json(expected)


@pytest.mark.parametrize("case", STATE_CASES)
def test_erp_state_maps_to_the_golden_ecp_update(case: str) -> None:
    state = _state(case)
    validate("erp-sales-order-state", state)

    update = to_ecp_order_update(state)

    validate("ecp-order-update", update)
    assert dump_json(update) == dump_json(_read(GOLDEN / "erp-to-ecp" / f"{case}.ecp-order-update.json"))


@pytest.mark.parametrize("case", ORDER_CASES)
def test_order_on_another_tax_basis_than_the_web_customer_is_a_mapping_error(case: str) -> None:
    order = _order(case)
    other_basis = dataclasses.replace(defaults_for(order), prices_include_tax=not order["pricesIncludeTax"])

    with pytest.raises(MappingError) as caught:
        to_erp_sales_order(order, other_basis)
    assert caught.value.field == "$.pricesIncludeTax"
    assert "ERP_PRICES_INCLUDE_TAX" in str(caught.value)


def test_no_property_the_erp_api_does_not_let_a_client_write_is_sent() -> None:
    for case in ORDER_CASES:
        erp = to_erp_sales_order(_order(case), defaults_for(_order(case)))
        assert not {"customerName", "pricesIncludeTax"} & erp.keys(), case
        assert all("description2" not in line for line in erp["salesOrderLines"]), case


def test_mapping_does_not_change_its_input() -> None:
    order = _order("us-gift-line-tax-on-top")
    before = copy.deepcopy(order)
    to_erp_sales_order(order, defaults_for(order))
    assert order == before


def test_money_on_the_wire_has_the_currency_decimals() -> None:
    bodies = {case: dump_json(to_erp_sales_order(_order(case), defaults_for(_order(case)))) for case in ORDER_CASES}

    assert '"unitPrice":1620,' in bodies["jp-yen-zero-decimals"]  # "2480.00" in JPY becomes 2480
    assert '"unitPrice":2480,' in bodies["jp-yen-zero-decimals"]
    assert '"discountAmount":0.000,' in bodies["kw-three-decimals-digital"]
    assert '"unitPrice":1.33333,' in bodies["kw-three-decimals-digital"]  # unit prices keep up to 5 decimals
    assert '"discountAmount":20.25,' in bodies["us-gift-line-tax-on-top"]


def test_order_date_is_the_shops_local_date_not_utc() -> None:
    order = _order("de-multiline-discounts")  # 2026-11-27T00:15:00+01:00 is still the 26th in UTC
    assert to_erp_sales_order(order, defaults_for(order))["orderDate"] == "2026-11-27"


def test_trailing_zeros_beyond_the_currency_decimals_are_exact_and_accepted() -> None:
    order = _order("de-multiline-discounts")
    order["totals"]["taxTotal"] = "16.940"
    order["lines"][0]["unitPrice"] = "12.90000"
    erp = to_erp_sales_order(order, defaults_for(order))
    assert '"unitPrice":12.90,' in dump_json(erp)


def test_line_amounts_round_half_up_like_the_erp() -> None:
    order = _order("us-gift-line-tax-on-top")
    order["lines"] = [dict(order["lines"][0], unitPrice="0.125", lineTotal="0.13", taxAmount="0.00")]
    order["totals"].update(subtotal="0.13", discountTotal="0.00", taxTotal="0.00", grandTotal="10.13")
    order["discounts"] = []
    validate("ecp-order", order)

    erp = to_erp_sales_order(order, defaults_for(order))
    assert erp["salesOrderLines"][2]["unitPrice"] == Decimal("0.125")

    order["lines"][0]["lineTotal"] = "0.12"  # banker's rounding would give this; the ERP will not
    with pytest.raises(MappingError) as caught:
        to_erp_sales_order(order, defaults_for(order))
    assert caught.value.field == "$.lines[0].lineTotal"


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    """A change at a dotted path (`lines.2.unitPrice`)."""
    *parents, last = path.split(".")

    def change(document: dict[str, Any]) -> None:
        node: Any = document
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return change


def _all(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        for one in changes:
            one(document)

    return change


ORDER_FAILURES = [
    (
        "yen with decimals",
        "jp-yen-zero-decimals",
        _set("lines.1.discountAmount", "248.5"),
        "$.lines[1].discountAmount",
        "JPY allows (0)",
    ),
    (
        "euro with 3 significant decimals",
        "de-multiline-discounts",
        _set("totals.taxTotal", "16.945"),
        "$.totals.taxTotal",
        "EUR allows (2)",
    ),
    (
        "line total off by a cent",
        "de-multiline-discounts",
        _set("lines.1.lineTotal", "48.99"),
        "$.lines[1].lineTotal",
        "is 48.99 but",
    ),
    (
        "priced gift",
        "us-gift-line-tax-on-top",
        _set("lines.2.unitPrice", "1.00"),
        "$.lines[2].unitPrice",
        "gift line must be free",
    ),
    (
        "line discount above line amount",
        "de-multiline-discounts",
        _set("lines.1.discountAmount", "49.01"),
        "$.lines[1].discountAmount",
        "exceeds the line amount 49.00",
    ),
    (
        "shipping discount above price",
        "us-gift-line-tax-on-top",
        _set("shipping.discountAmount", "13.00"),
        "$.shipping.discountAmount",
        "exceeds the shipping price 12.95",
    ),
    (
        "subtotal",
        "de-multiline-discounts",
        _set("totals.subtotal", "126.70"),
        "$.totals.subtotal",
        "sum of lines[].lineTotal is 126.69",
    ),
    (
        "shipping total",
        "us-gift-line-tax-on-top",
        _set("totals.shippingTotal", "12.95"),
        "$.totals.shippingTotal",
        "is 10.00",
    ),
    (
        "discount total",
        "us-gift-line-tax-on-top",
        _set("totals.discountTotal", "15.00"),
        "$.totals.discountTotal",
        "is 20.25",
    ),
    ("tax total", "jp-yen-zero-decimals", _set("totals.taxTotal", "706"), "$.totals.taxTotal", "is 705"),
    (
        "grand total with tax on top",
        "us-gift-line-tax-on-top",
        _set("totals.grandTotal", "181.85"),
        "$.totals.grandTotal",
        "is 198.90",
    ),
    (
        "discounts above goods and shipping",
        "us-gift-line-tax-on-top",
        _all(
            _set("discounts", [{"code": "STAFF", "amount": "210.00"}]),
            _set("totals.discountTotal", "210.00"),
            _set("totals.grandTotal", "9.15"),
        ),
        "$.totals.discountTotal",
        "exceeds goods and shipping (202.10)",
    ),
    (
        "name too long for the ERP",
        "us-gift-line-tax-on-top",
        _all(
            _set("shippingAddress.firstName", "María José Guadalupe Inmaculada de los Ángeles Ruiz"[:50]),
            _set("shippingAddress.lastName", "García Núñez de Arce y Fernández de Córdoba Montes"[:50]),
        ),
        "$.shippingAddress.firstName",
        "100 characters",
    ),
]


@pytest.mark.parametrize(
    ("case", "change", "field", "text"), [pytest.param(*f[1:], id=f[0]) for f in ORDER_FAILURES]
)
def test_unmappable_order_raises_mapping_error_naming_the_field(
    case: str, change: Callable[[dict[str, Any]], None], field: str, text: str
) -> None:
    order = _order(case)
    change(order)
    validate("ecp-order", order)  # each case is schema-valid: only the mapping can catch it

    with pytest.raises(MappingError) as caught:
        to_erp_sales_order(order, defaults_for(order))
    assert caught.value.field == field
    assert caught.value.reason == "MappingFailed"
    assert text in str(caught.value)


STATE_FAILURES = [
    (
        "fractional shipped quantity",
        "partially-shipped-partly-paid",
        _set("shipments.0.lines.0.quantity", Decimal("1.5")),
        "$.shipments[0].lines[0].quantity",
    ),
    (
        "paid more than invoiced",
        "invoiced-unpaid-yen",
        _set("invoices.0.remainingAmount", 8773),
        "$.invoices[0].remainingAmount",
    ),
    (
        "yen with decimals",
        "invoiced-unpaid-yen",
        _set("invoices.0.totalAmountIncludingTax", Decimal("8772.5")),
        "$.invoices[0].totalAmountIncludingTax",
    ),
    (
        "float instead of Decimal",
        "partially-shipped-partly-paid",
        _set("invoices.1.remainingAmount", 3.95),
        "$.invoices[1].remainingAmount",
    ),
]


@pytest.mark.parametrize(("case", "change", "field"), [pytest.param(*f[1:], id=f[0]) for f in STATE_FAILURES])
def test_unmappable_state_raises_mapping_error_naming_the_field(
    case: str, change: Callable[[dict[str, Any]], None], field: str
) -> None:
    state = _state(case)
    change(state)
    validate("erp-sales-order-state", state)

    with pytest.raises(MappingError) as caught:
        to_ecp_order_update(state)
    assert caught.value.field == field


@pytest.mark.parametrize("contract", ["ecp-order", "erp-sales-order-state"])
def test_schemas_accept_exactly_the_currencies_the_mapping_can_round(contract: str) -> None:
    """The schemas' currency enum and the minor-units table are one list: a currency the schema
    admits can always be mapped, and an unknown one is parked as a schema violation."""
    schema = json.loads(
        (GOLDEN.parents[2] / "schemas" / f"{contract}.schema.json").read_text(encoding="utf-8")
    )
    field = "currency" if contract == "ecp-order" else "currencyCode"
    assert schema["properties"][field]["enum"] == sorted(MINOR_UNITS)
    assert {MINOR_UNITS[code] for code in ("JPY", "KRW", "EUR", "USD", "KWD", "BHD", "CLF")} == {0, 2, 3, 4}


def test_unknown_currency_is_a_mapping_error_for_unvalidated_callers() -> None:
    with pytest.raises(MappingError) as caught:
        Currency.of("ZZZ", field="$.currencyCode")
    assert caught.value.field == "$.currencyCode" and "ISO 4217" in str(caught.value)


def test_float_money_is_refused_with_the_fix_named() -> None:
    state = _state("partially-shipped-partly-paid")
    state["invoices"][0]["totalAmountIncludingTax"] = 104.79
    with pytest.raises(MappingError, match="load_json"):
        to_ecp_order_update(state)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Open", "processing"),
        ("Released", "processing"),
        ("PartiallyShipped", "partiallyShipped"),
        ("Shipped", "shipped"),
        ("Invoiced", "completed"),
        ("Cancelled", "cancelled"),
    ],
)
def test_every_erp_status_has_an_ecp_status(status: str, expected: str) -> None:
    state = _state("cancelled-before-invoicing")
    state["status"] = status
    assert to_ecp_order_update(state)["status"] == expected


def test_payment_status_follows_the_outstanding_amounts() -> None:
    state = _state("partially-shipped-partly-paid")
    assert to_ecp_order_update(state)["paymentStatus"] == "partiallyPaid"
    state["invoices"][1]["remainingAmount"] = 0
    assert to_ecp_order_update(state)["paymentStatus"] == "paid"
    for invoice in state["invoices"]:
        invoice["remainingAmount"] = invoice["totalAmountIncludingTax"]
    assert to_ecp_order_update(state)["paymentStatus"] == "unpaid"


@pytest.mark.parametrize(
    ("customer", "item", "named"),
    [
        ("", "SHIPPING", "ERP_WEB_CUSTOMER_NUMBER"),
        ("WEB", "shipping", "ERP_SHIPPING_CHARGE_ITEM"),
        ("W" * 21, "SHIP", "ERP_WEB_CUSTOMER_NUMBER"),
    ],
)
def test_invalid_erp_defaults_fail_at_start_up_naming_the_setting(
    customer: str, item: str, named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        ErpDefaults(web_customer_number=customer, shipping_charge_item=item, prices_include_tax=True)
