"""`orderbridge workflow show`: a Logic App definition as a flowchart a reviewer reads.

Actions in run order, `runAfter` edges labelled with their statuses, If/Switch branches, loops with
their concurrency, and which actions are billed. "Billed on the happy path" is measured, not guessed:
the happy path runs in the engine (`orderbridge.workflow_cost`) and every action it executed is
marked; the others are billed only on the paths that run them (Consumption meters executed actions,
skipped ones are free: https://learn.microsoft.com/azure/logic-apps/logic-apps-pricing).
Mermaid renders in GitHub markdown (https://docs.github.com/get-started/writing-on-github/working-with-advanced-formatting/creating-diagrams).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infra.workflow_definitions import WORKFLOWS_DIR, workflow_path
from orderbridge.errors import OrderbridgeError
from orderbridge.wdl import WdlError, prepare
from orderbridge.workflow_cost import WorkflowCostError, happy_path_costs, happy_run

if TYPE_CHECKING:
    from orderbridge.wdl._definition import ActionNode, Graph

# A Foreach runs 20 iterations at once unless told otherwise
# (https://learn.microsoft.com/azure/logic-apps/logic-apps-workflow-actions-triggers#change-for-each-concurrency).
DEFAULT_FOREACH_PARALLELISM = 20
EVERY_ORDER = "billed on the happy path"
WHEN_RUN = "billed only when it runs"


class WorkflowViewError(OrderbridgeError):
    """A workflow cannot be shown: no such file, or a definition the engine cannot read."""


@dataclass(frozen=True)
class Branch:
    """The actions inside a container; `label` names the branch (If: true/false, Switch: a case)."""

    label: str
    actions: tuple[ActionView, ...]


@dataclass(frozen=True)
class ActionView:
    """One action (or the trigger) as the flowchart shows it."""

    name: str
    type: str
    run_after: tuple[tuple[str, tuple[str, ...]], ...]
    detail: str
    billed: str
    branches: tuple[Branch, ...] = ()


@dataclass(frozen=True)
class WorkflowView:
    """A whole workflow: its trigger, its top-level actions and the measured happy-path cost."""

    name: str
    trigger: ActionView
    actions: tuple[ActionView, ...]
    cost_note: str


def load_workflow_file(name: str) -> dict[str, Any]:
    """The definition in `workflows/<name>.json`, as reviewers read it."""
    path = workflow_path(name)
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in WORKFLOWS_DIR.glob("*.json"))) or "none"
        raise WorkflowViewError(f"no workflow {name!r}: {path} does not exist (known: {known})")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise WorkflowViewError(f"{path} is not valid JSON: {exc}") from exc


def build_view(definition: dict[str, Any], name: str) -> WorkflowView:
    """The view of `definition`; the actions its happy path executes are marked as billed on it."""
    try:
        compiled = prepare(definition)
    except WdlError as exc:
        raise WorkflowViewError(f"workflow {name} cannot be read: {exc}") from exc
    try:
        executed = {r.name for r in happy_run(definition, name, 1).all_records if r.status != "Skipped"}
        costs = happy_path_costs(definition, name)
        cost_note = "billable executions: " + ", ".join(
            f"{c.total} for {c.events} event{'s' if c.events > 1 else ''}" for c in costs)
    except WorkflowCostError as exc:
        executed, cost_note = set(), f"happy path not measured: {exc}"
    trigger = compiled.trigger
    trigger_view = ActionView(compiled.trigger_name, str(trigger.get("type")), (), _trigger_detail(trigger),
                              EVERY_ORDER)
    return WorkflowView(name, trigger_view, _graph_views(compiled.graph, executed), cost_note)


def _graph_views(graph: Graph, executed: set[str]) -> tuple[ActionView, ...]:
    return tuple(_action_view(graph.nodes[name], executed) for name in graph.order)


def _action_view(node: ActionNode, executed: set[str]) -> ActionView:
    branches = tuple(
        Branch(_branch_label(node.kind, role), _graph_views(child, executed))
        for role, child in node.graphs.items()
        if child.nodes
    )
    run_after = tuple((p, tuple(sorted(s))) for p, s in sorted(node.run_after.items()))
    return ActionView(node.name, node.type, run_after, _action_detail(node.kind, node.raw),
                      EVERY_ORDER if node.name in executed else WHEN_RUN, branches)


def _branch_label(kind: str, role: str) -> str:
    if kind == "if":
        return "if true" if role == "actions" else "if false"
    if role.startswith("case:"):
        return f"case {role.removeprefix('case:')}"
    return "" if role == "actions" else role


def _trigger_detail(trigger: dict[str, Any]) -> str:
    concurrency = (trigger.get("runtimeConfiguration") or {}).get("concurrency") or {}
    if "runs" not in concurrency:
        return ""
    waiting = concurrency.get("maximumWaitingRuns")
    return f"{concurrency['runs']} runs at once" + (f", {waiting} waiting" if waiting is not None else "")


def _action_detail(kind: str, raw: dict[str, Any]) -> str:
    if kind == "foreach":
        if str(raw.get("operationOptions", "")).lower() == "sequential":
            return "loop, one at a time"
        repetitions = ((raw.get("runtimeConfiguration") or {}).get("concurrency") or {}).get("repetitions")
        return f"loop, {repetitions or DEFAULT_FOREACH_PARALLELISM} in parallel"
    if kind == "until":
        limit = raw.get("limit") or {}
        return f"loop until, at most {limit.get('count', 60)} times"
    return ""


def _describe(action: ActionView) -> str:
    parts = [action.type, action.detail, action.billed]
    if action.branches and action.billed == EVERY_ORDER and action.type.lower() in ("foreach", "until"):
        parts[-1] = f"{EVERY_ORDER}; its actions once per iteration"
    return " · ".join(p for p in parts if p)


def render_text(view: WorkflowView) -> str:
    """The flowchart as an indented tree, in run order."""
    lines = [f"{view.name} ({view.cost_note})", f"{view.trigger.name}  {_describe(view.trigger)}"]
    _text_lines(view.actions, "", lines)
    return "\n".join(lines)


def _text_lines(actions: tuple[ActionView, ...], indent: str, lines: list[str]) -> None:
    for position, action in enumerate(actions):
        last = position == len(actions) - 1
        after = "; ".join(f"{p}: {', '.join(s)}" for p, s in action.run_after)
        lines.append(f"{indent}{'└─' if last else '├─'} {action.name}  {_describe(action)}"
                     + (f"  after {after}" if after else ""))
        child_indent = indent + ("   " if last else "│  ")
        for branch in action.branches:
            if branch.label:
                lines.append(f"{child_indent}[{branch.label}]")
            _text_lines(branch.actions, child_indent, lines)


def _node_id(name: str) -> str:
    """A Mermaid id: prefixed, so that no action name collides with a keyword such as `end`."""
    return "a_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def _label(text: str) -> str:
    return text.replace('"', "#quot;")


def render_mermaid(view: WorkflowView) -> str:
    """The flowchart as a Mermaid `flowchart TD`; dashed boxes are billed only on the paths that run them."""
    lines = ["flowchart TD", f'  {_node_id(view.trigger.name)}(["{_label(view.trigger.name)}<br/>'
                             f'{_label(_describe(view.trigger))}"])']
    edges: list[str] = []
    _mermaid_nodes(view.actions, "  ", lines, edges)
    trigger_id = _node_id(view.trigger.name)
    edges[:0] = [f"  {trigger_id} --> {_node_id(a.name)}" for a in view.actions if not a.run_after]
    lines.extend(edges)
    occasional = [_node_id(a.name) for a in _all_actions(view.actions) if a.billed == WHEN_RUN and not a.branches]
    lines.append("  classDef whenItRuns stroke-dasharray: 5 4")
    if occasional:
        lines.append(f"  class {','.join(occasional)} whenItRuns")
    return "\n".join(lines)


def _mermaid_nodes(actions: tuple[ActionView, ...], indent: str, lines: list[str], edges: list[str]) -> None:
    for action in actions:
        node, label = _node_id(action.name), f"{_label(action.name)}<br/>{_label(_describe(action))}"
        if action.branches:
            lines.append(f'{indent}subgraph {node} ["{label}"]')
            lines.append(f"{indent}  direction TB")
            for position, branch in enumerate(action.branches):
                if branch.label:
                    branch_id = f"{node}__{position}"
                    lines.append(f'{indent}  subgraph {branch_id} ["{_label(branch.label)}"]')
                    _mermaid_nodes(branch.actions, indent + "    ", lines, edges)
                    lines.append(f"{indent}  end")
                else:
                    _mermaid_nodes(branch.actions, indent + "  ", lines, edges)
            lines.append(f"{indent}end")
        else:
            lines.append(f'{indent}{node}["{label}"]')
        edges.extend(f'  {_node_id(p)} -->|"{", ".join(s)}"| {node}' for p, s in action.run_after)


def _all_actions(actions: tuple[ActionView, ...]) -> list[ActionView]:
    found: list[ActionView] = []
    for action in actions:
        found.append(action)
        for branch in action.branches:
            found.extend(_all_actions(branch.actions))
    return found


def show(definition: dict[str, Any], name: str, output_format: str) -> str:
    """`definition` rendered as `mermaid` or `text`."""
    view = build_view(definition, name)
    return render_mermaid(view) if output_format == "mermaid" else render_text(view)
