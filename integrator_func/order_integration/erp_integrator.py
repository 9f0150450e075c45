"""ECP order message (`online-orders`) → one ERP sales order, created once.

validate → map → look up by externalDocumentNumber → create with all lines in one deep insert.
The look-up makes a redelivered or replayed message harmless: an existing complete order is
success. A message that Service Bus proves is the order's first (order_integration.first_delivery)
skips it, which halves the ERP round trips of a new order. The ERP does not enforce unique
externalDocumentNumbers, so this is only safe if no look-up runs while a create of the same order
may still be executing in the ERP: a create without an answer is OutcomeUnknown and its retry
waits out the ERP's execution limit (function_app.py explains the timing and the lock renewal).
"""
from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from order_integration.contracts import dump_json, load_json, validate
from order_integration.errors import OutcomeUnknown, PermanentError, TargetRejected, TargetUnavailable
from order_integration.first_delivery import DuplicateDetection, is_provably_first
from order_integration.http_clients import TargetApi
from order_integration.mapping import ErpDefaults, to_erp_sales_order
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


class ErpApi:
    """The two ERP calls of this integrator (Business Central API v2.0 shapes).

    `unknown_outcome_wait` (seconds) is how long a create whose answer was lost may still be running
    in the ERP; the retry that follows waits at least that long before it looks the order up.
    """

    def __init__(self, target: TargetApi, *, unknown_outcome_wait: float) -> None:
        self._target = target
        self.unknown_outcome_wait = unknown_outcome_wait

    def find_sales_orders(self, external_document_number: str, *, correlation_id: str | None) -> list[dict]:
        """Sales orders (with lines) whose externalDocumentNumber is the ECP order id."""
        quoted = external_document_number.replace("'", "''")  # OData string literal escaping
        body = self._collection_call(
            "GET",
            params={"$filter": f"externalDocumentNumber eq '{quoted}'", "$expand": "salesOrderLines"},
            correlation_id=correlation_id,
        )
        found = body.get("value") if isinstance(body, dict) else None
        if not isinstance(found, list):
            raise TargetUnavailable("ERP answered GET /salesOrders without a 'value' array")
        return found

    def create_sales_order(self, sales_order: bytes, *, correlation_id: str | None) -> dict:
        """Deep insert: the header and its salesOrderLines in one request, so never one without the other."""
        created = self._collection_call(
            "POST",
            content=sales_order,
            correlation_id=correlation_id,
            unknown_outcome_retry_after=self.unknown_outcome_wait,
        )
        return created if isinstance(created, dict) else {}

    def _collection_call(self, method: str, **kwargs: Any) -> Any:
        """A call on `/salesOrders`, which always exists: a 404 there is a wrong ERP_BASE_URL, not a bad order."""
        try:
            return self._target.call(method, "/salesOrders", **kwargs)
        except TargetRejected as error:
            if error.status_code != 404:
                raise
            # Like 401/403, ops fixes this in the app settings; retrying keeps the orders while the
            # queue backlog alert draws attention, instead of parking every order as TargetRejected.
            raise TargetUnavailable(
                f"ERP answered HTTP 404 on {method} /salesOrders, the collection every sales order lives in: "
                "ERP_BASE_URL probably points at the wrong API, company or environment; fix the app setting"
            ) from error


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
    sales_order = to_erp_sales_order(order, defaults)
    validate("erp-sales-order", sales_order)
    if not is_provably_first(message, order, duplicate_detection):
        _wait_out_earlier_deliveries(message, now=now, erp_wait=timedelta(seconds=erp.unknown_outcome_wait))
        existing = erp.find_sales_orders(sales_order["externalDocumentNumber"], correlation_id=message.correlation_id)
        if existing:
            _require_complete(existing, sales_order)
            log.log(logging.INFO, "ERP sales order %s already exists; nothing to do", existing[0].get("number"))
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


def _require_complete(existing: list[dict], wanted: Mapping[str, Any]) -> None:
    """Accept exactly one existing order with the goods lines we would have created; raise otherwise."""
    number = str(wanted["externalDocumentNumber"])
    if len(existing) > 1:
        raise ExistingOrderMismatch(external_document_number=number, detail=f"exist {len(existing)} times")
    have = _goods(existing[0].get("salesOrderLines") or [])
    want = _goods(wanted["salesOrderLines"])
    if have != want:
        raise ExistingOrderMismatch(
            external_document_number=number,
            detail=(
                f"exists but is incomplete: it has {sum(have.values())} item/account lines, the order needs "
                f"{sum(want.values())}, and their numbers or quantities differ"
            ),
        )


# Comment lines carry no goods; and Business Central answers every property of every line (a Comment
# line has quantity 0 and lineObjectNumber ""), while our request leaves them out.
# https://learn.microsoft.com/dynamics365/business-central/dev-itpro/api-reference/v2.0/resources/dynamics_salesorderline
_GOODS_LINE_TYPES = frozenset({"Item", "Account"})


def _goods(lines: list[Mapping[str, Any]]) -> Counter[tuple[str, str, Decimal]]:
    """Item and Account lines by (type, number, quantity): what must match for an order to be complete."""
    return Counter(
        (str(line["lineType"]), str(line.get("lineObjectNumber") or "").upper(), _quantity(line.get("quantity")))
        for line in lines
        if line.get("lineType") in _GOODS_LINE_TYPES
    )


def _quantity(value: Any) -> Decimal:
    """A line quantity as an exact number; absent counts as 0, as Business Central stores it."""
    try:
        return Decimal(str(value if value is not None else 0)).normalize()
    except InvalidOperation:
        return Decimal(-1)  # not a number: never equal to what we send
