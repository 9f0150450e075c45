"""ECP order message (`online-orders`) → one ERP sales order, created once.

validate → map → look up by externalDocumentNumber → create with all lines in one deep insert.
The look-up makes a redelivered or replayed message harmless: an existing complete order, open or
already posted, is success. A message that Service Bus proves is the order's first
(order_integration.first_delivery) skips it, which halves the ERP round trips of a new order. The
ERP does not enforce unique externalDocumentNumbers, so this is only safe if no look-up runs while
a create of the same order may still be executing in the ERP: a create without an answer is
OutcomeUnknown and its retry waits out the ERP's execution limit (function_app.py explains the
timing and the lock renewal).
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

from order_integration.contracts import dump_json, load_json, validate
from order_integration.errors import OutcomeUnknown, PermanentError, TargetRejected, TargetUnavailable
from order_integration.first_delivery import DuplicateDetection, is_provably_first
from order_integration.http_clients import TargetApi
from order_integration.mapping import ErpDefaults, check_not_in_future, to_code, to_erp_sales_order
from order_integration.messages import InboundMessage, LogContext, MessageOutcome


class ExistingOrderMismatch(PermanentError):
    """The ERP already holds sales orders for this ECP order that are not exactly the one we would create."""

    reason = "ExistingOrderMismatch"

    def __init__(self, *, external_document_number: str, detail: str) -> None:
        self.external_document_number = external_document_number
        super().__init__(
            f"ERP sales orders with externalDocumentNumber {external_document_number!r} {detail}; "
            "not creating another one: check them in the ERP, fix or delete them, then replay this message"
        )


@dataclass(frozen=True)
class ExistingOrder:
    """An ERP order for the ECP order: open (a sales order) or posted (its sales invoices), with its lines."""

    label: str
    lines: list[Mapping[str, Any]]


@dataclass(frozen=True)
class _Collection:
    """An ERP collection searched by externalDocumentNumber, and the lines `$expand` adds to each document."""

    path: str
    lines: str


SALES_ORDERS = _Collection("/salesOrders", "salesOrderLines")
# A sales order that is fully shipped and invoiced is deleted by posting and lives on as posted sales
# shipments and invoices, which keep its externalDocumentNumber and name it as `orderNumber`
# (https://learn.microsoft.com/dynamics365/business-central/ui-post-sales,
# https://learn.microsoft.com/dynamics365/business-central/dev-itpro/api-reference/v2.0/resources/dynamics_salesinvoice).
SALES_INVOICES = _Collection("/salesInvoices", "salesInvoiceLines")


class ErpApi:
    """The ERP calls of this integrator (Business Central API v2.0 shapes).

    `unknown_outcome_wait` (seconds) is how long a create whose answer was lost may still be running
    in the ERP; the retry that follows waits at least that long before it looks the order up.
    """

    def __init__(self, target: TargetApi, *, unknown_outcome_wait: float) -> None:
        self._target = target
        self.unknown_outcome_wait = unknown_outcome_wait

    def find_existing_orders(self, external_document_number: str, *, correlation_id: str | None) -> list[ExistingOrder]:
        """Every ERP order for the ECP order id: the open sales orders, else the posted ones.

        Sales orders are read first: posting deletes an order only after writing its invoice, so an
        order missing from that answer is already visible as an invoice in the next. An order invoiced
        through Combine Shipments stays open until *Delete Invoiced Sales Orders* runs, and its invoice
        need not carry its externalDocumentNumber
        (https://learn.microsoft.com/dynamics365/business-central/sales-how-to-combine-shipments):
        after that batch job, such an order is not found.
        """
        orders = self._find(SALES_ORDERS, external_document_number, correlation_id=correlation_id)
        if orders:
            return [ExistingOrder(f"sales order {order.get('number')}", order[SALES_ORDERS.lines]) for order in orders]
        invoices = self._find(SALES_INVOICES, external_document_number, correlation_id=correlation_id)
        return _posted_orders(invoices)

    def create_sales_order(self, sales_order: bytes, *, correlation_id: str | None) -> dict:
        """Deep insert: the header and its salesOrderLines in one request, so never one without the other."""
        created = self._collection_call(
            "POST",
            SALES_ORDERS.path,
            content=sales_order,
            correlation_id=correlation_id,
            unknown_outcome_retry_after=self.unknown_outcome_wait,
        )
        return created if isinstance(created, dict) else {}

    def _find(self, collection: _Collection, external_document_number: str, *, correlation_id: str | None) -> list[dict]:
        """The documents (with lines) of `collection` whose externalDocumentNumber is the ECP order id.

        externalDocumentNumber is a Code[35] field: Business Central stores it upper-cased
        (https://learn.microsoft.com/dynamics365/business-central/dev-itpro/developer/methods-auto/code/code-data-type),
        and its `eq` filter is an AL filter, case-sensitive unless tolower/toupper is used
        (https://learn.microsoft.com/dynamics365/business-central/dev-itpro/webservices/use-filter-expressions-in-odata-uris).
        So the literal is the stored form, which matches whichever reading of the filter holds, and
        every answered document is checked against it case-insensitively.
        """
        code = to_code(external_document_number)
        quoted = code.replace("'", "''")  # OData string literal escaping
        body = self._collection_call(
            "GET",
            collection.path,
            params={"$filter": f"externalDocumentNumber eq '{quoted}'", "$expand": collection.lines},
            correlation_id=correlation_id,
        )
        found = body.get("value") if isinstance(body, dict) else None
        if not isinstance(found, list):
            raise TargetUnavailable(f"ERP answered GET {collection.path} without a 'value' array")
        for document in found:
            _check_found(document, collection, code)
        return found

    def _collection_call(self, method: str, path: str, **kwargs: Any) -> Any:
        """A call on a collection, which always exists: a 404 there is a wrong ERP_BASE_URL, not a bad order."""
        try:
            return self._target.call(method, path, **kwargs)
        except TargetRejected as error:
            if error.status_code != 404:
                raise
            # Like 401/403, ops fixes this in the app settings; retrying keeps the orders while the
            # queue backlog alert draws attention, instead of parking every order as TargetRejected.
            raise TargetUnavailable(
                f"ERP answered HTTP 404 on {method} {path}, a collection that always exists: "
                "ERP_BASE_URL probably points at the wrong API, company or environment; fix the app setting"
            ) from error


def _check_found(document: Any, collection: _Collection, code: str) -> None:
    """Refuse an answer that is not what the filter asked for; the next attempt may get a sound one."""
    where = f"ERP answered GET {collection.path}"
    if not isinstance(document, dict):
        raise TargetUnavailable(f"{where} with an entry that is not a JSON object")
    if to_code(str(document.get("externalDocumentNumber") or "")) != code:
        # The filter was not applied (a proxy, another API): counting these would park or duplicate.
        raise TargetUnavailable(f"{where} with a document whose externalDocumentNumber is not the one filtered for")
    lines = document.get(collection.lines)
    if not isinstance(lines, list) or not all(isinstance(line, dict) for line in lines):
        raise TargetUnavailable(f"{where} without {collection.lines} as an array of objects")


def _posted_orders(invoices: Iterable[dict]) -> list[ExistingOrder]:
    """The posted orders behind the invoices: one per `orderNumber`, an order invoiced in parts has several."""
    by_order: dict[str, list[dict]] = {}
    for invoice in invoices:
        by_order.setdefault(str(invoice.get("orderNumber") or ""), []).append(invoice)
    return [
        ExistingOrder(
            f"posted order {number or '(no order number)'} (invoices {', '.join(str(i.get('number')) for i in group)})",
            [line for invoice in group for line in invoice[SALES_INVOICES.lines]],
        )
        for number, group in by_order.items()
    ]


def integrate(
    message: InboundMessage,
    *,
    erp: ErpApi,
    defaults: ErpDefaults,
    log: LogContext,
    now: datetime,
    duplicate_detection: DuplicateDetection | None = None,
) -> MessageOutcome:
    """Create the message's order in the ERP unless it is already there; raise typed errors otherwise.

    `duplicate_detection` describes the `online-orders` queue; None means every order is looked up.
    """
    message.check_data_version()
    order = load_json(message.body)
    validate("ecp-order", order)
    check_not_in_future(order, now=now)
    sales_order = to_erp_sales_order(order, defaults)
    validate("erp-sales-order", sales_order)
    if not is_provably_first(message, order, duplicate_detection):
        _wait_out_earlier_deliveries(message, now=now, erp_wait=timedelta(seconds=erp.unknown_outcome_wait))
        existing = erp.find_existing_orders(sales_order["externalDocumentNumber"], correlation_id=message.correlation_id)
        if existing:
            _require_complete(existing, sales_order)
            log.log(logging.INFO, "ERP %s already exists; nothing to do", existing[0].label)
            return MessageOutcome.ALREADY_PRESENT
    created = erp.create_sales_order(dump_json(sales_order).encode(), correlation_id=message.correlation_id)
    log.log(logging.INFO, "created ERP sales order %s", created.get("number"))
    return MessageOutcome.CREATED


def _wait_out_earlier_deliveries(message: InboundMessage, *, now: datetime, erp_wait: timedelta) -> None:
    """Raise OutcomeUnknown for a redelivered message: an earlier delivery's create may still run.

    A redelivered message was handed to a worker before, which may have sent the create and then
    crashed, failed to schedule its retry, or lost its lock while still running, with the ERP working
    on that create. The message does not tell when that create was sent; it was sent before now or
    during that worker's remaining HTTP timeouts (about a minute), so by now + `erp_wait` (the ERP's
    10-minute limit plus margin) it has committed or never will. A look-up before then could miss it
    and create the order twice, so the message becomes a retry at that time. Redeliveries are rare
    (a crash, a failed send to Service Bus), so the wait costs little. A missing DeliveryCount counts
    as a redelivery.
    """
    if message.delivery_count == 1:
        return
    raise OutcomeUnknown(
        f"delivery {message.delivery_count or '?'} of this message: an earlier delivery may have sent a create "
        f"the ERP carries out until {now + erp_wait:%Y-%m-%d %H:%M:%S} UTC, so the order is looked up only then",
        retry_after=erp_wait.total_seconds(),
    )


def _require_complete(existing: list[ExistingOrder], wanted: Mapping[str, Any]) -> None:
    """Accept exactly one existing order with the goods we would have ordered; raise otherwise."""
    number = str(wanted["externalDocumentNumber"])
    if len(existing) > 1:
        labels = "; ".join(order.label for order in existing)
        raise ExistingOrderMismatch(external_document_number=number, detail=f"exist {len(existing)} times ({labels})")
    have = _goods(existing[0].lines)
    want = _goods(wanted["salesOrderLines"])
    if have != want:
        raise ExistingOrderMismatch(
            external_document_number=number,
            detail=(
                f"exist as {existing[0].label}, but it is incomplete: it holds {len(have)} item/account numbers, "
                f"the order needs {len(want)}, and their numbers or total quantities differ"
            ),
        )


# Comment lines carry no goods; and Business Central answers every property of every line (a Comment
# line has quantity 0 and lineObjectNumber ""), while our request leaves them out.
# https://learn.microsoft.com/dynamics365/business-central/dev-itpro/api-reference/v2.0/resources/dynamics_salesorderline
_GOODS_LINE_TYPES = frozenset({"Item", "Account"})


def _goods(lines: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Decimal]:
    """Total quantity per Item/Account number: what must match for an order to be complete.

    Totals, because an order invoiced in parts has one invoice line per part; item numbers compare
    as BC's Code fields do, whatever case the ERP answers them in.
    """
    totals: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for line in lines:
        if line.get("lineType") in _GOODS_LINE_TYPES:
            totals[(str(line["lineType"]), to_code(str(line.get("lineObjectNumber") or "")))] += _quantity(
                line.get("quantity")
            )
    # Without zero totals: an order line BC keeps but never invoices is not on any invoice.
    return {goods: total for goods, total in totals.items() if total != 0}


def _quantity(value: Any) -> Decimal:
    """A line quantity as an exact number; absent counts as 0, as Business Central stores it."""
    try:
        return Decimal(str(value if value is not None else 0))
    except InvalidOperation:
        return Decimal("NaN")  # not a number: never equal to what we send
