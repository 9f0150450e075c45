"""A fake ECP (e-commerce platform) order API."""
from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import unquote

from orderbridge.fake_apis._server import FakeApiServer, Latency, RecordedRequest, Reply, error_reply

_ORDER_PATH = re.compile(r"^/orders/([^/]+)$")


class FakeEcp(FakeApiServer):
    """In-memory ECP orders behind the ECP endpoints of the contracts.

    GET   /orders/{id}   the ECP order
    PATCH /orders/{id}   merge an `ecp-order-update` into the order (top-level keys replaced), 200

    Order ids are matched ignoring case, as the contract requires of the ECP (integrator_func/README.md):
    Business Central hands `ord-100045` back as `ORD-100045`. Values are stored as sent (a PATCHed
    `5.0` stays `5.0`), as a real ECP may do.
    """

    name = "fake-ecp"

    def __init__(self, *, api_key: str, latency: Latency = 0.0) -> None:
        super().__init__(api_key=api_key, latency=latency)
        self._orders: dict[str, dict[str, Any]] = {}

    def put_order(self, order: dict[str, Any]) -> None:
        """Store (or replace) an order under its `id`."""
        with self._lock:
            self._orders[_key(order["id"])] = copy.deepcopy(order)

    def order(self, order_id: str) -> dict[str, Any]:
        """A copy of the stored order (its id in any case); KeyError if there is none."""
        with self._lock:
            return copy.deepcopy(self._orders[_key(order_id)])

    def route(self, request: RecordedRequest) -> Reply:
        match = _ORDER_PATH.match(request.path)
        if not match or request.method not in ("GET", "PATCH"):
            return error_reply(404, "NotFound", f"no route {request.method} {request.path}")
        order_id = unquote(match.group(1))
        order = self._orders.get(_key(order_id))
        if order is None:
            return error_reply(404, "NotFound", f"order {order_id} does not exist")
        if request.method == "PATCH":
            if not isinstance(request.body, dict):
                return error_reply(400, "BadRequest", "the body must be a JSON object")
            order.update(copy.deepcopy(request.body))
        return Reply(200, copy.deepcopy(order))


def _key(order_id: str) -> str:
    """ECP order ids are unique ignoring case; ASCII upper case as the contracts' id pattern allows."""
    return order_id.upper()
