"""Run history as rich tables, for `orderbridge local runs`: the run list, and one run action by action."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.markup import escape
from rich.table import Table

from orderbridge.local.logicapps._history import SUCCEEDED, RunSummary, StoredRun

VALUE_WIDTH = 60  # characters of an input or output shown in a cell; the rest is elided


def runs_table(runs: list[RunSummary]) -> Table:
    """One row per run: workflow, id, status, what the caller got, times and billable executions."""
    table = Table(title=f"Logic App runs ({len(runs)})")
    for column in ("workflow", "run", "status", "answered", "started", "seconds", "billable", "error"):
        table.add_column(column, justify="right" if column in ("answered", "seconds", "billable") else "left")
    for run in runs:
        table.add_row(run.workflow, run.run_id, _status(run.status), str(run.answered), _time(run.started),
                      f"{run.seconds:.2f}", str(run.billable), _error(run.error_code, run.error_message))
    return table


def run_table(run: StoredRun) -> Table:
    """The trigger and every action execution in the order they ended, with what the record keeps."""
    summary = run.summary
    table = Table(title=f"{summary.workflow} run {summary.run_id}: {summary.status}, answered {summary.answered}, "
                        f"{summary.billable} billable executions")
    for column in ("action", "type", "status", "+seconds", "attempts", "inputs", "outputs", "error"):
        table.add_column(column, overflow="fold")
    for action in sorted(run.actions, key=lambda a: a["end"]):
        offset = (datetime.fromisoformat(action["start"]) - summary.started).total_seconds()
        table.add_row(_name(action), action["type"], _status(action["status"]), f"{offset:.2f}",
                      _attempts(action["attempts"]), _value(action["inputs"]), _value(action["outputs"]),
                      _error(action["error_code"], action["error_message"]))
    return table


def _name(action: dict[str, Any]) -> str:
    iteration = action.get("iteration") or []
    return action["name"] + (f" [{','.join(map(str, iteration))}]" if iteration else "")


def _status(status: str) -> str:
    return status if status == SUCCEEDED else f"[bold red]{status}[/]"


def _time(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _attempts(attempts: list[dict[str, Any]]) -> str:
    return " ".join(str(a["status_code"] or a["error"] or "?").split(":")[0] for a in attempts)


def _value(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True)
    # Values are data: a "[bold]" in a body must print as is, not as rich markup.
    return escape(text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + "…")


def _error(code: str | None, message: str | None) -> str:
    return escape(": ".join(part for part in (code, message) if part))
