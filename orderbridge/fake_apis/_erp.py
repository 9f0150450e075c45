"""A fake ERP modelled on Business Central API v2.0 `salesOrders` with `salesOrderLines`."""
from __future__ import annotations

import copy
import itertools
import re
from typing import Any, Callable

from orderbridge.fake_apis._server import FakeApiServer, Latency, RecordedRequest, Reply, error_reply

_FILTER = re.compile(r"^externalDocumentNumber eq '((?:[^']|'')*)'$")
_STATE_PATH = re.compile(r"^/salesOrders/([^/]+)/state$")


class FakeErp(FakeApiServer):
    """In-memory sales orders behind the ERP endpoints of the contracts.

    GET  /salesOrders?$filter=externalDocumentNumber eq '{id}'&$expand=salesOrderLines
    POST /salesOrders                         deep insert, 201 with the created order and lines
    GET  /salesOrders/{salesOrderId}/state    the state the ERP events processor fetches

    Like the real ERP it does not enforce unique externalDocumentNumbers. `validate`, when given,
    returns a message for a body the ERP should refuse with 400 (e.g. a JSON Schema check).
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
    ) -> None:
        super().__init__(api_key=api_key, latency=latency)
        self._validate = validate
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
        """Store a sales order as is (e.g. an incomplete one), as if someone had created it."""
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
        problem = _structural_problem(body) or (self._validate(body) if self._validate else None)
        if problem:
            return error_reply(400, "BadRequest", problem)
        # Copied so the recorded request keeps the body exactly as it was sent.
        return Reply(201, self._store(copy.deepcopy(body)))

    def _store(self, order: dict[str, Any]) -> dict[str, Any]:
        number = next(self._numbers)
        order.setdefault("id", f"so-{number}")
        order.setdefault("number", f"SO{number}")
        order.setdefault("status", "Open")
        for line in order.get("salesOrderLines", []):
            line.setdefault("id", f"{order['id']}-{line.get('sequence', 0)}")
            line.setdefault("documentId", order["id"])
        self._orders.append(order)
        return order


def _structural_problem(body: Any) -> str | None:
    """The checks a deep insert fails on in any ERP: no header fields or no lines."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    for name in ("externalDocumentNumber", "customerNumber"):
        if not body.get(name):
            return f"{name} is required"
    lines = body.get("salesOrderLines")
    if not isinstance(lines, list) or not lines:
        return "salesOrderLines must be a non-empty array (deep insert)"
    return None
