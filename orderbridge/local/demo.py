"""`orderbridge local demo`: place N orders through the shop, wait until each is settled, sum up.

Settled: the order is in the ERP with all its updates back in the shop, or it is parked or
dead-lettered with a reason. The summary is counted by looking in every place an order can be
(accounting), so `lost` is what no place holds. `--resume` continues a killed demo in the same
state dir: the orders it had placed are not placed again, and the summary covers both runs.
"""
from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from orderbridge.local import accounting
from orderbridge.local.ecp import ORDERS as ECP_ORDERS
from orderbridge.local.orders import demo_orders
from orderbridge.local.stack import LocalStack
from topology import PIPELINES

POLL_WALL_SECONDS = 0.25
DEMO_ORDER_PREFIX = "ord-demo-"


@dataclass(frozen=True)
class DemoOptions:
    """What to place, and how long to wait (wall seconds) before giving up on unsettled orders."""

    orders: int
    poison_rate: float = 0.0
    timeout_seconds: float = 600.0


async def run_demo(stack: LocalStack, options: DemoOptions, progress: Callable[[int, int], None]) -> dict[str, Any]:
    """Place the orders not placed yet, wait until all are settled (or the timeout), and summarize."""
    started_wall, started_sim = time.monotonic(), stack.clock.now()
    already = _placed_ids(stack)
    to_place = demo_orders(len(already) + 1, max(options.orders - len(already), 0), placed_at=stack.clock.now,
                           poison_rate=options.poison_rate, seed=stack.options.seed)
    # Off the event loop: it also serves Event Grid, which must not stall while the shop takes orders.
    await asyncio.to_thread(lambda: [stack.ecp.place(order.body) for order in to_place])
    poison = {accounting.canonical(o.order_id) for o in demo_orders(
        1, options.orders, placed_at=stack.clock.now, poison_rate=options.poison_rate, seed=stack.options.seed) if o.poison}
    deadline = time.monotonic() + options.timeout_seconds
    while True:
        ledger = await asyncio.to_thread(read_ledger, stack)
        progress(len(ledger.placed) - len(ledger.unsettled), len(ledger.placed))
        if not ledger.unsettled or time.monotonic() > deadline:
            break
        await asyncio.sleep(POLL_WALL_SECONDS)
    return await asyncio.to_thread(
        summarize, stack, ledger, poison, wall_seconds=time.monotonic() - started_wall,
        simulated_seconds=(stack.clock.now() - started_sim).total_seconds(),
    )


def _placed_ids(stack: LocalStack, prefix: str = DEMO_ORDER_PREFIX) -> set[str]:
    return {order_id for order_id, _ in stack.documents.all(ECP_ORDERS) if order_id.startswith(prefix)}


def read_ledger(stack: LocalStack, prefix: str = DEMO_ORDER_PREFIX) -> accounting.Ledger:
    """Where every order placed with an id starting with `prefix` is now, read from every place."""
    placed = {accounting.canonical(i) for i in _placed_ids(stack, prefix)}
    # Posted orders live on as posted invoices, as in Business Central.
    erp_ids = {accounting.canonical(o.get("externalDocumentNumber"))
               for o in (*stack.erp.sales_orders, *stack.erp.posted_invoices)}
    history = {accounting.canonical(k): [v for v, _ in entries] for k, entries in stack.ecp.version_history().items()}
    latest_erp = {k: max(v for v, _ in changes) for k, changes in stack.erp.lifecycle.changes().items()}
    pipeline_of_topic = {p.topic_name: p.key for p in PIPELINES}
    containers = {s.dead_letter_container: pipeline_of_topic[s.topic] for s in stack.event_grid.topology.subscriptions}
    set_aside = [
        entry
        for entry in accounting.parked_and_dead_lettered(stack.broker)
        + accounting.event_grid_dead_letters(stack.azurite.connection_string, containers)
        if entry.order_id in placed
    ]
    ledger = accounting.Ledger(
        placed=placed,
        in_erp=placed & erp_ids,
        updates_applied={k for k in placed if (history.get(k) or [None])[-1] == accounting.FINAL_VERSION},
        set_aside=set_aside,
        duplicate_erp_orders={k: n for k, n in stack.erp.duplicates().items() if k in placed},
        regressed=set(),
        erp_done=stack.erp.lifecycle.in_flight == 0 and stack.erp.outbox_pending == 0,
    )
    still_travelling = ledger.unsettled | ledger.updates_set_aside
    ledger.regressed = {
        k for k in placed & ledger.in_erp
        if _regressed(history.get(k, []), latest_erp.get(k, 0), excused=k in still_travelling)
    }
    return ledger


def _regressed(versions: list[Any], erp_latest: int, *, excused: bool) -> bool:
    """Whether the shop's version of an order ever went down, or ends below the ERP's last version.

    An order still on its way, or with an update set aside (parked with its reason), is excused from
    the second rule: that update has not arrived, and the summary says where it is. A version that is not a number is
    counted as a regression: the shop holds something the ERP never sent.
    """
    if any(not isinstance(v, int) for v in versions):
        return True
    went_down = any(later < earlier for earlier, later in zip(versions, versions[1:]))
    return went_down or (not excused and (versions[-1] if versions else 0) < erp_latest)


def summarize(stack: LocalStack, ledger: accounting.Ledger, poison: set[str], *, wall_seconds: float,
              simulated_seconds: float) -> dict[str, Any]:
    """The demo's summary: the keys of `--json`, counted from the ledger."""
    placed_at = {accounting.canonical(k): order.get("createdAt") for k, order in stack.documents.all(ECP_ORDERS)}
    to_erp = _latencies(placed_at, stack.erp.created_at())
    changes = stack.erp.lifecycle.changes()
    applied = stack.ecp.version_history()
    to_ecp = [
        _seconds(at_erp, at_ecp)
        for order_id, entries in applied.items()
        for version, at_ecp in entries
        for erp_version, at_erp in changes.get(accounting.canonical(order_id), [])
        if erp_version == version
    ]
    billable = stack.logic_apps.history.billable_executions()
    placed = max(len(ledger.placed), 1)
    return {
        "placed": len(ledger.placed),
        "in_erp": len(ledger.in_erp),
        "updates_applied": len(ledger.updates_applied),
        "poison": len(poison & ledger.placed),
        "poison_set_aside": len(poison & ledger.set_aside_ids),
        "dead_lettered": ledger.dead_lettered(),
        "lost": len(ledger.lost),
        "lost_ids": sorted(ledger.lost)[:20],
        "unsettled": len(ledger.unsettled),
        "duplicate_erp_orders": sum(n - 1 for n in ledger.duplicate_erp_orders.values()),
        "regressed_ecp_orders": len(ledger.regressed),
        "latency_seconds": {"order_to_erp": _percentiles(to_erp), "erp_update_to_ecp": _percentiles(to_ecp)},
        "throughput": {
            "orders_in_erp_per_simulated_minute": round(len(ledger.in_erp) / max(simulated_seconds / 60, 1e-9), 2),
            "orders_settled_per_wall_second": round((len(ledger.placed) - len(ledger.unsettled)) / max(wall_seconds, 1e-9), 2),
        },
        "billable_executions_per_order": {
            p.workflow_name: round(billable.get(p.workflow_name, 0) / placed, 2) for p in PIPELINES
        },
        "wall_seconds": round(wall_seconds, 1),
        "simulated_seconds": round(simulated_seconds, 1),
        "time_scale": stack.clock.time_scale,
    }


def failed(summary: dict[str, Any]) -> bool:
    """Whether the demo broke a promise: something lost, duplicated, regressed, or never settled."""
    return bool(summary["lost"] or summary["duplicate_erp_orders"] or summary["regressed_ecp_orders"]
                or summary["unsettled"])


def _latencies(start: dict[str, Any], end: dict[str, str]) -> list[float]:
    return [_seconds(start[k], at) for k, at in end.items() if isinstance(start.get(k), str)]


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 1), "p95": round(p95, 1), "max": round(ordered[-1], 1)}
