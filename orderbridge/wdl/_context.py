"""The run state expressions can see, and the workflow functions that read it.

Reference: https://learn.microsoft.com/azure/logic-apps/workflow-definition-language-functions-reference#workflow-functions
"""
from __future__ import annotations

import threading
import uuid
from collections import ChainMap
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from ._clock import Clock, SystemClock
from ._errors import ExpressionEvaluationError, WorkflowContextError
from ._expressions import names_differing_in_case


@dataclass(frozen=True)
class LoopFrame:
    """One enclosing loop (Foreach/Until) or item scope (Select/Query) and where it is."""

    name: str
    item: Any
    index: int


@dataclass
class EvaluationContext:
    """The state `evaluate()` and the runtime resolve workflow functions against.

    `actions` maps an action name to what `actions('X')` returns ({"outputs": …, "status": …}).
    Build one by hand to evaluate expressions outside a run, e.g.
    `EvaluationContext(parameters={"base": "http://x"}, trigger={"outputs": {"body": {...}}})`.
    """

    trigger: dict[str, Any] | None = None
    actions: MutableMapping[str, dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    loops: tuple[LoopFrame, ...] = ()
    workflow: dict[str, Any] = field(default_factory=dict)
    results: Callable[[str], list[dict[str, Any]]] | None = None
    clock: Clock = field(default_factory=SystemClock)
    guid: Callable[[], str] = field(default=lambda: str(uuid.uuid4()))
    variables_lock: threading.RLock = field(default_factory=threading.RLock)
    current_action: dict[str, Any] | None = None

    def now(self) -> datetime:
        return self.clock.now()

    def new_guid(self) -> str:
        return self.guid()

    def child(self, frame: LoopFrame | None = None) -> EvaluationContext:
        """A context for a loop iteration: own action results over the parent's, plus the frame."""
        loops = self.loops + (frame,) if frame is not None else self.loops
        return replace(self, actions=ChainMap({}, self.actions), loops=loops)

    def workflow_function(self, name: str, args: list[Any]) -> Any:
        handler = _WORKFLOW_FUNCTIONS[name]
        return handler(self, *args)


def _trigger(ctx: EvaluationContext) -> dict[str, Any]:
    if ctx.trigger is None:
        raise WorkflowContextError(
            "trigger() has no trigger to read: evaluate it inside a run, or pass a context with a trigger"
        )
    return ctx.trigger


def _trigger_outputs(ctx: EvaluationContext) -> Any:
    return _trigger(ctx).get("outputs")


def _trigger_body(ctx: EvaluationContext) -> Any:
    outputs = _trigger_outputs(ctx)
    return outputs.get("body") if isinstance(outputs, dict) else None


def _form_values(ctx: EvaluationContext, key: str) -> list[str]:
    body = _trigger_body(ctx)
    if not isinstance(body, str):
        raise ExpressionEvaluationError(
            "triggerFormDataValue() needs a form-encoded (application/x-www-form-urlencoded) trigger body"
        )
    values = parse_qs(body, keep_blank_values=True).get(key)
    if values is None:
        raise ExpressionEvaluationError(f"the form data of the trigger has no key {key!r}")
    return values


def _single_form_value(ctx: EvaluationContext, key: str) -> str:
    values = _form_values(ctx, key)
    if len(values) > 1:
        raise ExpressionEvaluationError(
            f"the trigger's form data has {len(values)} values for {key!r}; use triggerFormDataMultiValues()"
        )
    return values[0]


def _part(body: Any, index: Any, owner: str) -> Any:
    """Body of part `index` of a multipart body ({"$multipart": [{"headers", "body"}, …]})."""
    parts = body.get("$multipart") if isinstance(body, dict) else None
    if not isinstance(parts, list):
        raise ExpressionEvaluationError(f"the body of {owner} is not multipart (no '$multipart' parts)")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(parts):
        raise ExpressionEvaluationError(f"{owner} has {len(parts)} part(s); part {index!r} does not exist")
    return parts[index].get("body")


def _action(ctx: EvaluationContext, name: Any) -> dict[str, Any]:
    if not isinstance(name, str):
        raise ExpressionEvaluationError(f"an action name must be a string, got {name!r}")
    if not ctx.actions and ctx.trigger is None:
        raise WorkflowContextError(f"actions('{name}') needs a run; there is no workflow context here")
    try:
        return ctx.actions[name]
    except KeyError:
        raise ExpressionEvaluationError(
            f"the action '{name}' has not run (yet) here; check the name and that it is in this action's "
            "runAfter chain" + names_differing_in_case(name, ctx.actions)
        ) from None


def _outputs(ctx: EvaluationContext, name: Any) -> Any:
    return _action(ctx, name).get("outputs")


def _body(ctx: EvaluationContext, name: Any) -> Any:
    outputs = _outputs(ctx, name)
    if outputs is None:
        return None
    if isinstance(outputs, dict) and "body" in outputs:
        return outputs["body"]
    raise ExpressionEvaluationError(
        f"the outputs of action '{name}' have no body (a Compose action's value is outputs('{name}'))"
    )


def _frame(ctx: EvaluationContext, name: str | None, function: str) -> LoopFrame:
    if not ctx.loops:
        raise WorkflowContextError(f"{function} can only be used inside a loop or an item-based action")
    if name is None:
        return ctx.loops[-1]
    for frame in reversed(ctx.loops):
        if frame.name == name:
            return frame
    enclosing = [frame.name for frame in ctx.loops]
    raise ExpressionEvaluationError(
        f"{function} names '{name}', which is not an enclosing loop here (enclosing: {enclosing})"
        + names_differing_in_case(name, enclosing)
    )


def _variables(ctx: EvaluationContext, name: Any) -> Any:
    with ctx.variables_lock:
        if name not in ctx.variables:
            raise ExpressionEvaluationError(
                f"the variable '{name}' is not initialized; add an InitializeVariable action at the top level"
            )
        return ctx.variables[name]


def _parameters(ctx: EvaluationContext, name: Any) -> Any:
    if name not in ctx.parameters:
        declared = sorted(ctx.parameters)
        raise ExpressionEvaluationError(
            f"the workflow parameter '{name}' is not found; declared parameters with values: {declared}"
        )
    return ctx.parameters[name]


def _current_action(ctx: EvaluationContext) -> dict[str, Any]:
    if ctx.current_action is None:
        raise WorkflowContextError("action() can only be used in an action's trackedProperties")
    return ctx.current_action


def _workflow(ctx: EvaluationContext) -> dict[str, Any]:
    return ctx.workflow


def _result(ctx: EvaluationContext, name: Any) -> list[dict[str, Any]]:
    if ctx.results is None:
        raise WorkflowContextError(f"result('{name}') needs a run")
    return ctx.results(name)


_WORKFLOW_FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    "trigger": _trigger,
    "triggeroutputs": _trigger_outputs,
    "triggerbody": _trigger_body,
    "triggerformdatavalue": lambda ctx, key: _single_form_value(ctx, key),
    "triggermultipartbody": lambda ctx, index: _part(_trigger_body(ctx), index, "the trigger"),
    "multipartbody": lambda ctx, name, index: _part(_body(ctx, name), index, f"action '{name}'"),
    "triggerformdatamultivalues": _form_values,
    "body": _body,
    "actionbody": _body,
    "outputs": _outputs,
    "actionoutputs": _outputs,
    "actions": _action,
    "action": _current_action,
    "items": lambda ctx, name: _frame(ctx, name, f"items('{name}')").item,
    "item": lambda ctx: _frame(ctx, None, "item()").item,
    "iterationindexes": lambda ctx, name: _frame(ctx, name, f"iterationIndexes('{name}')").index,
    "variables": _variables,
    "parameters": _parameters,
    "workflow": _workflow,
    "result": _result,
}


class NoWorkflowContext:
    """The environment of `evaluate(value)` without a run: pure functions only.

    `base` may supply `now()` / `new_guid()` (any FunctionEnvironment); otherwise the system clock.
    """

    def __init__(self, base: Any = None) -> None:
        self._base = base
        self._clock = SystemClock()

    def workflow_function(self, name: str, args: list[Any]) -> Any:
        raise WorkflowContextError(
            f"the workflow function {name}() needs a workflow run; pass a context to evaluate() "
            "(EvaluationContext) or run the definition with run()"
        )

    def now(self) -> datetime:
        return self._base.now() if self._base is not None else self._clock.now()

    def new_guid(self) -> str:
        return self._base.new_guid() if self._base is not None else str(uuid.uuid4())
