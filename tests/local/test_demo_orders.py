"""The demo's orders: clean ones meet the contract, poison ones break it, and both repeat."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from jsonschema import Draft202012Validator, FormatChecker

from orderbridge.local.orders import SCHEMA, demo_orders

VALIDATOR = Draft202012Validator(json.loads(SCHEMA.read_text()), format_checker=FormatChecker())
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=timezone.utc)


def test_clean_orders_meet_the_contract_and_poison_ones_break_it() -> None:
    orders = demo_orders(1, 200, placed_at=lambda: NOW, poison_rate=0.1, seed=3)
    poison = [order for order in orders if order.poison]
    assert 5 <= len(poison) <= 40
    assert all(VALIDATOR.is_valid(order.body) for order in orders if not order.poison)
    assert not any(VALIDATOR.is_valid(order.body) for order in poison)
    assert len({order.order_id for order in orders}) == 200


def test_a_resumed_demo_draws_the_same_orders() -> None:
    whole = demo_orders(1, 50, placed_at=lambda: NOW, poison_rate=0.2, seed=9)
    tail = demo_orders(31, 20, placed_at=lambda: NOW, poison_rate=0.2, seed=9)
    assert [(o.order_id, o.poison) for o in whole[30:]] == [(o.order_id, o.poison) for o in tail]
