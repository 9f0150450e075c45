"""The whole topology on one machine: orders through both pipelines, under faults, and across a kill.

One stack serves the module (its start costs a few seconds); each test places its own orders and
looks only at them, turning its fault on for them alone. The kill-and-resume test runs the CLI in
a subprocess, because only a separate process can be SIGKILLed as a crash would.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from orderbridge.local import accounting, state
from orderbridge.local.demo import read_ledger
from orderbridge.local.orders import POISONS, example_order
from orderbridge.local.stack import LocalStack, StackOptions
from topology import ECP_TO_ERP

pytestmark = pytest.mark.xdist_group("local-stack")
TIME_SCALE = 300.0  # the ERP's working day (3 simulated minutes) in 0.6 s; Event Grid's 10 s retry in 33 ms
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A running local stack of the dev stack, in a thread of its own with its event loop."""
    ready, stop = threading.Event(), threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        try:
            async with LocalStack(StackOptions(state_dir=tmp_path_factory.mktemp("stack"), time_scale=TIME_SCALE)) as s:
                holder["stack"] = s
                ready.set()
                while not stop.is_set():
                    await asyncio.sleep(0.05)
        except BaseException as error:  # reported to the test, not swallowed
            holder["error"] = error
            ready.set()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="local-stack")
    thread.start()
    ready.wait(timeout=60)
    if "error" in holder:
        raise holder["error"]
    yield holder["stack"]
    stop.set()
    thread.join(timeout=30)


def _order(order_id: str, **changes: Any) -> dict[str, Any]:
    order = example_order()
    order.update(id=order_id, number=f"WEB-{order_id}", createdAt="2026-12-03T09:00:00Z", **changes)
    order.pop("updatedAt", None)
    return order


def _settled(stack: LocalStack, ids: set[str], timeout: float = 30.0) -> accounting.Ledger:
    """The ledger once every order in `ids` is settled; fails naming the ones that are not."""
    wanted = {accounting.canonical(i) for i in ids}
    deadline = time.monotonic() + timeout
    while True:
        ledger = read_ledger(stack, prefix="")
        if not (ledger.unsettled & wanted) and wanted <= ledger.placed:
            return ledger
        assert time.monotonic() < deadline, f"not settled: {sorted(ledger.unsettled & wanted)}"
        time.sleep(0.1)


def test_an_order_placed_by_hand_reaches_the_erp_and_its_updates_come_back(stack: LocalStack) -> None:
    endpoints = json.loads((stack.state_dir / state.ENDPOINTS).read_text())
    placed = httpx.post(f"{endpoints['ecp']['base_url']}/orders", json=_order("ord-e2e-1"),
                        headers={"X-Api-Key": endpoints["ecp"]["api_key"]})
    assert placed.status_code == 201
    ledger = _settled(stack, {"ord-e2e-1"})
    [created] = [o for o in stack.erp.requests if o.method == "POST" and o.body["externalDocumentNumber"] == "ord-e2e-1"]
    assert created.body["customerNumber"] == "WEB-DEV" and len(created.body["salesOrderLines"]) >= 2
    shop_order = stack.ecp.order("ord-e2e-1")
    assert shop_order["erpChangeVersion"] == accounting.FINAL_VERSION and shop_order["paymentStatus"] == "paid"
    assert shop_order["shipments"][0]["carrier"] and shop_order["status"] == "completed"
    assert [v for v, _ in stack.ecp.version_history()["ord-e2e-1"]] == [1, 2, 3, 4]
    assert "ORD-E2E-1" in ledger.in_erp and not ledger.set_aside_ids & {"ORD-E2E-1"}


def test_an_erp_outage_delays_orders_but_loses_none(stack: LocalStack) -> None:
    stack.erp.outage(begins=stack.clock.now(), seconds=300)  # five simulated minutes of 503
    ids = {f"ord-outage-{n}" for n in range(5)}
    for order_id in sorted(ids):
        stack.ecp.place(_order(order_id))
    ledger = _settled(stack, ids)
    assert {accounting.canonical(i) for i in ids} <= ledger.in_erp & ledger.updates_applied
    assert any(r.path == "/salesOrders" and r.method == "POST" for r in stack.erp.requests)
    assert not ledger.duplicate_erp_orders and not ledger.regressed


def test_a_slow_erp_delays_orders_but_each_is_created_once(stack: LocalStack) -> None:
    slow = stack.clock.wall_seconds(30.0)  # 30 simulated seconds on every ERP request (0.1 s of wall time)
    stack.erp.latency = slow
    try:
        started = time.monotonic()
        httpx.get(f"{stack.erp.base_url}/salesOrders/none/state", headers={"X-Api-Key": stack.erp.api_key})
        assert time.monotonic() - started >= slow
        stack.ecp.place(_order("ord-slow-1"))
        ledger = _settled(stack, {"ord-slow-1"})
    finally:
        stack.erp.latency = 0.0
    assert "ORD-SLOW-1" in ledger.in_erp & ledger.updates_applied and not ledger.duplicate_erp_orders


def test_a_duplicate_event_creates_one_erp_order(stack: LocalStack) -> None:
    stack.ecp.place(_order("ord-dup-1"))
    stack.ecp.place(_order("ord-dup-1"))  # the shop announces it again, with a new event id
    ledger = _settled(stack, {"ord-dup-1"})
    assert [o["externalDocumentNumber"].upper() for o in stack.erp.sales_orders].count("ORD-DUP-1") <= 1
    assert "ORD-DUP-1" in ledger.in_erp and "ORD-DUP-1" not in ledger.duplicate_erp_orders


@pytest.mark.parametrize("poison", sorted(POISONS))
def test_a_poison_order_is_parked_with_its_reason(stack: LocalStack, poison: str) -> None:
    order = _order(f"ord-poison-{poison}")
    POISONS[poison](order)
    stack.ecp.place(order)
    ledger = _settled(stack, {order["id"]})
    [entry] = [e for e in ledger.set_aside if e.order_id == accounting.canonical(order["id"])]
    assert entry.place.startswith("parking queue") and entry.reason == "SchemaViolation"
    assert accounting.canonical(order["id"]) not in ledger.in_erp


def test_failing_fetches_are_retried_by_event_grid(stack: LocalStack) -> None:
    stack.ecp.fail_fetches(0.5, seed=11)
    try:
        ids = {f"ord-flaky-{n}" for n in range(4)}
        for order_id in sorted(ids):
            stack.ecp.place(_order(order_id))
        ledger = _settled(stack, ids)
    finally:
        stack.ecp.clear_faults()
    assert {accounting.canonical(i) for i in ids} <= ledger.in_erp & ledger.updates_applied
    fetches = [r for r in stack.ecp.requests if r.method == "GET" and r.path.removeprefix("/orders/") in ids]
    assert len(fetches) > len(ids), "no fetch failed, so no retry was exercised"


def _demo(state_dir: Path, *extra: str, timeout: float = 60.0) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "orderbridge.cli", "local", "demo", "--orders", "30", "--time-scale", "300",
               "--erp-outage", "120", "--duplicate-rate", "0.2", "--state-dir", str(state_dir), "--json",
               "--timeout", str(timeout), *extra]
    environment = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'integrator_func'}"}
    return subprocess.Popen(command, cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)


def _wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_demo_killed_mid_run_and_resumed_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    first = _demo(tmp_path)
    _wait_for(lambda: (tmp_path / state.ENDPOINTS).exists(), timeout=60)
    time.sleep(1.0)  # orders in flight in every part
    first.send_signal(signal.SIGKILL)  # the main process only, as in a crash
    first.wait()
    resumed = _demo(tmp_path, "--resume")
    out, _ = resumed.communicate(timeout=90)
    summary = json.loads(out)
    assert resumed.returncode == 0, summary
    assert (summary["placed"], summary["lost"], summary["duplicate_erp_orders"], summary["regressed_ecp_orders"]) == (
        30, 0, 0, 0)
    assert summary["in_erp"] == summary["updates_applied"] == 30


def test_the_run_history_lists_the_runs_and_shows_one_without_secrets(stack: LocalStack) -> None:
    from click.testing import CliRunner

    from orderbridge.cli import main

    stack.ecp.place(_order("ord-runs-1"))
    _settled(stack, {"ord-runs-1"})
    listing = CliRunner(env={"COLUMNS": "250"}).invoke(main, ["local", "runs", "--state-dir", str(stack.state_dir),
                                        "--workflow", "order-events-processor"], terminal_width=250)
    assert listing.exit_code == 0, listing.output
    assert "order-events-processor" in listing.output and "Succeeded" in listing.output
    [run] = [r for r in stack.logic_apps.history.runs(workflow="order-events-processor")
             if "ord-runs-1" in json.dumps(stack.logic_apps.history.run(r.run_id).actions)][:1]
    shown = CliRunner(env={"COLUMNS": "250"}).invoke(main, ["local", "runs", "--state-dir", str(stack.state_dir), "--run", run.run_id],
                               terminal_width=250)
    assert shown.exit_code == 0, shown.output
    assert "Get_order" in shown.output or "Send_order_to_queue" in shown.output
    assert stack.ecp.api_key not in shown.output and stack.bearer_token not in shown.output


def test_the_functions_and_an_operator_use_the_real_sdk_over_amqp_and_the_key_stays_out_of_the_log(
    stack: LocalStack,
) -> None:
    from azure.servicebus import ServiceBusClient

    endpoints = json.loads((stack.state_dir / state.ENDPOINTS).read_text())
    connection_string = endpoints["service_bus"]["connection_string"]
    assert connection_string.endswith(";UseDevelopmentEmulator=true")
    order = _order("ord-sdk-1")
    POISONS["no-lines"](order)  # the integrator parks it, sending over AMQP
    stack.ecp.place(order)
    _settled(stack, {"ord-sdk-1"})
    # What an operator does with orderbridge's tools: peek the parking queue with azure-servicebus.
    with ServiceBusClient.from_connection_string(connection_string) as client, \
            client.get_queue_receiver(ECP_TO_ERP.parking_queue_name) as receiver:
        parked = [m for m in receiver.peek_messages(max_message_count=50) if m.message_id == "ord-sdk-1+parked"]
    assert [(m.application_properties[b"reason"], m.application_properties[b"parkedBy"]) for m in parked] == [
        (b"SchemaViolation", ECP_TO_ERP.parked_by.encode())]
    # The functions received the order over AMQP: the front saw their deliveries settled.
    assert any(i.message_id == "ord-sdk-1" and i.outcome == "Completed" for i in stack.functions.invocations())
    key = dict(part.split("=", 1) for part in connection_string.split(";") if "=" in part)["SharedAccessKey"]
    assert key not in (stack.state_dir / "stack.log").read_text(encoding="utf-8")
