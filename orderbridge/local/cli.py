"""`orderbridge local`: run the whole topology on this machine (up, demo) and read its run history (runs)."""
from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any, Callable

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from orderbridge.local import demo as demo_module
from orderbridge.local import state
from orderbridge.local.servicebus import servicebus_command
from orderbridge.local.stack import Faults, LocalStack, StackOptions


def _stack_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every `local` subcommand takes."""
    for option in reversed([
        click.option("--stack", default="dev", show_default=True, help="Stack whose desired state the local stack runs."),
        click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".orderbridge"),
                     show_default=True, help="Where queues, events, run history and the fakes' data live."),
        click.option("--resume", is_flag=True, help="Continue the run kept in the state dir instead of starting afresh."),
        click.option("--time-scale", type=click.FloatRange(min=1), default=1.0, show_default=True,
                     help="Run timers this many times faster (retry schedules, waits, the ERP's working day);"
                          " at least 1, as the SDKs check locks against the wall clock."),
    ]):
        command = option(command)
    return command


@click.group("local")
def local_group() -> None:
    """Run both pipelines on this machine, from the same definitions `pulumi up` deploys."""


local_group.add_command(servicebus_command)


@local_group.command("up")
@_stack_options
def up_command(stack: str, state_dir: Path, resume: bool, time_scale: float) -> None:
    """Run the stack until Ctrl-C, printing every endpoint (also in <state-dir>/endpoints.json)."""
    options = StackOptions(stack=stack, state_dir=state_dir, time_scale=time_scale, resume=resume)

    async def serve() -> None:
        stopped = _stop_on_signals()
        async with LocalStack(options) as running:
            _print_endpoints(running.endpoints(), state_dir)
            await stopped.wait()

    asyncio.run(serve())


@local_group.command("demo")
@_stack_options
@click.option("--orders", type=click.IntRange(min=1), default=200, show_default=True, help="Orders to place in all.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object on stdout.")
@click.option("--erp-outage", type=click.FloatRange(min=0), default=0.0, help="Seconds (simulated) the ERP answers 503.")
@click.option("--ecp-error-rate", type=click.FloatRange(0, 1), default=0.0, help="Share of fetches the ECP fails with 503.")
@click.option("--duplicate-rate", type=click.FloatRange(0, 1), default=0.0, help="Share of events the ECP publishes twice.")
@click.option("--poison-rate", type=click.FloatRange(0, 1), default=0.0, help="Share of orders that break the contract.")
@click.option("--erp-latency", type=click.FloatRange(min=0), default=0.0, help="Milliseconds (simulated) per ERP request.")
@click.option("--timeout", type=click.FloatRange(min=1), default=600.0, show_default=True,
              help="Wall seconds to wait for every order to settle.")
def demo_command(stack: str, state_dir: Path, resume: bool, time_scale: float, orders: int, as_json: bool,
                 erp_outage: float, ecp_error_rate: float, duplicate_rate: float, poison_rate: float,
                 erp_latency: float, timeout: float) -> None:
    """Start everything, place ORDERS orders through the fake ECP, wait until each is settled, and sum up.

    Exits 1 if any order was lost, duplicated in the ERP, went backwards in the ECP, or never settled.
    """
    faults = Faults(erp_outage_seconds=erp_outage, ecp_error_rate=ecp_error_rate, duplicate_rate=duplicate_rate,
                    erp_latency_ms=erp_latency)
    options = StackOptions(stack=stack, state_dir=state_dir, time_scale=time_scale, resume=resume, faults=faults)
    demo = demo_module.DemoOptions(orders=orders, poison_rate=poison_rate, timeout_seconds=timeout)
    errors = Console(stderr=True)
    with Progress(TextColumn("settled"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=errors, transient=True) as bar:
        task = bar.add_task("orders", total=orders)

        async def run() -> dict[str, Any]:
            async with LocalStack(options) as running:
                return await demo_module.run_demo(
                    running, demo, lambda done, total: bar.update(task, completed=done, total=max(total, orders))
                )

        summary = asyncio.run(run())
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))
    else:
        Console().print(_summary_table(summary))
    if demo_module.failed(summary):
        sys.exit(1)


@local_group.command("runs")
@_stack_options
@click.option("--workflow", default=None, help="Only this workflow's runs (its file name without .json).")
@click.option("--failed", is_flag=True, help="Only runs that did not succeed.")
@click.option("--run", "run_id", default=None, help="Show this run action by action.")
def runs_command(stack: str, state_dir: Path, resume: bool, time_scale: float, workflow: str | None, failed: bool,
                 run_id: str | None) -> None:
    """List the Logic App run history kept in the state dir, or show one run (secureData honoured)."""
    from orderbridge.local.logicapps import RunHistory, run_table, runs_table

    history = RunHistory.in_state_dir(state_dir)
    try:
        table = run_table(history.run(run_id)) if run_id else runs_table(history.runs(workflow=workflow, failed=failed))
    finally:
        history.close()
    Console().print(table)


def _stop_on_signals() -> asyncio.Event:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stopped.set)
    return stopped


def _print_endpoints(endpoints: dict[str, Any], state_dir: Path) -> None:
    """Every endpoint on a line of its own, whole: a URL cut to fit a table is no use to paste."""
    lines = [f"orderbridge local stack ({endpoints['stack']}) is up; Ctrl-C stops it."]
    for topic, entry in endpoints["topics"].items():
        lines += [f"topic {topic}: {entry['endpoint']}", f"  aeg-sas-key: {entry['key']}"]
    for workflow, url in endpoints["logic_app_triggers"].items():
        lines += [f"Logic App {workflow} trigger: {url}"]
    lines += [f"Service Bus (REST send): {endpoints['service_bus']['endpoint']}",
              f"  Authorization: Bearer {endpoints['service_bus']['bearer_token']}"]
    for system in ("ecp", "erp"):
        lines += [f"fake {system.upper()}: {endpoints[system]['base_url']}", f"  X-Api-Key: {endpoints[system]['api_key']}"]
    lines += [f"blob (Azurite): {endpoints['blob']['connection_string']}", f"The same as JSON: {state_dir / state.ENDPOINTS}"]
    click.echo("\n".join(lines))


def _summary_table(summary: dict[str, Any]) -> Table:
    table = Table(title="orderbridge local demo")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key in ("placed", "in_erp", "updates_applied", "poison", "poison_set_aside", "lost", "unsettled",
                "duplicate_erp_orders", "regressed_ecp_orders"):
        table.add_row(key, str(summary[key]))
    for place, count in summary["dead_lettered"]["by_place"].items():
        table.add_row(f"set aside: {place}", str(count))
    for reason, count in summary["dead_lettered"]["by_reason"].items():
        table.add_row(f"reason: {reason}", str(count))
    for leg, figures in summary["latency_seconds"].items():
        table.add_row(f"latency {leg} (simulated s)", " / ".join(str(figures[k]) for k in ("p50", "p95", "max")))
    for name, value in summary["throughput"].items():
        table.add_row(name, str(value))
    for workflow, value in summary["billable_executions_per_order"].items():
        table.add_row(f"billable executions per order: {workflow}", str(value))
    table.add_row("wall seconds (time scale)", f"{summary['wall_seconds']} (×{summary['time_scale']:g})")
    return table
