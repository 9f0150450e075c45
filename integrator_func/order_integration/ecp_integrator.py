"""ERP sales order state message (`order-updates`, one session per ECP order) → ECP order update.

validate → map → read the ECP order → PATCH only if the update is newer. `erpChangeVersion` makes
it idempotent and keeps the ECP from regressing when an older state arrives late (for example a
scheduled retry overtaken by a newer change).
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from order_integration.contracts import dump_json, load_json, validate
from order_integration.errors import PermanentError, TargetRejected, TargetUnavailable
from order_integration.http_clients import TargetApi
from order_integration.mapping import to_ecp_order_update
from order_integration.messages import InboundMessage, LogContext, MessageOutcome


class OrderNotFound(PermanentError):
    """The ECP has no order with the id the ERP state names (its externalDocumentNumber)."""

    reason = "OrderNotFound"

    def __init__(self, *, order_id: str) -> None:
        self.order_id = order_id
        super().__init__(
            f"ECP answered HTTP 404 for order {order_id!r}: either the ERP sales order names an ECP order that "
            "does not exist (check its externalDocumentNumber in the ERP) or ECP_BASE_URL points at the wrong "
            "ECP API or environment (check the app setting); fix the cause, then replay this message"
        )


class EcpApi:
    """The two ECP calls of this integrator."""

    def __init__(self, target: TargetApi) -> None:
        self._target = target

    def get_order(self, order_id: str, *, correlation_id: str | None) -> dict[str, Any]:
        """The ECP order as the ECP holds it now."""
        try:
            order = self._target.call("GET", f"/orders/{quote(order_id, safe='')}", correlation_id=correlation_id)
        except TargetRejected as error:
            if error.status_code == 404:
                raise OrderNotFound(order_id=order_id) from error
            raise
        if not isinstance(order, dict):
            raise TargetUnavailable(f"ECP answered GET /orders/{order_id} without an order object")
        return order

    def update_order(self, order_id: str, update: bytes, *, correlation_id: str | None) -> None:
        """Apply an `ecp-order-update` to the order."""
        path = f"/orders/{quote(order_id, safe='')}"
        self._target.call("PATCH", path, content=update, correlation_id=correlation_id)


def integrate(message: InboundMessage, *, ecp: EcpApi, log: LogContext) -> MessageOutcome:
    """Apply the message's ERP state to its ECP order unless the ECP already has it or newer."""
    message.check_data_version()
    state = load_json(message.body)
    validate("erp-sales-order-state", state)
    update = to_ecp_order_update(state)
    validate("ecp-order-update", update)
    order_id = str(state["externalDocumentNumber"])
    current = ecp.get_order(order_id, correlation_id=message.correlation_id)
    have = current.get("erpChangeVersion")
    if isinstance(have, int) and update["erpChangeVersion"] <= have:
        log.log(
            logging.INFO,
            "skipped ERP change %s: the ECP order already has change %s",
            update["erpChangeVersion"],
            have,
        )
        return MessageOutcome.SKIPPED_STALE
    ecp.update_order(order_id, dump_json(update).encode(), correlation_id=message.correlation_id)
    log.log(logging.INFO, "applied ERP change %s to the ECP order", update["erpChangeVersion"])
    return MessageOutcome.APPLIED
