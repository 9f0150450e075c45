"""A fake ERP modelled on Business Central API v2.0 `salesOrders` with `salesOrderLines`.

Property lists follow the v2.0 resource pages and the APIV2 page source:
https://learn.microsoft.com/dynamics365/business-central/dev-itpro/api-reference/v2.0/resources/dynamics_salesorder
https://learn.microsoft.com/dynamics365/business-central/dev-itpro/api-reference/v2.0/resources/dynamics_salesorderline
https://github.com/microsoft/BCApps/blob/main/Apps/W1/APIV2/app/src/pages/APIV2SalesOrders.Page.al
"""
from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from orderbridge.fake_apis._server import FakeApiServer, Latency, RecordedRequest, Reply, error_reply

_FILTER = re.compile(r"^externalDocumentNumber eq '((?:[^']|'')*)'$")
_STATE_PATH = re.compile(r"^/salesOrders/([^/]+)/state$")
BLANK_GUID = "00000000-0000-0000-0000-000000000000"
BLANK_DATE = "0001-01-01"  # how BC writes an empty date

# Every property BC answers, with the value it has when nobody set it. A client may write only the
# WRITABLE ones; the rest are `Editable = false` in the APIV2 page or documented "Read-Only".
# `pricesIncludeTax` is documented read-only but validated in the page source: the stricter reading
# is modelled. A client that sends a property the entity does not have gets 400 from any OData
# service; what BC does with a read-only one is not documented, so the fake refuses both.
_HEADER_WRITABLE: dict[str, Any] = {
    "externalDocumentNumber": "", "orderDate": BLANK_DATE, "postingDate": BLANK_DATE, "customerId": BLANK_GUID,
    "customerNumber": "", "billToCustomerId": BLANK_GUID, "billToCustomerNumber": "", "shipToName": "",
    "shipToContact": "", "sellToAddressLine1": "", "sellToAddressLine2": "", "sellToCity": "",
    "sellToCountry": "", "sellToState": "", "sellToPostCode": "", "shipToAddressLine1": "",
    "shipToAddressLine2": "", "shipToCity": "", "shipToCountry": "", "shipToState": "", "shipToPostCode": "",
    "shortcutDimension1Code": "", "shortcutDimension2Code": "", "currencyId": BLANK_GUID, "currencyCode": "",
    "paymentTermsId": BLANK_GUID, "shipmentMethodId": BLANK_GUID, "salesperson": "", "partialShipping": False,
    "requestedDeliveryDate": BLANK_DATE, "discountAmount": 0, "fullyShipped": False, "phoneNumber": "",
    "email": "", "salesOrderLines": [],
}
_HEADER_READ_ONLY: dict[str, Any] = {
    "customerName": "", "billToName": "", "billToAddressLine1": "", "billToAddressLine2": "", "billToCity": "",
    "billToCountry": "", "billToState": "", "billToPostCode": "", "pricesIncludeTax": False,
    "discountAppliedBeforeTax": False, "totalAmountExcludingTax": 0, "totalTaxAmount": 0,
    "totalAmountIncludingTax": 0, "status": "Open", "lastModifiedDateTime": "2026-11-27T12:00:00Z",
}
_LINE_WRITABLE: dict[str, Any] = {
    "documentId": BLANK_GUID, "sequence": 0, "itemId": BLANK_GUID, "accountId": BLANK_GUID, "lineType": "Comment",
    "lineObjectNumber": "", "description": "", "unitOfMeasureId": BLANK_GUID, "unitOfMeasureCode": "",
    "quantity": 0, "unitPrice": 0, "discountAmount": 0, "discountPercent": 0, "taxCode": "",
    "shipmentDate": BLANK_DATE, "invoicedQuantity": 0, "shipQuantity": 0, "itemVariantId": BLANK_GUID,
    "locationId": BLANK_GUID,
}
_LINE_READ_ONLY: dict[str, Any] = {
    "discountAppliedBeforeTax": False, "amountExcludingTax": 0, "taxPercent": 0, "totalTaxAmount": 0,
    "amountIncludingTax": 0, "invoiceDiscountAllocation": 0, "netAmount": 0, "netTaxAmount": 0,
    "netAmountIncludingTax": 0, "shippedQuantity": 0, "invoiceQuantity": 0,
}


@dataclass(frozen=True)
class CustomerCard:
    """What a sales order copies from its customer: the name and the tax basis of its prices."""

    name: str
    prices_include_tax: bool


DEFAULT_CUSTOMERS = {"WEB": CustomerCard(name="Web shop customers", prices_include_tax=True)}


class FakeErp(FakeApiServer):
    """In-memory sales orders behind the ERP endpoints of the contracts.

    GET  /salesOrders?$filter=externalDocumentNumber eq '{id}'&$expand=salesOrderLines
    POST /salesOrders                         deep insert, 201 with the created order and lines
    GET  /salesOrders/{salesOrderId}/state    the state the ERP events processor fetches

    Like the real ERP it does not enforce unique externalDocumentNumbers, refuses (400) a create
    that sets a property a client cannot write or names an unknown customer, and answers every
    property of the order and its lines, BC's blank values included (a Comment line has quantity 0),
    with the customer card's name and tax basis. Amounts BC would calculate are left at 0.
    `validate`, when given, returns a message for a body the ERP should also refuse with 400.
    `extended_texts` (item number → text lines, also settable later) are the items whose card has
    *Automatic Ext. Texts*: BC adds their text as Comment lines after each created line of that item.
    Stored orders and states are never changed in place (only added or replaced), so answers can
    reference them without copying; callers get copies.
    """

    name = "fake-erp"

    def __init__(
        self,
        *,
        api_key: str,
        latency: Latency = 0.0,
        validate: Callable[[Any], str | None] | None = None,
        customers: dict[str, CustomerCard] | None = None,
        extended_texts: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        super().__init__(api_key=api_key, latency=latency)
        self._validate = validate
        self.extended_texts: dict[str, Sequence[str]] = dict(extended_texts or {})
        self._customers = dict(DEFAULT_CUSTOMERS if customers is None else customers)
        self._orders: list[dict[str, Any]] = []
        self._states: dict[str, dict[str, Any]] = {}
        self._numbers = itertools.count(104001)

    @property
    def sales_orders(self) -> list[dict[str, Any]]:
        """Copies of every stored sales order, with lines, in creation order."""
        with self._lock:
            return copy.deepcopy(self._orders)

    def orders_for(self, external_document_number: str) -> list[dict[str, Any]]:
        """Copies of the sales orders created for one ECP order id."""
        return [o for o in self.sales_orders if o.get("externalDocumentNumber") == external_document_number]

    def seed(self, sales_order: dict[str, Any]) -> dict[str, Any]:
        """Store a sales order (e.g. an incomplete one) as if someone had created it in the ERP."""
        return self._store(copy.deepcopy(sales_order))

    def set_state(self, sales_order_id: str, state: dict[str, Any]) -> None:
        """What `GET /salesOrders/{id}/state` answers for that order from now on."""
        with self._lock:
            self._states[sales_order_id] = copy.deepcopy(state)

    def route(self, request: RecordedRequest) -> Reply:
        if request.path == "/salesOrders" and request.method == "GET":
            return self._list(request)
        if request.path == "/salesOrders" and request.method == "POST":
            return self._create(request.body)
        state_match = _STATE_PATH.match(request.path)
        if state_match and request.method == "GET":
            state = self._states.get(state_match.group(1))
            if state is None:
                return error_reply(404, "BadRequest_NotFound", f"no state for sales order {state_match.group(1)}")
            return Reply(200, state)
        return error_reply(404, "BadRequest_NotFound", f"no route {request.method} {request.path}")

    def _list(self, request: RecordedRequest) -> Reply:
        match = _FILTER.match(request.query.get("$filter", ""))
        if not match:
            return error_reply(400, "BadRequest", "expected $filter=externalDocumentNumber eq '...'")
        wanted = match.group(1).replace("''", "'")
        expand = request.query.get("$expand") == "salesOrderLines"
        found = [
            order if expand else {k: v for k, v in order.items() if k != "salesOrderLines"}
            for order in self._orders
            if order.get("externalDocumentNumber") == wanted
        ]
        return Reply(200, {"value": found})

    def _create(self, body: Any) -> Reply:
        problem = _structural_problem(body) or self._customer_problem(body) or (
            self._validate(body) if self._validate else None
        )
        if problem:
            return error_reply(400, "BadRequest", problem)
        # Copied so the recorded request keeps the body exactly as it was sent.
        order = copy.deepcopy(body)
        order["salesOrderLines"] = self._with_extended_texts(order["salesOrderLines"])
        return Reply(201, self._store(order))

    def _with_extended_texts(self, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`lines` with each item's extended text inserted after it, numbered between it and the next line.

        BC's "Transfer Extended Text" codeunit does this when an item line is inserted
        (https://learn.microsoft.com/dynamics365/business-central/application/base-application/namespace/microsoft.foundation.extendedtext).
        """
        result: list[dict[str, Any]] = []
        for index, line in enumerate(lines):
            result.append(line)
            number = str(line.get("lineObjectNumber") or "").upper()
            texts = self.extended_texts.get(number, ()) if line.get("lineType") == "Item" else ()
            if not texts:
                continue
            sequence = int(line.get("sequence", 0))
            following = int(lines[index + 1].get("sequence", 0)) if index + 1 < len(lines) else sequence + 10000
            step = max((following - sequence) // (len(texts) + 1), 1)
            result.extend(
                {"sequence": sequence + step * (k + 1), "lineType": "Comment", "description": text}
                for k, text in enumerate(texts)
            )
        return result

    def _customer_problem(self, body: dict[str, Any]) -> str | None:
        if body["customerNumber"] not in self._customers:
            return "The sell-to customer cannot be found."  # BC's CouldNotFindSellToCustomerErr
        return None

    def _store(self, order: dict[str, Any]) -> dict[str, Any]:
        """Keep `order` as BC would answer it: ids, number, the customer card's values, every blank."""
        number = next(self._numbers)
        card = self._customers.get(order.get("customerNumber", ""))
        order.setdefault("id", f"so-{number}")
        order.setdefault("number", f"SO{number}")
        if card is not None:
            order.setdefault("customerName", card.name)
            order.setdefault("billToName", card.name)
            order.setdefault("billToCustomerNumber", order["customerNumber"])
            order.setdefault("pricesIncludeTax", card.prices_include_tax)
        _fill(order, _HEADER_WRITABLE, _HEADER_READ_ONLY)
        for line in order["salesOrderLines"]:
            line.setdefault("id", f"{order['id']}-{line.get('sequence', 0)}")
            line.setdefault("documentId", order["id"])
            _fill(line, _LINE_WRITABLE, _LINE_READ_ONLY)
        self._orders.append(order)
        return order


def _fill(entity: dict[str, Any], *defaults: dict[str, Any]) -> None:
    """Give `entity` every blank it lacks; only containers are copied (strings and numbers are immutable)."""
    for blanks in defaults:
        for name, blank in blanks.items():
            if name not in entity:
                entity[name] = copy.deepcopy(blank) if isinstance(blank, (dict, list)) else blank


def _not_writable(
    entity: dict[str, Any], writable: dict[str, Any], read_only: dict[str, Any], type_name: str
) -> str | None:
    for name in entity:
        if name not in writable:
            where = "is read-only on" if name in read_only else "does not exist on"
            return f"The property '{name}' {where} type 'Microsoft.NAV.{type_name}'."
    return None


def _structural_problem(body: Any) -> str | None:
    """What a deep insert fails on before any business logic: shape, unknown or read-only properties."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    for name in ("externalDocumentNumber", "customerNumber"):
        if not body.get(name):
            return f"{name} is required"
    lines = body.get("salesOrderLines")
    if not isinstance(lines, list) or not lines:
        return "salesOrderLines must be a non-empty array (deep insert)"
    if any(not isinstance(line, dict) for line in lines):
        return "every salesOrderLines item must be a JSON object"
    return _not_writable(body, _HEADER_WRITABLE, _HEADER_READ_ONLY, "salesOrder") or next(
        (
            problem
            for line in lines
            if (problem := _not_writable(line, _LINE_WRITABLE, _LINE_READ_ONLY, "salesOrderLine"))
        ),
        None,
    )
