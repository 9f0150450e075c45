"""Control actions: If, Switch, Scope, Foreach, Until, Terminate and Wait.

Shapes follow https://learn.microsoft.com/azure/logic-apps/logic-apps-workflow-actions-triggers.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from ._context import EvaluationContext, LoopFrame
from ._definition import ActionNode
from ._durations import parse_duration
from ._errors import DefinitionError, ExpressionEvaluationError
from ._expressions import library_lookup
from ._functions._common import type_name
from ._functions._timestamps import parse_stamp
from ._inputs import Iteration, object_inputs
from ._records import CANCELLED, FAILED, SUCCEEDED, TIMED_OUT
from ._runtime import Outcome, RunState, Termination
from ._shapes import as_array, as_object

# Azure's default and maximum Foreach degree of parallelism
# (https://learn.microsoft.com/azure/logic-apps/logic-apps-control-flow-loops#for-each).
DEFAULT_FOREACH_DEGREE = 20
MAX_FOREACH_DEGREE = 50
# Until defaults: 60 iterations, one hour (https://learn.microsoft.com/azure/logic-apps/logic-apps-control-flow-loops#until).
DEFAULT_UNTIL_COUNT = 60
DEFAULT_UNTIL_TIMEOUT = "PT1H"
# Loop size limits (https://learn.microsoft.com/azure/logic-apps/logic-apps-limits-and-config#looping-debatching-limits).
MAX_FOREACH_ITEMS = 100_000
MAX_UNTIL_COUNT = 5000


def terminate(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    """Stop the run with `runStatus` (and `runError`); actions not yet started never run."""
    inputs = object_inputs(node, ctx)
    status = str(inputs.get("runStatus", FAILED))
    if status not in (SUCCEEDED, FAILED, CANCELLED):
        raise DefinitionError(f"Terminate runStatus must be Succeeded, Failed or Cancelled, got {status!r}")
    error = as_object(inputs.get("runError"))
    run.terminate(Termination(status, error.get("code"), error.get("message")))
    return Outcome(SUCCEEDED, inputs, None)


def wait(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    """Wait an `interval` or `until` a timestamp, not both, on the run's clock (virtual time moves instantly).

    https://learn.microsoft.com/azure/logic-apps/logic-apps-workflow-actions-triggers#wait-action
    """
    inputs = object_inputs(node, ctx)
    if ("interval" in inputs) == ("until" in inputs):
        raise DefinitionError("a Wait action needs inputs.interval (Delay) or inputs.until (Delay until), not both")
    if "until" in inputs:
        run.clock.sleep(_seconds_until(as_object(inputs["until"]).get("timestamp"), run.clock.now()))
    else:
        run.clock.sleep(_interval_seconds(as_object(inputs["interval"])))
    return Outcome(SUCCEEDED, inputs, None)


_WAIT_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}


def _interval_seconds(interval: dict[str, Any]) -> float:
    unit = str(interval.get("unit", "")).lower()
    if unit not in _WAIT_UNITS:
        raise DefinitionError(f"Wait interval unit must be one of {sorted(_WAIT_UNITS)}, got {interval.get('unit')!r}")
    count = interval.get("count", 0)
    if isinstance(count, bool) or not isinstance(count, (int, float)) or count < 0:
        raise DefinitionError(f"Wait interval count must be a non-negative number, got {count!r}")
    return float(count) * _WAIT_UNITS[unit]


def _seconds_until(timestamp: Any, now: datetime) -> float:
    """Seconds from `now` to a UTC `until.timestamp`; a moment already past waits nothing (see README)."""
    if not isinstance(timestamp, str):
        raise DefinitionError(f"Wait until.timestamp must be a UTC timestamp string, got {timestamp!r}")
    moment = parse_stamp("Wait until.timestamp", timestamp).to_datetime().replace(tzinfo=timezone.utc)
    return max(0.0, (moment - now).total_seconds())


def if_(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    """Run the branch the condition picks; the other branch's top-level actions are recorded Skipped."""
    outcome = condition_result(node, ctx)
    taken, other = ("actions", "else") if outcome else ("else", "actions")
    run.skip_graph(node.graphs[other], ctx, iteration)
    status = run.run_graph(node.graphs[taken], ctx, iteration)
    return Outcome(status, {"expressionResult": outcome}, None, *_container_error(status))


def condition_result(node: ActionNode, ctx: EvaluationContext) -> bool:
    """An If/Until expression: an expression giving a boolean, or the designer's condition object."""
    value = node.parts["expression"].evaluate(ctx)
    if isinstance(node.raw.get("expression"), dict):
        return _designer_condition(value, node)
    if not isinstance(value, bool):
        raise ExpressionEvaluationError(
            f"the {node.type} expression must be a boolean, got {json.dumps(value, default=str)[:80]}", path=node.path
        )
    return value


def _designer_condition(value: Any, node: ActionNode) -> bool:
    """{"and": [{"equals": [a, b]}, {"not": {...}}]}: and/or/not over library predicates."""
    if isinstance(value, bool):
        return value
    if not (isinstance(value, dict) and len(value) == 1):
        raise ExpressionEvaluationError(f"a condition must be one {{operator: operands}} object, got {value!r}",
                                        path=node.path)
    (operator, operands), = value.items()
    lowered = operator.lower()
    if lowered in ("and", "or"):
        results = [_designer_condition(item, node) for item in operands]
        return all(results) if lowered == "and" else any(results)
    if lowered == "not":
        return not _designer_condition(operands, node)
    return _designer_condition(_designer_call(operator, operands, node), node)


def _designer_call(operator: str, operands: Any, node: ActionNode) -> Any:
    """A library function in the designer's object form; an operand that is itself such an object
    (`{"equals": [{"length": ["a"]}, 1]}`) is evaluated first, as the designer nests functions."""
    spec = library_lookup(operator)
    if spec is None:
        raise ExpressionEvaluationError(f"the condition uses unknown function {operator!r}", path=node.path)
    return spec.impl(*[_designer_operand(operand, node) for operand in as_array(operands)])


def _designer_operand(operand: Any, node: ActionNode) -> Any:
    if isinstance(operand, dict) and len(operand) == 1:
        (name, arguments), = operand.items()
        if isinstance(arguments, list) and library_lookup(name) is not None:
            return _designer_call(name, arguments, node)
    return operand


def _container_error(status: str) -> tuple[str | None, str | None]:
    if status == SUCCEEDED:
        return None, None
    return "ActionFailed", "an action inside failed; see the records of the inner actions"


def scope(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    """Run the grouped actions; the scope takes the status of its branches."""
    status = run.run_graph(node.graphs["actions"], ctx, iteration)
    return Outcome(status, None, None, *_container_error(status))


def switch(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    """Run the first case equal to the expression, else the default; the others are Skipped."""
    value = node.parts["expression"].evaluate(ctx)
    chosen = "default"
    for role, template in node.parts.items():
        if role.startswith("case:") and template.evaluate(ctx) == value:
            chosen = role
            break
    for role, graph in node.graphs.items():
        if role != chosen:
            run.skip_graph(graph, ctx, iteration)
    status = run.run_graph(node.graphs[chosen], ctx, iteration)
    return Outcome(status, {"expressionValue": value}, None, *_container_error(status))


def foreach_degree(body: dict[str, Any]) -> int:
    """How many iterations of a Foreach definition run at once (DefinitionError when out of range)."""
    if "sequential" in str(body.get("operationOptions", "")).lower():
        return 1
    repetitions = as_object(as_object(body.get("runtimeConfiguration")).get("concurrency")).get("repetitions")
    if repetitions is None:
        return DEFAULT_FOREACH_DEGREE
    if not isinstance(repetitions, int) or not 1 <= repetitions <= MAX_FOREACH_DEGREE:
        raise DefinitionError(f"Foreach concurrency.repetitions must be 1..{MAX_FOREACH_DEGREE}, got {repetitions!r}")
    return repetitions


def until_count(limit: dict[str, Any]) -> int:
    """The iteration limit of an Until's (evaluated) `limit` (DefinitionError when out of range)."""
    count = limit.get("count", DEFAULT_UNTIL_COUNT)
    if not isinstance(count, int) or not 0 < count <= MAX_UNTIL_COUNT:
        raise DefinitionError(f"Until limit.count must be 1..{MAX_UNTIL_COUNT}, got {count!r}")
    return count


def foreach(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    """Run the body once per item, `foreach_degree` at a time; Failed if any iteration failed."""
    items = node.parts["foreach"].evaluate(ctx)
    if not isinstance(items, list):
        return Outcome.failed(
            "InvalidTemplate",
            f"the 'foreach' expression must give an array, got {type_name(items)}",
        )
    if len(items) > MAX_FOREACH_ITEMS:
        return Outcome.failed("InvalidTemplate",
                              f"the 'foreach' array has {len(items)} items; Foreach handles at most "
                              f"{MAX_FOREACH_ITEMS}")
    body = node.graphs["actions"]

    def one(index: int, item: Any) -> Callable[[], str]:
        return lambda: run.run_graph(body, ctx.child(LoopFrame(node.name, item, index)), iteration + (index,))

    statuses = run.run_parallel([one(i, item) for i, item in enumerate(items)], foreach_degree(node.raw))
    status = FAILED if FAILED in statuses else SUCCEEDED
    return Outcome(status, {"foreachItems": len(items)}, None, *_container_error(status))


def until(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    """Run the body, then test the condition, until it holds or `limit` (count, timeout) is reached."""
    # limit.count / limit.timeout may come from expressions such as @parameters('attempts'); see README.
    limit = as_object(node.parts["limit"].evaluate(ctx))
    count = until_count(limit)
    budget = parse_duration(limit.get("timeout", DEFAULT_UNTIL_TIMEOUT), path=node.path, what="Until limit.timeout")
    deadline = run.clock.now().timestamp() + budget
    status = SUCCEEDED
    for index in range(count):
        inner = ctx.child(LoopFrame(node.name, None, index))
        status = run.run_graph(node.graphs["actions"], inner, iteration + (index,))
        if run.termination is not None:
            break
        # The condition sees the latest iteration's action results.
        ctx.actions.update(inner.actions.maps[0])
        if condition_result(node, ctx):
            break
        if run.clock.now().timestamp() >= deadline:
            within = limit.get("timeout", DEFAULT_UNTIL_TIMEOUT)
            return Outcome(TIMED_OUT, None, None, "ActionTimedOut",
                           f"the Until loop did not meet its condition within {within}")
    return Outcome(status, {"iterations": index + 1}, None, *_container_error(status))
