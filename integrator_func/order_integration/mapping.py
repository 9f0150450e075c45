"""Pure mappings between the ECP's and the ERP's order documents.

ECP order -> ERP sales order (Business Central API v2.0 `salesOrder` + `salesOrderLines`,
https://learn.microsoft.com/dynamics365/business-central/dev-itpro/api-reference/v2.0/resources/dynamics_salesorder
and .../resources/dynamics_salesorderline; text lengths are BC's field lengths):
- Header: `externalDocumentNumber` = ECP order id (the idempotency key; BC stores this Code[35]
  field upper-cased, see `to_code`), `customerNumber` = the configured web customer, sell-to =
  billing address, ship-to = shipping address (billing when absent), `orderDate` = the date part of
  `createdAt` (the shop's local date; never before ORDER_DATE_FROM, so never BC's blank date
  0001-01-01, and `createdAt` never more than MAX_CREATED_AHEAD after the message is handled),
  `currencyCode` copied.
- Only fields the v2.0 API lets a client write are sent. `customerName` is `Editable = false` in the
  APIV2 Sales Orders page (https://github.com/microsoft/BCApps/blob/main/Apps/W1/APIV2/app/src/pages/APIV2SalesOrders.Page.al),
  so the buyer's name travels on a Comment line. `pricesIncludeTax` is documented "Read-Only"
  (resources/dynamics_salesorder) while that page source lets it be validated; either way the ERP
  copies it from the customer card when the customer is set, so it is not sent: an ECP order whose
  tax basis differs from the web customer's (`ERP_PRICES_INCLUDE_TAX`) is a MappingError on
  `$.pricesIncludeTax`, never an order silently booked gross as net. Lines carry no
  `description2`: BC accepts one, but resources/dynamics_salesorderline does not list it.
- Lines, numbered 10000, 20000, ... in this order: a Comment with the ECP order number and one with
  the buyer; one Item line per ECP line (`lineObjectNumber` = SKU upper-cased, BC Code fields are
  upper case); a free gift is an Item line at unit price 0 followed by a `Free gift` Comment (a gift
  with a price is an error, not a silent discount); shipping as an Item line with the configured
  shipping charge item, its discount as the line's `discountAmount` (present even when free, so the
  warehouse sees the method); a Comment per order discount and per payment; the customer note as
  Comment lines of <= 100 chars.
- Order-level discounts: their sum is the header `discountAmount` (BC's invoice discount, which the
  ERP allocates over the lines), in the same tax basis as the prices.
- Tax is not sent: the ERP computes it from its posting setup. The ECP's tax amounts only reconcile.
- Money stays Decimal. Amounts must be exact in the currency's minor units; line amounts are
  round_half_up(quantity x unitPrice) - discountAmount, as BC computes them. The ECP's totals must
  reconcile (see the `ecp-order` schema's `totals`) or the order is rejected naming the total: an ERP
  order that silently differs from what the customer paid is worse than a parked message.

ERP sales order state -> ECP order update: status translated, shipments (carrier, tracking numbers,
lines by SKU in whole units), invoices with outstanding amounts and the resulting payment status.

Both functions expect an instance already valid under its contract (`contracts.validate`) and raise
MappingError naming the JSON path of the field at fault for what a schema cannot express.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from .contracts import read_change_version
from .errors import MappingError
from .money import Currency, as_text, decimal_value

SEQUENCE_STEP = 10000
DESCRIPTION_LENGTH = 100  # BC sales line Description: Text[100]
NAME_LENGTH = 100  # BC Ship-to Name / Contact, Sell-to Customer Name: Text[100]
CODE20_LENGTH = 20
GIFT_MARKER = "Free gift"
# A web order placed before this date is a broken createdAt: year 1 would become BC's blank date.
ORDER_DATE_FROM = date(2000, 1, 1)
# How far createdAt (an instant: its offset is part of it) may be ahead of the integrator's clock:
# generous clock skew between the ECP and Azure; later is a broken timestamp, not a future order.
MAX_CREATED_AHEAD = timedelta(days=1)

_ECP_STATUS = {
    "Open": "processing",
    "Released": "processing",
    "PartiallyShipped": "partiallyShipped",
    "Shipped": "shipped",
    "Invoiced": "completed",
    "Cancelled": "cancelled",
}


@dataclass(frozen=True)
class ErpDefaults:
    """ERP values a web order does not carry (app settings ERP_WEB_CUSTOMER_NUMBER,
    ERP_SHIPPING_CHARGE_ITEM, ERP_PRICES_INCLUDE_TAX = the web customer card's "Prices Including VAT")."""

    web_customer_number: str
    shipping_charge_item: str
    prices_include_tax: bool

    def __post_init__(self) -> None:
        # A wrong setting must stop the app at start-up, not park every order as a mapping error.
        problems = [
            f"{name} must be 1-{CODE20_LENGTH} characters of A-Z, 0-9, '.', '_', '/', '-'"
            for name, value in (
                ("ERP_WEB_CUSTOMER_NUMBER", self.web_customer_number),
                ("ERP_SHIPPING_CHARGE_ITEM", self.shipping_charge_item),
            )
            if not _is_code20(value)
        ]
        if problems:
            raise ValueError("invalid ERP defaults: " + "; ".join(problems))


def _is_code20(value: str) -> bool:
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-")
    return 0 < len(value) <= CODE20_LENGTH and value[0] not in "._/-" and set(value) <= allowed


def to_code(value: str) -> str:
    """`value` as Business Central stores a Code field: upper case, without leading or trailing spaces.

    https://learn.microsoft.com/dynamics365/business-central/dev-itpro/developer/methods-auto/code/code-data-type
    Our Code values (ids, SKUs) are ASCII by contract, where str.upper agrees with BC.
    """
    return value.strip().upper()


def check_not_in_future(order: Mapping[str, Any], *, now: datetime) -> None:
    """MappingError if the order's `createdAt` is more than MAX_CREATED_AHEAD after `now`.

    A `createdAt` Python cannot parse (a valid RFC 3339 form such as a leap second) is left to the
    date check of the mapping: only a time we can read is judged against the clock.
    """
    try:
        created = datetime.fromisoformat(str(order["createdAt"]).upper())
    except ValueError:
        return
    if created.tzinfo is not None and created - now > MAX_CREATED_AHEAD:
        raise MappingError(
            field="$.createdAt",
            message=(
                f"is more than {MAX_CREATED_AHEAD.days} day after the integrator's clock ({now:%Y-%m-%d %H:%M} UTC): "
                "the ECP's clock or the order is wrong; fix it in the ECP, then replay"
            ),
        )


def to_erp_sales_order(order: Mapping[str, Any], defaults: ErpDefaults) -> dict[str, Any]:
    """The ERP sales order (deep insert body) for a valid ECP order; MappingError names the field at fault."""
    currency = Currency.of(order["currency"], field="$.currency")
    _check_tax_basis(order["pricesIncludeTax"], defaults)
    item_lines, subtotal, line_tax = _item_lines(order["lines"], currency)
    shipping_lines, shipping_total, shipping_tax = _shipping(order.get("shipping"), currency, defaults)
    discount_total = _reconcile(order, currency, subtotal, shipping_total, line_tax + shipping_tax)

    billing = order["billingAddress"]
    lines = [
        *_comments(f"Web order {order['number']}"),
        *_comments(f"Sold to: {_party_name(billing, '$.billingAddress')}"),
        *item_lines,
        *shipping_lines,
        *_discount_comments(order.get("discounts", []), currency),
        *_payment_comments(order.get("payments", []), currency),
        *_note_comments(order.get("customerNote", "")),
    ]
    shipping_address = order.get("shippingAddress", billing)
    shipping_path = "$.shippingAddress" if "shippingAddress" in order else "$.billingAddress"
    customer = order["customer"]
    header: dict[str, Any] = {
        "externalDocumentNumber": order["id"],
        "orderDate": _order_date(order["createdAt"]),
        "customerNumber": defaults.web_customer_number,
        "currencyCode": currency.code,
        "email": customer["email"],
    }
    phone = customer.get("phone") or billing.get("phone") or shipping_address.get("phone")
    if phone:
        header["phoneNumber"] = phone
    header.update(_address_fields("sellTo", billing))
    header["shipToName"] = _party_name(shipping_address, shipping_path)
    header["shipToContact"] = _person_name(shipping_address, shipping_path)
    header.update(_address_fields("shipTo", shipping_address))
    header["discountAmount"] = discount_total
    header["salesOrderLines"] = [
        {"sequence": SEQUENCE_STEP * (index + 1), **line} for index, line in enumerate(lines)
    ]
    return header


def _order_date(created_at: str) -> str:
    """The date part of `createdAt` (the shop's local date), refused before ORDER_DATE_FROM."""
    day = created_at[:10]
    if day < ORDER_DATE_FROM.isoformat():  # RFC 3339 dates compare as text
        raise MappingError(
            field="$.createdAt",
            message=(
                f"dates the order {day}, before {ORDER_DATE_FROM.isoformat()}: a broken timestamp (the ERP would "
                "store 0001-01-01 as a blank date); fix it in the ECP, then replay"
            ),
        )
    return day


def _check_tax_basis(prices_include_tax: bool, defaults: ErpDefaults) -> None:
    """The ERP prices the order on the web customer's tax basis; an ECP order on another one cannot map."""
    if prices_include_tax != defaults.prices_include_tax:
        ecp, erp = ("include", "exclude") if prices_include_tax else ("exclude", "include")
        raise MappingError(
            field="$.pricesIncludeTax",
            message=(
                f"the ECP prices {ecp} tax but the ERP web customer {defaults.web_customer_number}'s prices {erp} "
                "it (ERP_PRICES_INCLUDE_TAX); align the shop's tax display or the setting, then replay"
            ),
        )


def _item_lines(
    lines: Iterable[Mapping[str, Any]], currency: Currency
) -> tuple[list[dict[str, Any]], Decimal, Decimal]:
    """ERP Item lines (a gift followed by its Comment), the recomputed subtotal and the lines' tax."""
    result: list[dict[str, Any]] = []
    subtotal = Decimal(0)
    tax = Decimal(0)
    for index, line in enumerate(lines):
        path = f"$.lines[{index}]"
        price = currency.unit_price(line["unitPrice"], field=f"{path}.unitPrice")
        discount = currency.amount(line.get("discountAmount", "0"), field=f"{path}.discountAmount")
        gross = currency.round(line["quantity"] * price)
        if line.get("gift", False) and price != 0:
            raise MappingError(field=f"{path}.unitPrice", message="a gift line must be free (unit price 0)")
        if discount > gross:
            raise MappingError(
                field=f"{path}.discountAmount", message=f"exceeds the line amount {as_text(gross)}"
            )
        line_total = currency.amount(line["lineTotal"], field=f"{path}.lineTotal")
        if line_total != gross - discount:
            expected = as_text(gross - discount)
            raise MappingError(
                field=f"{path}.lineTotal",
                message=f"is {as_text(line_total)} but round(quantity x unitPrice) - discountAmount is {expected}",
            )
        subtotal += line_total
        tax += currency.amount(line.get("taxAmount", "0"), field=f"{path}.taxAmount")
        erp_line: dict[str, Any] = {
            "lineType": "Item",
            "lineObjectNumber": to_code(line["sku"]),
            "description": line["name"],
            "quantity": line["quantity"],
            "unitPrice": price,
            "discountAmount": discount,
        }
        result.append(erp_line)
        if line.get("gift", False):
            result.extend(_comments(f"{GIFT_MARKER}: {erp_line['lineObjectNumber']}"))
    return result, subtotal, tax


def _shipping(
    shipping: Mapping[str, Any] | None, currency: Currency, defaults: ErpDefaults
) -> tuple[list[dict[str, Any]], Decimal, Decimal]:
    """The shipping charge line (none for digital orders), the net shipping charge and its tax."""
    if shipping is None:
        return [], Decimal(0), Decimal(0)
    price = currency.amount(shipping["price"], field="$.shipping.price")
    discount = currency.amount(shipping.get("discountAmount", "0"), field="$.shipping.discountAmount")
    if discount > price:
        raise MappingError(
            field="$.shipping.discountAmount", message=f"exceeds the shipping price {as_text(price)}"
        )
    tax = currency.amount(shipping.get("taxAmount", "0"), field="$.shipping.taxAmount")
    line = {
        "lineType": "Item",
        "lineObjectNumber": defaults.shipping_charge_item,
        "description": f"Shipping: {shipping['method']}",
        "quantity": 1,
        "unitPrice": price,
        "discountAmount": discount,
    }
    return [line], price - discount, tax


def _reconcile(
    order: Mapping[str, Any], currency: Currency, subtotal: Decimal, shipping: Decimal, tax: Decimal
) -> Decimal:
    """Check every ECP total against the recomputed one; returns the order discount total."""
    totals = order["totals"]
    discounts = sum(
        (
            currency.amount(discount["amount"], field=f"$.discounts[{index}].amount")
            for index, discount in enumerate(order.get("discounts", []))
        ),
        Decimal(0),
    )
    discounts = currency.round(discounts)  # exact already; gives 0 the currency's decimals
    grand = subtotal + shipping - discounts + (Decimal(0) if order["pricesIncludeTax"] else tax)
    expected = {
        "subtotal": (subtotal, "the sum of lines[].lineTotal"),
        "shippingTotal": (shipping, "shipping.price - shipping.discountAmount"),
        "discountTotal": (discounts, "the sum of discounts[].amount"),
        "taxTotal": (tax, "the sum of lines[].taxAmount and shipping.taxAmount"),
        "grandTotal": (
            grand,
            "subtotal + shippingTotal - discountTotal (+ taxTotal when prices exclude tax)",
        ),
    }
    for name, (value, rule) in expected.items():
        stated = currency.amount(totals[name], field=f"$.totals.{name}")
        if stated != value:
            raise MappingError(
                field=f"$.totals.{name}", message=f"is {as_text(stated)} but {rule} is {as_text(value)}"
            )
    if discounts > subtotal + shipping:
        raise MappingError(
            field="$.totals.discountTotal",
            message=f"{as_text(discounts)} exceeds goods and shipping ({as_text(subtotal + shipping)})",
        )
    return discounts


def _comments(text: str) -> Iterator[dict[str, Any]]:
    """Comment lines holding `text` on one line, wrapped at word boundaries to DESCRIPTION_LENGTH."""
    for chunk in textwrap.wrap(" ".join(text.split()), width=DESCRIPTION_LENGTH, break_on_hyphens=False):
        yield {"lineType": "Comment", "description": chunk}


def _discount_comments(
    discounts: Iterable[Mapping[str, Any]], currency: Currency
) -> Iterator[dict[str, Any]]:
    for index, discount in enumerate(discounts):
        label = discount.get("code") or discount.get("description") or "order discount"
        value = currency.amount(discount["amount"], field=f"$.discounts[{index}].amount")
        yield from _comments(f"Discount {label}: {as_text(value)}")


def _payment_comments(payments: Iterable[Mapping[str, Any]], currency: Currency) -> Iterator[dict[str, Any]]:
    for index, payment in enumerate(payments):
        value = currency.amount(payment["amount"], field=f"$.payments[{index}].amount")
        text = f"Payment {payment['method']} {payment['status']} {as_text(value)} {currency.code}"
        if payment.get("transactionReference"):
            text += f" ref {payment['transactionReference']}"
        yield from _comments(text)


def _note_comments(note: str) -> Iterator[dict[str, Any]]:
    """The customer note (ERP descriptions are single-line), after a heading."""
    if note.strip():
        yield from _comments("Customer note:")
        yield from _comments(note)


def _person_name(address: Mapping[str, Any], path: str) -> str:
    name = " ".join(part for part in (address.get("firstName"), address["lastName"]) if part)
    if len(name) > NAME_LENGTH:
        raise MappingError(
            field=f"{path}.firstName",
            message=f"first and last name together exceed the ERP's {NAME_LENGTH} characters",
        )
    return name


def _party_name(address: Mapping[str, Any], path: str) -> str:
    """The company when there is one, else the person."""
    return address.get("company") or _person_name(address, path)


def _address_fields(prefix: str, address: Mapping[str, Any]) -> dict[str, Any]:
    names = {
        "line1": "AddressLine1",
        "line2": "AddressLine2",
        "city": "City",
        "region": "State",
        "postalCode": "PostCode",
        "countryCode": "Country",
    }
    return {prefix + erp: address[ecp] for ecp, erp in names.items() if ecp in address}


def to_ecp_order_update(state: Mapping[str, Any]) -> dict[str, Any]:
    """The ECP order update for a valid ERP sales order state; MappingError names the field at fault."""
    currency = Currency.of(state["currencyCode"], field="$.currencyCode")
    invoices = [_invoice(invoice, currency, index) for index, invoice in enumerate(state.get("invoices", []))]
    return {
        "erpChangeVersion": read_change_version(state["changeVersion"]),
        "status": _ECP_STATUS[state["status"]],
        "erpOrderNumber": state["number"],
        "erpSalesOrderId": state["id"],
        "shipments": [
            _shipment(shipment, index) for index, shipment in enumerate(state.get("shipments", []))
        ],
        "invoices": [text for text, _, _ in invoices],
        "paymentStatus": _payment_status(
            sum((total for _, total, _ in invoices), Decimal(0)),
            sum((remaining for _, _, remaining in invoices), Decimal(0)),
            invoiced=bool(invoices),
        ),
    }


def _shipment(shipment: Mapping[str, Any], index: int) -> dict[str, Any]:
    path = f"$.shipments[{index}]"
    return {
        "shipmentNumber": shipment["number"],
        "shippedOn": shipment["shipmentDate"],
        "carrier": shipment["shippingAgentCode"],
        "trackingNumbers": list(shipment.get("packageTrackingNumbers", [])),
        "lines": [
            {
                "sku": line["lineObjectNumber"],
                "quantity": _whole_units(line["quantity"], f"{path}.lines[{number}].quantity"),
            }
            for number, line in enumerate(shipment["lines"])
        ],
    }


def _whole_units(value: object, field: str) -> int:
    quantity = decimal_value(value, field=field)
    if quantity != quantity.to_integral_value() or quantity < 1:
        raise MappingError(
            field=field, message="the ECP sells whole units; a shipped quantity must be a whole number >= 1"
        )
    return int(quantity)


def _invoice(
    invoice: Mapping[str, Any], currency: Currency, index: int
) -> tuple[dict[str, Any], Decimal, Decimal]:
    """The ECP invoice entry with its total and remaining amount."""
    path = f"$.invoices[{index}]"
    total = currency.amount(invoice["totalAmountIncludingTax"], field=f"{path}.totalAmountIncludingTax")
    remaining = currency.amount(invoice["remainingAmount"], field=f"{path}.remainingAmount")
    if remaining > total:
        raise MappingError(
            field=f"{path}.remainingAmount", message=f"exceeds the invoice total {as_text(total)}"
        )
    entry = {
        "invoiceNumber": invoice["number"],
        "invoicedOn": invoice["invoiceDate"],
        "amount": as_text(total),
        "outstandingAmount": as_text(remaining),
    }
    return entry, total, remaining


def _payment_status(invoiced_total: Decimal, outstanding: Decimal, *, invoiced: bool) -> str:
    if not invoiced:
        return "notInvoiced"
    if outstanding == 0:
        return "paid"
    return "unpaid" if outstanding == invoiced_total else "partiallyPaid"
