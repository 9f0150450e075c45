"""The local stack under load: the 1,000-order reliability run, and throughput against its limits.

    .venv/bin/python benchmarks/bench_local_stack.py [--orders 1000] [--time-scale 300]

Run 1 is the reliability bar of the local-stack issue: 1,000 orders, a 1,200 s ERP outage, 10 %
failing fetches, 5 % duplicate events, 2 % poison orders. It prints the demo's summary figures:
lost, duplicates, regressions, latencies (simulated seconds), throughput, billable executions.

Run 2 has no faults and 50 ms (simulated) on every ERP request. It measures how fast orders reach
the ERP (creates per wall second, first to last) and compares that with the lower of two limits:
- the configuration's: trigger concurrency × events per run against the fetch latency, and the
  Functions host's `maxConcurrentCalls` against the ERP latency × ERP requests per order;
- the CPU ceiling: CPU seconds per order, measured over the whole run (this process and Azurite),
  against 2 cores.
Every figure comes from this one run; nothing is compared with a number from elsewhere.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "integrator_func")]

from orderbridge.local.demo import DemoOptions, run_demo  # noqa: E402
from orderbridge.local.functions import read_host_json  # noqa: E402
from orderbridge.local.stack import Faults, LocalStack, StackOptions  # noqa: E402
from topology import ECP_TO_ERP  # noqa: E402

CORES = 2


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


async def _run(state_dir: Path, time_scale: float, faults: Faults, demo: DemoOptions) -> tuple[dict[str, Any], LocalStack, dict[str, float]]:
    measured: dict[str, float] = {}
    async with LocalStack(StackOptions(state_dir=state_dir, time_scale=time_scale, faults=faults)) as stack:
        measured["fetch_wall_seconds"] = await asyncio.to_thread(_fetch_latency, stack)
        samples: list[tuple[float, float, int]] = []  # (wall, CPU seconds, ERP orders created), at each poll

        def sample(done: int, total: int) -> None:
            samples.append((time.monotonic(), _cpu_seconds(), len(stack.erp.created_at())))

        wall = time.monotonic()
        summary = await run_demo(stack, demo, sample)
        measured["wall_seconds"] = time.monotonic() - wall
        measured.update(_creation_window(samples))
        measured["erp_requests"] = float(sum(1 for r in stack.erp.requests if r.path in _INTEGRATOR_PATHS))
        measured["creates"] = float(len(stack.erp.created_at()))
        return summary, stack, measured


# What the ERP integrator asks of the ERP: the look-ups (open orders, posted invoices) and the create.
_INTEGRATOR_PATHS = {"/salesOrders", "/salesInvoices"}


def _creation_window(samples: list[tuple[float, float, int]]) -> dict[str, float]:
    """Orders created, wall seconds and CPU seconds between the first poll that saw a create and the
    first that saw the last one: the window in which the ECP -> ERP pipeline ran flat out."""
    final = samples[-1][2]
    start = next(s for s in samples if s[2] > 0)
    end = next(s for s in samples if s[2] == final)
    return {"window_creates": float(end[2] - start[2]), "window_wall": end[0] - start[0], "window_cpu": end[1] - start[1]}


def _fetch_latency(stack: LocalStack) -> float:
    """Median wall time of a fetch from the fake ECP, as the workflow makes it (one order, 30 times)."""
    stack.ecp.put_order({"id": "bench-probe"})
    with httpx.Client(base_url=stack.ecp.base_url, headers={"X-Api-Key": stack.ecp.api_key}) as client:
        timings = []
        for _ in range(30):
            started = time.perf_counter()
            client.get("/orders/bench-probe").raise_for_status()
            timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def _configuration_limit(stack: LocalStack, measured: dict[str, float], erp_latency_wall: float) -> dict[str, float]:
    """Orders per wall second each stage allows, from the synthesized configuration and the measured latencies."""
    workflow = next(w for w in stack.workflows if w.name == ECP_TO_ERP.workflow_name)
    trigger = next(iter(workflow.definition["triggers"].values()))
    runs = trigger.get("runtimeConfiguration", {}).get("concurrency", {}).get("runs", 1)
    batch = next(s.max_events_per_batch for s in stack.event_grid.topology.subscriptions if s.topic == ECP_TO_ERP.topic_name)
    fetch_stage = runs * batch / max(measured["fetch_wall_seconds"], 1e-9)
    host = read_host_json(REPO / "integrator_func" / "host.json")
    requests_per_order = measured["erp_requests"] / max(measured["creates"], 1)
    erp_stage = host.max_concurrent_calls / max(erp_latency_wall * requests_per_order, 1e-9)
    return {"trigger_runs": runs, "events_per_run": batch, "fetch_stage": fetch_stage,
            "max_concurrent_calls": host.max_concurrent_calls, "erp_requests_per_order": requests_per_order,
            "erp_stage": erp_stage}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--time-scale", type=float, default=300.0, help="for the reliability run")
    parser.add_argument("--throughput-time-scale", type=float, default=10.0, help="for the throughput run")
    args = parser.parse_args()
    with TemporaryDirectory() as first, TemporaryDirectory() as second:
        faults = Faults(erp_outage_seconds=1200, ecp_error_rate=0.1, duplicate_rate=0.05)
        reliability, _, measured = asyncio.run(_run(
            Path(first), args.time_scale, faults, DemoOptions(orders=args.orders, poison_rate=0.02, timeout_seconds=1800)))
        print(f"Run 1: {args.orders} orders, 1,200 s ERP outage, 10 % failing fetches, 5 % duplicates, 2 % poison,"
              f" time scale {args.time_scale:g}")
        print(f"  wall time {measured['wall_seconds']:.1f} s")
        for key in ("placed", "in_erp", "updates_applied", "poison", "poison_set_aside", "lost", "unsettled",
                    "duplicate_erp_orders", "regressed_ecp_orders", "dead_lettered", "latency_seconds", "throughput",
                    "billable_executions_per_order"):
            print(f"  {key}: {json.dumps(reliability[key])}")

        erp_latency_ms = 50.0
        throughput, stack, measured = asyncio.run(_run(
            Path(second), args.throughput_time_scale, Faults(erp_latency_ms=erp_latency_ms),
            DemoOptions(orders=args.orders, timeout_seconds=1800)))
        erp_latency_wall = erp_latency_ms / 1000 / args.throughput_time_scale
        limits = _configuration_limit(stack, measured, erp_latency_wall)
        rate = measured["window_creates"] / max(measured["window_wall"], 1e-9)
        cpu_per_order = measured["window_cpu"] / max(measured["window_creates"], 1)
        cpu_ceiling = CORES / cpu_per_order
        lower = min(limits["fetch_stage"], limits["erp_stage"], cpu_ceiling)
        print(f"Run 2: {args.orders} orders, no faults, ERP latency {erp_latency_ms:g} ms (simulated),"
              f" time scale {args.throughput_time_scale:g}")
        print(f"  settled {throughput['placed'] - throughput['unsettled']} of {throughput['placed']}, lost"
              f" {throughput['lost']}, wall time {measured['wall_seconds']:.1f} s")
        print(f"  orders into the ERP: {rate:.1f} per wall second ({measured['window_creates']:.0f} creates in"
              f" {measured['window_wall']:.1f} s, while the ERP lifecycle and the way back ran too)")
        print(f"  configuration limit, fetch stage: {limits['trigger_runs']} runs x {limits['events_per_run']} event(s)"
              f" / {measured['fetch_wall_seconds'] * 1000:.1f} ms = {limits['fetch_stage']:.0f} orders/s")
        print(f"  configuration limit, ERP stage: {limits['max_concurrent_calls']} calls / ({erp_latency_wall * 1000:.1f} ms"
              f" x {limits['erp_requests_per_order']:.2f} requests) = {limits['erp_stage']:.0f} orders/s")
        print(f"  CPU ceiling: {cpu_per_order * 1000:.1f} ms CPU per order created (all parts, both directions, in that"
              f" window) against {CORES} cores ="
              f" {cpu_ceiling:.1f} orders/s")
        print(f"  measured / lower limit = {rate:.1f} / {lower:.1f} = {rate / lower:.2f} (aim: >= 0.8)")
        print(f"  latency (simulated s): {json.dumps(throughput['latency_seconds'])}")


if __name__ == "__main__":
    main()
