"""A fake ERP modelled on Business Central API v2.0 `salesOrders` (with `salesOrderLines`) and `salesInvoices`.

Property lists follow the v2.0 resource pages and the APIV2 page source:
https://learn.microsoft.com/dynamics365/business-central/dev-itpro/api-reference/v2.0/resources/dynamics_salesorder
https://learn.microsoft.com/dynamics365/business-central/dev-itpro/api-reference/v2.0/resources/dynamics_salesorderline
https://learn.microsoft.com/dynamics365/business-central/dev-itpro/api-reference/v2.0/resources/dynamics_salesinvoice
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
# Each collection the fake lists, with the lines `$expand` may add.
_COLLECTIONS = {"/salesOrders": "salesOrderLines", "/salesInvoices": "salesInvoiceLines"}
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
    # A new order is "Draft" until released; the API's status values are "Draft", "In Review", "Open".
    "totalAmountIncludingTax": 0, "status": "Draft", "lastModifiedDateTime": "2026-11-27T12:00:00Z",
}
_LINE_WRITABLE: dict[str, Any] = {
    "documentId": BLANK_GUID, "sequence": 0, "itemId": BLANK_GUID, "accountId": BLANK_GUID, "lineType": "Comment",
    "lineObjectNumber": "", "description": "", "unitOfMeasureId": BLANK_GUID, "unitOfMeasureCode": "",
    "quantity": 0, "unitPrice": 0, "discountAmount": 0, "discountPercent": 0, "taxCode": "",
    "shipmentDate": BLANK_DATE, "invoicedQuantity": 0, "shipQuantity": 0, "itemVariantId": BLANK_GUID,
    "locationId": BLANK_GUID,
    # Documented "Read-Only", yet writable in the APIV2 page source and sent in Microsoft's own create
    # example (https://learn.microsoft.com/dynamics365/business-central/dev-itpro/api-reference/v2.0/api/dynamics_salesorderline_create).
    "invoiceQuantity": 0,
    # Not on the v2.0 resource page we found, but accepted by the BC the field tests ran against.
    "description2": "",
}
_LINE_READ_ONLY: dict[str, Any] = {
    "discountAppliedBeforeTax": False, "amountExcludingTax": 0, "taxPercent": 0, "totalTaxAmount": 0,
    "amountIncludingTax": 0, "invoiceDiscountAllocation": 0, "netAmount": 0, "netTaxAmount": 0,
    "netAmountIncludingTax": 0, "shippedQuantity": 0,
}
# Code[n] fields: BC stores them upper-cased, without leading or trailing spaces, and refuses longer ones
# (https://learn.microsoft.com/dynamics365/business-central/dev-itpro/developer/methods-auto/code/code-data-type).
# Lengths are the Sales Header / Sales Line fields behind the API properties.
_HEADER_CODES = {
    "externalDocumentNumber": 35, "customerNumber": 20, "billToCustomerNumber": 20, "currencyCode": 10,
    "sellToPostCode": 20, "shipToPostCode": 20, "sellToCountry": 10, "shipToCountry": 10,
    "shortcutDimension1Code": 20, "shortcutDimension2Code": 20, "salesperson": 20,
}
_LINE_CODES = {"lineObjectNumber": 20, "unitOfMeasureCode": 10, "taxCode": 20}


@dataclass(frozen=True)
class CustomerCard:
    """What a sales order copies from its customer: the name and the tax basis of its prices."""

    name: str
    prices_include_tax: bool


DEFAULT_CUSTOMERS = {"WEB": CustomerCard(name="Web shop customers", prices_include_tax=True)}


class FakeErp(FakeApiServer):
    """In-memory sales orders and posted sales invoices behind the ERP endpoints of the contracts.

    GET  /salesOrders?$filter=externalDocumentNumber eq '{id}'&$expand=salesOrderLines
    POST /salesOrders                         deep insert, 201 with the created order and lines
    GET  /salesInvoices?$filter=externalDocumentNumber eq '{id}'&$expand=salesInvoiceLines
    GET  /salesOrders/{salesOrderId}/state    the state the ERP events processor fetches

    Like Business Central it does not enforce unique externalDocumentNumbers (`duplicates` counts
    them), upper-cases Code fields on create (`ord-1` is stored as `ORD-1`), and compares a `$filter`
    literal with the stored value exactly, so a lower-case literal finds nothing (the stricter reading
    of BC's filter docs, where `eq` is an AL filter and only tolower/toupper make it case-insensitive:
    https://learn.microsoft.com/dynamics365/business-central/dev-itpro/webservices/use-filter-expressions-in-odata-uris).
    It refuses (400) a create that sets a property a client cannot write or names an unknown
    customer, answers every property of the order and its lines, BC's blank values included (a
    Comment line has quantity 0), with the customer card's name and tax basis; a new order is
    `Draft`. Amounts BC would calculate are left at 0. `post` ships and invoices an order: once all
    of it is invoiced the order is deleted and lives on as posted sales invoices, as in BC.
    `validate`, when given, returns a message for a body the ERP should also refuse with 400.
    `extended_texts` (item number → text lines, also settable later) are the items whose card has
    *Automatic Ext. Texts*: BC adds their text as Comment lines after each created line of that item.
    Stored documents and states are never changed in place (only added or replaced), so answers can
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
        self._documents: dict[str, list[dict[str, Any]]] = {path: [] for path in _COLLECTIONS}
        self._states: dict[str, dict[str, Any]] = {}
        self._numbers = itertools.count(104001)

    @property
    def _orders(self) -> list[dict[str, Any]]:
        return self._documents["/salesOrders"]

    @property
    def sales_orders(self) -> list[dict[str, Any]]:
        """Copies of every open (not fully invoiced) sales order, with lines, in creation order."""
        with self._lock:
            return copy.deepcopy(self._orders)

    @property
    def posted_invoices(self) -> list[dict[str, Any]]:
        """Copies of every posted sales invoice, with lines, in posting order."""
        with self._lock:
            return copy.deepcopy(self._documents["/salesInvoices"])

    def orders_for(self, external_document_number: str) -> list[dict[str, Any]]:
        """Copies of the open sales orders for one ECP order id, in whatever case it is given."""
        return [o for o in self.sales_orders if _same_code(o.get("externalDocumentNumber"), external_document_number)]

    def invoices_for(self, external_document_number: str) -> list[dict[str, Any]]:
        """Copies of the posted sales invoices for one ECP order id, in whatever case it is given."""
        return [
            i for i in self.posted_invoices if _same_code(i.get("externalDocumentNumber"), external_document_number)
        ]

    def duplicates(self) -> dict[str, int]:
        """ECP order ids the ERP holds more than one order for, open or posted, with how many."""
        with self._lock:
            held: dict[str, set[str]] = {}
            for order in self._orders:
                held.setdefault(_code(order.get("externalDocumentNumber")), set()).add(order["number"])
            for invoice in self._documents["/salesInvoices"]:
                order = invoice.get("orderNumber") or invoice["number"]
                held.setdefault(_code(invoice.get("externalDocumentNumber")), set()).add(order)
        return {number: len(orders) for number, orders in held.items() if number and len(orders) > 1}

    def seed(self, sales_order: dict[str, Any]) -> dict[str, Any]:
        """Store a sales order (e.g. an incomplete one) as if someone had created it in the ERP, Code fields upper-cased."""
        return self._store(_with_codes(sales_order))

    def post(self, sales_order_id: str, quantities: Mapping[int, Any] | None = None) -> dict[str, Any]:
        """Ship and invoice an order: `quantities` by line sequence, else everything not yet invoiced.

        Posting writes a posted sales invoice that keeps the order's externalDocumentNumber and number
        (`orderNumber`). An order whose every line is then fully invoiced is deleted
        (https://learn.microsoft.com/dynamics365/business-central/ui-post-sales: "the posted sales lines
        are removed from the order"). Returns a copy of the posted invoice.
        """
        with self._lock:
            index = next((i for i, o in enumerate(self._orders) if o["id"] == sales_order_id), None)
            if index is None:
                raise KeyError(f"no open sales order {sales_order_id!r} in the fake ERP")
            order = self._orders[index]
            posted_lines, remaining_lines = _invoice_lines(order["salesOrderLines"], quantities)
            invoice = self._posted_invoice(order, posted_lines)
            self._documents["/salesInvoices"].append(invoice)
            if any(_outstanding(line) for line in remaining_lines):
                self._orders[index] = {**order, "salesOrderLines": remaining_lines}
            else:
                del self._orders[index]
            return copy.deepcopy(invoice)

    def restore(
        self, *, orders: Sequence[dict[str, Any]], invoices: Sequence[dict[str, Any]], states: Mapping[str, dict[str, Any]]
    ) -> None:
        """Take back what a durable store kept (the local stack's `--resume`); numbering continues after it."""
        with self._lock:
            self._documents["/salesOrders"] = copy.deepcopy(list(orders))
            self._documents["/salesInvoices"] = copy.deepcopy(list(invoices))
            self._states = copy.deepcopy(dict(states))
            used = [int(digits) for d in (*orders, *invoices) if (digits := re.sub(r"\D", "", str(d.get("number"))))]
            self._numbers = itertools.count(max(used, default=104000) + 1)

    def set_state(self, sales_order_id: str, state: dict[str, Any]) -> None:
        """What `GET /salesOrders/{id}/state` answers for that order from now on."""
        with self._lock:
            self._states[sales_order_id] = copy.deepcopy(state)

    def route(self, request: RecordedRequest) -> Reply:
        if request.path in _COLLECTIONS and request.method == "GET":
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
        lines = _COLLECTIONS[request.path]
        expand = request.query.get("$expand") == lines
        found = [
            document if expand else {k: v for k, v in document.items() if k != lines}
            for document in self._documents[request.path]
            if document.get("externalDocumentNumber") == wanted
        ]
        return Reply(200, {"value": found})

    def _create(self, body: Any) -> Reply:
        problem = _structural_problem(body) or self._customer_problem(body) or (
            self._validate(body) if self._validate else None
        )
        if problem:
            return error_reply(400, "BadRequest", problem)
        order = _with_codes(body)  # a copy: the recorded request keeps the body exactly as it was sent
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
        if _code(body["customerNumber"]) not in self._customers:
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

    def _posted_invoice(self, order: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
        """The posted sales invoice of `lines`: the order's header, its number as `orderNumber`."""
        number = next(self._numbers)
        invoice = {name: order[name] for name in _INVOICE_HEADER_FROM_ORDER if name in order}
        invoice.update(
            id=f"si-{number}", number=f"PS-INV{number}", orderId=order["id"], orderNumber=order["number"],
            invoiceDate=order.get("orderDate", BLANK_DATE), postingDate=order.get("orderDate", BLANK_DATE),
            status="Open",
        )
        invoice["salesInvoiceLines"] = [
            {
                **{name: line[name] for name in _INVOICE_LINE_FROM_ORDER if name in line},
                "id": f"{invoice['id']}-{line.get('sequence', 0)}",
                "documentId": invoice["id"],
            }
            for line in lines
        ]
        return invoice


# What a posted sales invoice (and its lines) keeps of the order it was posted from.
_INVOICE_HEADER_FROM_ORDER = (
    "externalDocumentNumber", "customerId", "customerNumber", "customerName", "billToName", "billToCustomerId",
    "billToCustomerNumber", "shipToName", "shipToContact", "sellToAddressLine1", "sellToAddressLine2",
    "sellToCity", "sellToCountry", "sellToState", "sellToPostCode", "shipToAddressLine1", "shipToAddressLine2",
    "shipToCity", "shipToCountry", "shipToState", "shipToPostCode", "currencyCode", "pricesIncludeTax",
    "discountAmount", "phoneNumber", "email",
)
_INVOICE_LINE_FROM_ORDER = (
    "sequence", "lineType", "lineObjectNumber", "description", "description2", "unitOfMeasureCode", "quantity",
    "unitPrice", "discountAmount", "discountPercent", "taxCode",
)


def _invoice_lines(
    lines: list[dict[str, Any]], quantities: Mapping[int, Any] | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the posted invoice's lines, the order's lines after posting them) for `quantities` by sequence."""
    posted: list[dict[str, Any]] = []
    remaining: list[dict[str, Any]] = []
    for line in lines:
        if line.get("lineType") == "Comment":
            posted.append(line)
            remaining.append(line)
            continue
        invoiced = line.get("invoicedQuantity", 0)
        open_quantity = line.get("quantity", 0) - invoiced
        quantity = open_quantity if quantities is None else quantities.get(line.get("sequence", 0), 0)
        if not 0 <= quantity <= open_quantity:
            raise ValueError(f"line {line.get('sequence')}: cannot invoice {quantity} of {open_quantity} open")
        if quantity:
            posted.append({**line, "quantity": quantity})
        done = invoiced + quantity
        remaining.append({**line, "invoicedQuantity": done, "shippedQuantity": max(line.get("shippedQuantity", 0), done)})
    return posted, remaining


def _outstanding(line: Mapping[str, Any]) -> bool:
    """A goods line not yet fully invoiced, which keeps its order from being deleted."""
    return line.get("lineType") != "Comment" and line.get("invoicedQuantity", 0) < line.get("quantity", 0)


def _code(value: Any) -> str:
    """`value` as BC stores a Code field: upper case, no leading or trailing spaces."""
    return str(value if value is not None else "").strip().upper()


def _same_code(stored: Any, wanted: str) -> bool:
    return _code(stored) == _code(wanted)


def _as_codes(entity: dict[str, Any], codes: Mapping[str, int]) -> dict[str, Any]:
    """`entity` with its Code fields as BC stores them."""
    return {name: _code(value) if name in codes and isinstance(value, str) else value for name, value in entity.items()}


def _with_codes(sales_order: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `sales_order` with the Code fields of its header and lines as BC stores them."""
    order = _as_codes(copy.deepcopy(dict(sales_order)), _HEADER_CODES)
    order["salesOrderLines"] = [_as_codes(line, _LINE_CODES) for line in order.get("salesOrderLines", [])]
    return order


def _code_problem(entity: Mapping[str, Any], codes: Mapping[str, int]) -> str | None:
    """BC's error for a Code field longer than its length (after trimming)."""
    for name, length in codes.items():
        value = entity.get(name)
        if isinstance(value, str) and len(_code(value)) > length:
            return (
                f"The length of the string is {len(_code(value))}, but it must be less than or equal to "
                f"{length} characters. Value: {_code(value)}"
            )
    return None


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
    # externalDocumentNumber is optional, as in BC: a client may leave it blank.
    if not body.get("customerNumber"):
        return "customerNumber is required"
    lines = body.get("salesOrderLines")
    if not isinstance(lines, list) or not lines:
        return "salesOrderLines must be a non-empty array (deep insert)"
    if any(not isinstance(line, dict) for line in lines):
        return "every salesOrderLines item must be a JSON object"
    return (
        _not_writable(body, _HEADER_WRITABLE, _HEADER_READ_ONLY, "salesOrder")
        or _code_problem(body, _HEADER_CODES)
        or next(
            (
                problem
                for line in lines
                if (problem := _not_writable(line, _LINE_WRITABLE, _LINE_READ_ONLY, "salesOrderLine")
                    or _code_problem(line, _LINE_CODES))
            ),
            None,
        )
    )
