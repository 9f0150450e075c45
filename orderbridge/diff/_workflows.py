"""A Logic App's change at action level, with its cost before and after measured in the engine.

Both definitions come from the desired state (the deployed copies, trigger concurrency included) and
run in this checkout's engine, so the cost difference is the definitions' alone.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from orderbridge.diff._changes import Change, leaf_changes
from orderbridge.diff._resources import WORKFLOW
from orderbridge.diff._states import State
from orderbridge.workflow_cost import Cost, WorkflowCostError, happy_path_costs
from orderbridge.workflow_view import WorkflowViewError, show

_CHILD_KEYS = ("actions", "else", "cases", "default")
TOP_LEVEL = "(top level)"
TRIGGER = "(trigger)"
Measured = tuple[Cost, ...] | str  # the costs, or why they could not be measured


@dataclass(frozen=True)
class ActionChange:
    """An action (or the trigger) added, removed or changed; `changes` excludes its runAfter edges."""

    kind: str  # "added" | "removed" | "changed"
    name: str
    type: str
    container: str
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True)
class EdgeChange:
    """A runAfter edge predecessor -> action added, removed, or with other statuses."""

    action: str
    predecessor: str
    before: tuple[str, ...] | None
    after: tuple[str, ...] | None


@dataclass(frozen=True)
class WorkflowChange:
    """One workflow's change; a side that does not exist has no cost and no flowchart."""

    workflow: str
    resource: str
    actions: tuple[ActionChange, ...]
    edges: tuple[EdgeChange, ...]
    definition: tuple[Change, ...]  # parameters, outputs and the like
    cost_before: Measured | None
    cost_after: Measured | None
    flowchart_before: str | None
    flowchart_after: str | None

    @property
    def expressions(self) -> list[tuple[str, Change]]:
        """(action, change) for every changed expression."""
        return [(a.name, c) for a in self.actions if a.kind == "changed" for c in a.changes if c.is_expression]


@dataclass(frozen=True)
class _Action:
    type: str
    container: str
    settings: dict[str, Any]
    run_after: dict[str, tuple[str, ...]]


def _statuses(value: Any) -> tuple[str, ...]:
    """runAfter statuses as a sorted tuple; an empty list means Succeeded, as the designer writes it."""
    return tuple(sorted(value)) if isinstance(value, list) and value else ("Succeeded",)


def _own_settings(body: dict[str, Any]) -> dict[str, Any]:
    own = {k: v for k, v in body.items() if k not in _CHILD_KEYS and k != "runAfter"}
    if isinstance(body.get("cases"), dict):
        own["cases"] = {case: {k: v for k, v in spec.items() if k != "actions"} if isinstance(spec, dict) else spec
                        for case, spec in body["cases"].items()}
    return own


def _children(name: str, body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    is_if = str(body.get("type", "")).lower() == "if"
    if "actions" in body:
        yield (f"{name} (if true)" if is_if else name), body["actions"]
    if isinstance(body.get("else"), dict):
        yield f"{name} (if false)", body["else"].get("actions")
    for case, spec in (body.get("cases") or {}).items():
        if isinstance(spec, dict):
            yield f"{name} (case {case})", spec.get("actions")
    if isinstance(body.get("default"), dict):
        yield f"{name} (default)", body["default"].get("actions")


def _walk(actions: Any, container: str, found: dict[str, _Action]) -> None:
    for name, body in (actions or {}).items() if isinstance(actions, dict) else ():
        if not isinstance(body, dict):
            continue
        run_after = body.get("runAfter") if isinstance(body.get("runAfter"), dict) else {}
        found[name] = _Action(str(body.get("type")), container, _own_settings(body),
                              {p: _statuses(s) for p, s in run_after.items()})
        for label, children in _children(name, body):
            _walk(children, label, found)


def flatten(definition: dict[str, Any]) -> dict[str, _Action]:
    """Every action of a definition by name (names are unique in a workflow), the trigger included."""
    found = {name: _Action(str(body.get("type")), TRIGGER, body, {})
             for name, body in (definition.get("triggers") or {}).items() if isinstance(body, dict)}
    _walk(definition.get("actions"), TOP_LEVEL, found)
    return found


def _action_changes(old: dict[str, _Action], new: dict[str, _Action]) -> list[ActionChange]:
    changes = [ActionChange("added", n, new[n].type, new[n].container) for n in new.keys() - old.keys()]
    changes += [ActionChange("removed", n, old[n].type, old[n].container) for n in old.keys() - new.keys()]
    for name in old.keys() & new.keys():
        was, now = old[name], new[name]
        settings = leaf_changes(was.settings, now.settings)
        if was.container != now.container:
            settings.insert(0, Change("(container)", was.container, now.container))
        if settings:
            changes.append(ActionChange("changed", name, now.type, now.container, tuple(settings)))
    return sorted(changes, key=lambda c: (c.kind, c.name))


def _edge_changes(old: dict[str, _Action], new: dict[str, _Action]) -> list[EdgeChange]:
    def edges(actions: dict[str, _Action]) -> dict[tuple[str, str], tuple[str, ...]]:
        return {(name, p): s for name, action in actions.items() for p, s in action.run_after.items()}

    was, now = edges(old), edges(new)
    return [EdgeChange(action, predecessor, was.get((action, predecessor)), now.get((action, predecessor)))
            for action, predecessor in sorted(was.keys() | now.keys())
            if was.get((action, predecessor)) != now.get((action, predecessor))]


def _measure(definition: dict[str, Any] | None, workflow: str) -> Measured | None:
    if definition is None:
        return None
    try:
        return happy_path_costs(definition, workflow)
    except WorkflowCostError as exc:
        return str(exc)


def _flowchart(definition: dict[str, Any] | None, workflow: str) -> str | None:
    if definition is None:
        return None
    try:
        return show(definition, workflow, "mermaid")
    except WorkflowViewError as exc:
        return f"%% cannot be drawn: {exc}"


def workflow_change(resource: str, before: dict[str, Any] | None, after: dict[str, Any] | None,
                    workflow: str) -> WorkflowChange:
    """The change from definition `before` to `after` (None: that side has no such workflow)."""
    old, new = flatten(before or {}), flatten(after or {})

    def rest(definition: dict[str, Any] | None) -> dict[str, Any]:
        return {k: v for k, v in (definition or {}).items() if k not in ("actions", "triggers")}

    return WorkflowChange(
        workflow, resource, tuple(_action_changes(old, new)), tuple(_edge_changes(old, new)),
        tuple(leaf_changes(rest(before), rest(after))) if before and after else (),
        _measure(before, workflow), _measure(after, workflow), _flowchart(before, workflow), _flowchart(after, workflow),
    )


def workflow_changes(before: State, after: State) -> list[WorkflowChange]:
    """Every Logic App whose definition differs, was added or was removed."""
    def definitions(state: State) -> dict[str, tuple[str, dict[str, Any]]]:
        return {r["name"]: (str(r["inputs"].get("workflowName") or r["name"]), r["inputs"].get("definition") or {})
                for r in state if r["type"] == WORKFLOW}

    old, new = definitions(before), definitions(after)
    changes = []
    for resource in sorted(old.keys() | new.keys()):
        was, now = old.get(resource), new.get(resource)
        if was is not None and now is not None and was[1] == now[1]:
            continue
        workflow = now[0] if now is not None else old[resource][0]
        changes.append(workflow_change(resource, was[1] if was else None, now[1] if now else None, workflow))
    return changes
