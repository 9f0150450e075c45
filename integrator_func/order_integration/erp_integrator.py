"""ECP order message (`online-orders`) → one ERP sales order, created once.

validate → map → look up by externalDocumentNumber → create with all lines in one deep insert.
The look-up makes a redelivered or replayed message harmless: an existing complete order is
success. The ERP does not enforce unique externalDocumentNumbers, so this is only safe while the
message lock is held; function_app.py explains how host.json guarantees that.
"""
from __future__ import annotations

import logging
from collections import Counter
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from order_integration.contracts import dump_json, load_json, validate
from order_integration.errors import PermanentError, TargetUnavailable
from order_integration.http_clients import TargetApi
from order_integration.mapping import ErpDefaults, to_erp_sales_order
from order_integration.messages import InboundMessage, LogContext, Outcome
from order_integration.redelivery import Pipeline

PIPELINE = Pipeline(parked_by="erp-integrator", queue="online-orders", parking_queue="online-orders-rejected")


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
    """The two ERP calls of this integrator (Business Central API v2.0 shapes)."""

    def __init__(self, target: TargetApi) -> None:
        self._target = target

    def find_sales_orders(self, external_document_number: str, *, correlation_id: str | None) -> list[dict]:
        """Sales orders (with lines) whose externalDocumentNumber is the ECP order id."""
        quoted = external_document_number.replace("'", "''")  # OData string literal escaping
        body = self._target.call(
            "GET",
            "/salesOrders",
            params={"$filter": f"externalDocumentNumber eq '{quoted}'", "$expand": "salesOrderLines"},
            correlation_id=correlation_id,
        )
        found = body.get("value") if isinstance(body, dict) else None
        if not isinstance(found, list):
            raise TargetUnavailable("ERP answered GET /salesOrders without a 'value' array")
        return found

    def create_sales_order(self, sales_order: bytes, *, correlation_id: str | None) -> dict:
        """Deep insert: the header and its salesOrderLines in one request, so never one without the other."""
        created = self._target.call("POST", "/salesOrders", content=sales_order, correlation_id=correlation_id)
        return created if isinstance(created, dict) else {}


def integrate(message: InboundMessage, *, erp: ErpApi, defaults: ErpDefaults, log: LogContext) -> Outcome:
    """Create the message's order in the ERP unless it is already there; raise typed errors otherwise."""
    message.check_data_version()
    order = load_json(message.body)
    validate("ecp-order", order)
    sales_order = to_erp_sales_order(order, defaults)
    validate("erp-sales-order", sales_order)
    number = sales_order["externalDocumentNumber"]
    existing = erp.find_sales_orders(number, correlation_id=message.correlation_id)
    if existing:
        _require_complete(existing, sales_order)
        log.log(logging.INFO, "ERP sales order %s already exists; nothing to do", existing[0].get("number"))
        return Outcome.ALREADY_PRESENT
    created = erp.create_sales_order(dump_json(sales_order).encode(), correlation_id=message.correlation_id)
    log.log(logging.INFO, "created ERP sales order %s", created.get("number"))
    return Outcome.CREATED


def _require_complete(existing: list[dict], wanted: Mapping[str, Any]) -> None:
    """Accept exactly one existing order with the lines we would have created; raise otherwise."""
    number = str(wanted["externalDocumentNumber"])
    if len(existing) > 1:
        raise ExistingOrderMismatch(external_document_number=number, detail=f"exist {len(existing)} times")
    have = Counter(_line_key(line) for line in existing[0].get("salesOrderLines") or [])
    want = Counter(_line_key(line) for line in wanted["salesOrderLines"])
    if have != want:
        raise ExistingOrderMismatch(
            external_document_number=number,
            detail=(
                f"exists but is incomplete: it has {sum(have.values())} lines, the order needs "
                f"{sum(want.values())}, and their items or quantities differ"
            ),
        )


def _line_key(line: Mapping[str, Any]) -> tuple[str, str, Decimal | None]:
    """What identifies a line across our request and the ERP's answer (descriptions may be cut)."""
    return (str(line.get("lineType")), str(line.get("lineObjectNumber") or ""), _decimal(line.get("quantity")))


def _decimal(value: Any) -> Decimal | None:
    try:
        return None if value is None else Decimal(str(value)).normalize()
    except InvalidOperation:
        return None
