"""Load the Logic App definitions in `workflows/` the way Azure will receive them.

The JSON files are what reviewers read. Two things cannot be expressions in Azure and so are set
here, when a file is loaded, from the stack's config: the Request trigger's concurrency (`runs`) and
its `maximumWaitingRuns` (`runtimeConfiguration` takes literals only —
https://learn.microsoft.com/azure/logic-apps/logic-apps-workflow-actions-triggers#change-trigger-concurrency).
Everything else environment-specific enters through the definition's declared `parameters`.
"""
from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from infra.errors import WorkflowDefinitionError

WORKFLOWS_DIR = Path(__file__).resolve().parent.parent / "workflows"

# Azure's limits for a trigger's concurrency and waiting runs (same page as above).
MAX_TRIGGER_RUNS = 100
MAX_WAITING_RUNS = 100
WAITING_RUNS_ABOVE_RUNS = 10


def workflow_path(name: str) -> Path:
    """The file that holds workflow `name` (e.g. `order-events-processor`)."""
    return WORKFLOWS_DIR / f"{name}.json"


@lru_cache(maxsize=None)
def _read(name: str) -> dict[str, Any]:
    path = workflow_path(name)
    try:
        definition = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise WorkflowDefinitionError(f"workflow file {path} does not exist") from exc
    except json.JSONDecodeError as exc:
        raise WorkflowDefinitionError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(definition, dict) or not isinstance(definition.get("triggers"), dict):
        raise WorkflowDefinitionError(f"{path} has no 'triggers' object; is it a workflow definition?")
    return definition


def trigger_name(name: str) -> str:
    """The name of the single Request trigger of workflow `name` (needed for its callback URL)."""
    triggers = _read(name)["triggers"]
    requests = [t for t, body in triggers.items() if body.get("type") == "Request"]
    if len(requests) != 1 or len(triggers) != 1:
        raise WorkflowDefinitionError(
            f"{workflow_path(name)} must have exactly one trigger, of type Request; found {sorted(triggers)}"
        )
    return requests[0]


def declared_parameters(name: str) -> dict[str, dict[str, Any]]:
    """The parameters workflow `name` declares, by name, with their types and defaults."""
    return dict(_read(name).get("parameters", {}))


def load_definition(name: str, *, trigger_concurrency: int, maximum_waiting_runs: int) -> dict[str, Any]:
    """Workflow `name` with the trigger's concurrency literals set; the cached file is not changed."""
    if not 1 <= trigger_concurrency <= MAX_TRIGGER_RUNS:
        raise WorkflowDefinitionError(
            f"trigger concurrency must be 1..{MAX_TRIGGER_RUNS}, got {trigger_concurrency}"
        )
    lowest = trigger_concurrency + WAITING_RUNS_ABOVE_RUNS
    if not lowest <= maximum_waiting_runs <= MAX_WAITING_RUNS:
        raise WorkflowDefinitionError(
            f"maximumWaitingRuns must be {lowest}..{MAX_WAITING_RUNS} for {trigger_concurrency} runs,"
            f" got {maximum_waiting_runs}"
        )
    definition = copy.deepcopy(_read(name))
    trigger = definition["triggers"][trigger_name(name)]
    runtime = trigger.setdefault("runtimeConfiguration", {})
    runtime["concurrency"] = {"runs": trigger_concurrency, "maximumWaitingRuns": maximum_waiting_runs}
    return definition


def loop_parallelism(name: str) -> int:
    """How many events of one delivery workflow `name` handles at once (its Foreach's `repetitions`).

    A larger Event Grid batch would run in waves and could miss Event Grid's 30 s answer window, so
    the stack's `eventBatchSize` is capped by this (see workflows/README.md).
    """
    loops = [a for a in _read(name).get("actions", {}).values() if a.get("type") == "Foreach"]
    if len(loops) != 1:
        raise WorkflowDefinitionError(f"{workflow_path(name)} must have exactly one top-level Foreach")
    repetitions = loops[0].get("runtimeConfiguration", {}).get("concurrency", {}).get("repetitions")
    if not isinstance(repetitions, int) or isinstance(repetitions, bool):
        raise WorkflowDefinitionError(
            f"{workflow_path(name)}: the Foreach must set runtimeConfiguration.concurrency.repetitions"
            " on purpose (Azure's default of 20 would not be a deliberate bound on the source API)"
        )
    return repetitions
