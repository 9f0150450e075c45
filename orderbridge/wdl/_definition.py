"""A workflow definition compiled once: action graphs in run order, with every expression parsed.

Reference: https://learn.microsoft.com/azure/logic-apps/logic-apps-workflow-actions-triggers
"""
from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

from ._errors import DefinitionError
from ._records import ACTION_STATUSES
from ._shapes import as_array, as_object
from ._templates import Template, compile_value

# Action types the engine runs (lower-case, as Azure accepts any case).
CONTAINER_TYPES = frozenset({"if", "foreach", "scope", "switch", "until"})
SUPPORTED_ACTION_TYPES = CONTAINER_TYPES | frozenset({
    "compose", "http", "parsejson", "response", "terminate", "wait",
    "initializevariable", "setvariable", "incrementvariable", "decrementvariable",
    "appendtoarrayvariable", "appendtostringvariable",
    "select", "query", "join", "table", "apiconnection",
})
SUPPORTED_TRIGGER_TYPES = frozenset({"request"})


@dataclass
class ActionNode:
    """One action of a graph, with its compiled parts."""

    name: str
    path: str
    type: str
    kind: str  # lower-case type, used for dispatch
    raw: dict[str, Any]
    run_after: dict[str, frozenset[str]]
    inputs: Template
    parts: dict[str, Template] = field(default_factory=dict)  # expression, foreach, select, where…
    graphs: dict[str, Graph] = field(default_factory=dict)  # child action graphs by role
    tracked: Template | None = None
    secure_inputs: bool = False
    secure_outputs: bool = False


@dataclass
class Graph:
    """Sibling actions (top level or inside a container) in a stable topological order."""

    nodes: dict[str, ActionNode]
    order: list[str]
    terminals: list[str]


@dataclass
class CompiledWorkflow:
    """A parsed definition, ready to run many times."""

    definition: dict[str, Any]
    trigger_name: str
    trigger: dict[str, Any]
    graph: Graph
    parameters: dict[str, dict[str, Any]]
    outputs: dict[str, Template]

    def find(self, name: str) -> ActionNode | None:
        """The action called `name` anywhere in the definition."""
        return _find(self.graph, name)


def _find(graph: Graph, name: str) -> ActionNode | None:
    if name in graph.nodes:
        return graph.nodes[name]
    for node in graph.nodes.values():
        for child in node.graphs.values():
            found = _find(child, name)
            if found is not None:
                return found
    return None


def compile_definition(definition: dict[str, Any]) -> CompiledWorkflow:
    """Parse every expression and order every graph; raises DefinitionError / ExpressionSyntaxError."""
    if not isinstance(definition, dict):
        raise DefinitionError("a workflow definition must be a JSON object with 'triggers' and 'actions'")
    triggers = as_object(definition.get("triggers"))
    if len(triggers) != 1:
        raise DefinitionError(f"the engine runs definitions with exactly one trigger; found {sorted(triggers)}")
    trigger_name, trigger = next(iter(triggers.items()))
    trigger = as_object(trigger)
    if str(trigger.get("type", "")).lower() not in SUPPORTED_TRIGGER_TYPES:
        raise DefinitionError(
            f"trigger type {trigger.get('type')!r} is not supported; the engine runs Request triggers",
            path=f"triggers.{trigger_name}",
        )
    if "splitOn" in trigger:
        raise DefinitionError(
            "splitOn starts one run per array item, which run() does not do; call run() once per item instead",
            path=f"triggers.{trigger_name}",
        )
    graph = compile_graph(as_object(definition.get("actions")), "actions")
    _propagate_secure_data(graph, trigger_secured=bool(secure_properties(trigger)))
    outputs = {
        name: compile_value(as_object(spec).get("value"), f"outputs.{name}")
        for name, spec in as_object(definition.get("outputs")).items()
    }
    return CompiledWorkflow(
        definition=definition,
        trigger_name=trigger_name,
        trigger=trigger,
        graph=graph,
        parameters={name: as_object(spec) for name, spec in as_object(definition.get("parameters")).items()},
        outputs=outputs,
    )


# Actions whose Secure Inputs setting also hides their outputs, and which hide both when they use
# secured data (https://learn.microsoft.com/azure/logic-apps/logic-apps-securing-a-logic-app#obfuscate).
_INPUTS_HIDE_OUTPUTS = frozenset({"compose", "parsejson", "response"})
# Workflow functions whose first argument names an action whose data they read.
ACTION_REFERENCES = frozenset({"body", "outputs", "actions", "actionbody", "actionoutputs", "multipartbody"})


def _all_nodes(graph: Graph) -> list[ActionNode]:
    nodes = []
    for node in graph.nodes.values():
        nodes.append(node)
        for child in node.graphs.values():
            nodes.extend(_all_nodes(child))
    return nodes


def secure_properties(body: dict[str, Any]) -> list[str]:
    """The `runtimeConfiguration.secureData.properties` of a trigger or action."""
    return as_array(as_object(as_object(body.get("runtimeConfiguration")).get("secureData")).get("properties"))


_TRIGGER_REFERENCES = frozenset({"trigger", "triggerbody", "triggeroutputs", "triggerformdatavalue",
                                 "triggerformdatamultivalues", "triggermultipartbody"})


def _propagate_secure_data(graph: Graph, *, trigger_secured: bool) -> None:
    """Hide run-history data as Azure does around actions with secureData.

    An action that explicitly uses data of an action with secured inputs or outputs gets its
    inputs hidden (Compose/ParseJson/Response: inputs and outputs) without turning on its own
    setting, so the hiding does not travel further. Compose/ParseJson/Response have only Secure
    Inputs, which hides their outputs as well.
    """
    nodes = _all_nodes(graph)
    secured = {node.name for node in nodes if node.secure_inputs or node.secure_outputs}
    for node in nodes:
        if node.kind in _INPUTS_HIDE_OUTPUTS and node.secure_inputs:
            node.secure_outputs = True
        uses = {
            call.literal_args[0]
            for expression in node.inputs.expressions
            for call in expression.calls
            if call.name.lower() in ACTION_REFERENCES and call.literal_args and call.literal_args[0] in secured
        }
        uses_trigger = trigger_secured and any(
            call.name.lower() in _TRIGGER_REFERENCES
            for expression in node.inputs.expressions
            for call in expression.calls
        )
        if uses - {node.name} or uses_trigger:
            node.secure_inputs = True
            if node.kind in _INPUTS_HIDE_OUTPUTS:
                node.secure_outputs = True


def compile_graph(actions: dict[str, Any], path: str) -> Graph:
    """Compile sibling actions and order them so each runs after its runAfter predecessors."""
    if not isinstance(actions, dict):
        raise DefinitionError("'actions' must be an object of named actions", path=path)
    nodes = {name: _compile_action(name, body, f"{path}.{name}") for name, body in actions.items()}
    for node in nodes.values():
        for predecessor in node.run_after:
            if predecessor not in nodes:
                raise DefinitionError(
                    f"runAfter names '{predecessor}', which is not an action at the same level "
                    f"(siblings: {sorted(nodes)})",
                    path=node.path,
                )
    order = _topological_order(nodes, path)
    followed = {predecessor for node in nodes.values() for predecessor in node.run_after}
    terminals = [name for name in order if name not in followed]
    return Graph(nodes, order, terminals)


def _topological_order(nodes: dict[str, ActionNode], path: str) -> list[str]:
    order: list[str] = []
    placed: set[str] = set()
    pending = list(nodes)
    while pending:
        ready = [name for name in pending if all(p in placed for p in nodes[name].run_after)]
        if not ready:
            raise DefinitionError(f"runAfter forms a cycle among {sorted(pending)}", path=path)
        for name in ready:
            order.append(name)
            placed.add(name)
        pending = [name for name in pending if name not in placed]
    return order


def parse_run_after(raw: Any, path: str) -> dict[str, frozenset[str]]:
    """runAfter as {predecessor: statuses}; an empty list means Succeeded, as the designer writes it."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise DefinitionError("runAfter must be an object {action: [statuses]}", path=path)
    canonical = {status.lower(): status for status in ACTION_STATUSES}
    result: dict[str, frozenset[str]] = {}
    for predecessor, statuses in raw.items():
        statuses = statuses or ["Succeeded"]
        if not isinstance(statuses, list):
            raise DefinitionError(f"runAfter '{predecessor}' must list statuses, e.g. [\"Succeeded\"]", path=path)
        unknown = [s for s in statuses if str(s).lower() not in canonical]
        if unknown:
            raise DefinitionError(
                f"runAfter '{predecessor}' has unknown status(es) {unknown}; use {sorted(ACTION_STATUSES)}",
                path=path,
            )
        result[predecessor] = frozenset(canonical[str(s).lower()] for s in statuses)
    return result


def _compile_action(name: str, body: Any, path: str) -> ActionNode:
    if not isinstance(body, dict) or "type" not in body:
        raise DefinitionError("an action must be an object with a 'type'", path=path)
    kind = str(body["type"]).lower()
    if kind not in SUPPORTED_ACTION_TYPES:
        raise DefinitionError(
            f"action type {body['type']!r} is not supported by the engine "
            f"(supported: {sorted(SUPPORTED_ACTION_TYPES)})",
            path=path,
        )
    secure = secure_properties(body)
    node = ActionNode(
        name=name,
        path=path,
        type=body["type"],
        kind=kind,
        raw=body,
        run_after=parse_run_after(body.get("runAfter"), path),
        inputs=compile_value(_inputs_without_item_templates(kind, body.get("inputs")), f"{path}.inputs"),
        tracked=compile_value(body["trackedProperties"], f"{path}.trackedProperties")
        if body.get("trackedProperties") is not None
        else None,
        secure_inputs="inputs" in secure,
        secure_outputs="outputs" in secure,
    )
    _compile_parts(node, body, path)
    return node


# Parts evaluated once per item (Select's `select`, Query's `where`, Table's column values) are
# compiled separately so they are not evaluated with the other inputs.
_ITEM_TEMPLATES = {"select": ("select",), "query": ("where",), "table": ("columns",)}


def _inputs_without_item_templates(kind: str, inputs: Any) -> Any:
    keys = _ITEM_TEMPLATES.get(kind)
    if not keys or not isinstance(inputs, dict):
        return inputs
    return {key: value for key, value in inputs.items() if key not in keys}


def _compile_parts(node: ActionNode, body: dict[str, Any], path: str) -> None:
    kind = node.kind
    inputs = body.get("inputs") if isinstance(body.get("inputs"), dict) else {}
    for key in _ITEM_TEMPLATES.get(kind, ()):
        if key in inputs:
            node.parts[key] = compile_value(inputs[key], f"{path}.inputs.{key}")
        elif kind != "table":
            raise DefinitionError(f"a {body['type']} action needs inputs.{key}", path=path)
    if kind in ("if", "switch", "until"):
        if "expression" not in body:
            raise DefinitionError(f"a {body['type']} action needs an 'expression'", path=path)
        node.parts["expression"] = compile_value(body["expression"], f"{path}.expression")
    if kind == "foreach":
        if "foreach" not in body:
            raise DefinitionError("a Foreach action needs a 'foreach' expression", path=path)
        node.parts["foreach"] = compile_value(body["foreach"], f"{path}.foreach")
    if kind == "until":
        node.parts["limit"] = compile_value(as_object(body.get("limit")), f"{path}.limit")
    if kind in ("if", "foreach", "scope", "until"):
        node.graphs["actions"] = compile_graph(as_object(body.get("actions")), f"{path}.actions")
    if kind == "if":
        otherwise = as_object(as_object(body.get("else")).get("actions"))
        node.graphs["else"] = compile_graph(otherwise, f"{path}.else.actions")
    if kind == "switch":
        for case_name, case in as_object(body.get("cases")).items():
            case = as_object(case)
            case_path = f"{path}.cases.{case_name}"
            if "case" not in case:
                raise DefinitionError("a Switch case needs a 'case' value", path=case_path)
            node.parts[f"case:{case_name}"] = compile_value(case["case"], f"{case_path}.case")
            node.graphs[f"case:{case_name}"] = compile_graph(as_object(case.get("actions")), f"{case_path}.actions")
        default = as_object(as_object(body.get("default")).get("actions"))
        node.graphs["default"] = compile_graph(default, f"{path}.default.actions")


class DefinitionCache:
    """Compiled definitions keyed by their JSON text, so `run(dict)` parses each definition once."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._items: OrderedDict[str, CompiledWorkflow] = OrderedDict()
        self._lock = Lock()

    def get(self, definition: dict[str, Any]) -> CompiledWorkflow:
        key = json.dumps(definition, sort_keys=True, default=str)
        with self._lock:
            compiled = self._items.get(key)
            if compiled is not None:
                self._items.move_to_end(key)
                return compiled
        compiled = compile_definition(definition)
        with self._lock:
            self._items[key] = compiled
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return compiled
