"""The demo's orders: the contract's own example, made distinct, and poison orders that break it.

A clean order is the `ecp-order` schema's example with its own id, number and `createdAt`, so it is
valid by construction and every integrator rule it meets is a real one. A poison order keeps a
valid id (the event that names it is fine) and breaks the order contract in one of a few ways a
shop's bug would; the pipeline must park or dead-letter it with its reason.
"""
from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "ecp-order.schema.json"


def _no_lines(order: dict[str, Any]) -> None:
    order["lines"] = []


def _no_currency(order: dict[str, Any]) -> None:
    del order["currency"]


def _negative_quantity(order: dict[str, Any]) -> None:
    order["lines"][0]["quantity"] = -2


POISONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "no-lines": _no_lines,
    "no-currency": _no_currency,
    "negative-quantity": _negative_quantity,
}


@dataclass(frozen=True)
class DemoOrder:
    """One order the demo places; `poison` names the contract it breaks, None for a clean one."""

    body: dict[str, Any]
    poison: str | None = None

    @property
    def order_id(self) -> str:
        return str(self.body["id"])


def example_order() -> dict[str, Any]:
    """The `ecp-order` contract's example."""
    return json.loads(SCHEMA.read_text(encoding="utf-8"))["examples"][0]


def demo_orders(first: int, count: int, *, placed_at: Callable[[], datetime], poison_rate: float, seed: int) -> list[DemoOrder]:
    """Orders number `first` .. `first + count - 1`; the same numbers and seed give the same orders."""
    template = example_order()
    orders = []
    for number in range(first, first + count):
        coin = random.Random(f"{seed}:{number}")  # per order, so a resumed demo draws the same
        body = copy.deepcopy(template)
        body["id"] = f"ord-demo-{number:06d}"
        body["number"] = f"WEB-D{number:06d}"
        body["createdAt"] = placed_at().isoformat()
        body.pop("updatedAt", None)
        poison = coin.choice(sorted(POISONS)) if coin.random() < poison_rate else None
        if poison:
            POISONS[poison](body)
        orders.append(DemoOrder(body, poison))
    return orders
