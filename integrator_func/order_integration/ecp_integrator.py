"""ERP sales order state message (`order-updates`, one session per ECP order) → ECP order update.

validate → map → check the session → read the ECP order → PATCH only if the update is newer.
`erpChangeVersion` makes it idempotent and keeps the ECP from regressing when an older state arrives
late (for example a scheduled retry overtaken by a newer change). Versions are compared as integers
whatever JSON form they take (`contracts.read_change_version`); one that cannot be read is parked.
The ECP order id is canonical in upper case: Business Central upper-cases Code fields, so one order
reaches us as `ord-100045` and `ORD-100045`; the session, the GET and the PATCH all use the one form.
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from order_integration.contracts import canonical_order_id, dump_json, load_json, read_change_version, validate
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


class SessionMismatch(PermanentError):
    """The message's SessionId is not the ECP order its body names, so its session does not serialise it."""

    reason = "SessionMismatch"

    def __init__(self, *, order_id: str) -> None:
        self.order_id = order_id
        super().__init__(
            f"the message's SessionId is not the ERP state's externalDocumentNumber {order_id!r} (compared "
            "ignoring case): only updates that share one session per ECP order are applied in order. The "
            f"erp-events-processor sets SessionId = toUpper(ecpOrderId); replay the message with SessionId {order_id!r}"
        )


class EcpOrderMismatch(PermanentError):
    """The ECP answered the GET of one order with another one."""

    reason = "OrderIdMismatch"

    def __init__(self, *, order_id: str) -> None:
        self.order_id = order_id
        super().__init__(
            f"ECP answered GET /orders/{order_id} with an order whose id is not {order_id!r} (compared ignoring "
            "case), so its erpChangeVersion says nothing about this order; check the ECP API behind ECP_BASE_URL "
            "(it must resolve order ids ignoring case), then replay this message"
        )


class UnreadableEcpChangeVersion(PermanentError):
    """The ECP order's stored erpChangeVersion is no version, so "newer" cannot be decided."""

    reason = "UnreadableEcpChangeVersion"

    def __init__(self, *, order_id: str, change_version: int, problem: str) -> None:
        self.order_id = order_id
        super().__init__(
            f"the ECP order {order_id!r} holds an erpChangeVersion that {problem}, so whether ERP change "
            f"{change_version} is newer cannot be decided and it is not applied; set the order's erpChangeVersion "
            "in the ECP to the version of the last ERP change it shows (a JSON integer), then replay this message"
        )


class EcpApi:
    """The two ECP calls of this integrator."""

    def __init__(self, target: TargetApi) -> None:
        self._target = target

    def get_order(self, order_id: str, *, correlation_id: str | None) -> dict[str, Any]:
        """The ECP order as the ECP holds it now; it must be the order asked for."""
        try:
            order = self._target.call("GET", _order_path(order_id), correlation_id=correlation_id)
        except TargetRejected as error:
            if error.status_code == 404:
                raise OrderNotFound(order_id=order_id) from error
            raise
        if not isinstance(order, dict):
            raise TargetUnavailable(f"ECP answered GET /orders/{order_id} without an order object")
        if canonical_order_id(order.get("id")) != order_id:
            raise EcpOrderMismatch(order_id=order_id)
        return order

    def update_order(self, order_id: str, update: bytes, *, correlation_id: str | None) -> None:
        """Apply an `ecp-order-update` to the order."""
        self._target.call("PATCH", _order_path(order_id), content=update, correlation_id=correlation_id)


def _order_path(order_id: str) -> str:
    return f"/orders/{quote(order_id, safe='')}"


def integrate(message: InboundMessage, *, ecp: EcpApi, log: LogContext) -> MessageOutcome:
    """Apply the message's ERP state to its ECP order unless the ECP already has it or newer."""
    message.check_data_version()
    state = load_json(message.body)
    validate("erp-sales-order-state", state)
    # The schema admits no form read_change_version refuses (tests/integrator/test_contracts.py); the
    # update carries the version as a JSON integer, whatever form the ERP wrote it in.
    version = read_change_version(state["changeVersion"])
    update = to_ecp_order_update({**state, "changeVersion": version})
    validate("ecp-order-update", update)
    order_id = _session_order_id(message, state)
    current = ecp.get_order(order_id, correlation_id=message.correlation_id)
    have = _stored_change_version(current, order_id=order_id, incoming=version)
    if have is not None and version <= have:
        log.log(logging.INFO, "skipped ERP change %s: the ECP order already has change %s", version, have)
        return MessageOutcome.SKIPPED_STALE
    ecp.update_order(order_id, dump_json(update).encode(), correlation_id=message.correlation_id)
    log.log(logging.INFO, "applied ERP change %s to the ECP order", version)
    return MessageOutcome.APPLIED


def _session_order_id(message: InboundMessage, state: dict[str, Any]) -> str:
    """The canonical ECP order id, once the SessionId is shown to name the same order as the body."""
    order_id = str(canonical_order_id(state["externalDocumentNumber"]))  # the schema's id pattern is ASCII
    if canonical_order_id(message.session_id) != order_id:
        raise SessionMismatch(order_id=order_id)
    return order_id


def _stored_change_version(current: dict[str, Any], *, order_id: str, incoming: int) -> int | None:
    """The ECP order's erpChangeVersion as an integer; None while no ERP change was applied."""
    stored = current.get("erpChangeVersion")
    if stored is None:
        return None
    try:
        return read_change_version(stored)
    except ValueError as error:
        raise UnreadableEcpChangeVersion(order_id=order_id, change_version=incoming, problem=str(error)) from error
