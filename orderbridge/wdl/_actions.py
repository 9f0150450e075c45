"""Action handlers, one per action type; each returns an Outcome for the scheduler to record.

Shapes follow https://learn.microsoft.com/azure/logic-apps/logic-apps-workflow-actions-triggers.
"""
from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Callable
from dataclasses import replace
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlencode

import jsonschema

from ._clock import Clock
from ._context import EvaluationContext, LoopFrame
from ._definition import ActionNode
from ._durations import parse_duration
from ._errors import DefinitionError, ExpressionEvaluationError, TransportError, TransportTimeout
from ._expressions import library_lookup, to_interpolated_text
from ._functions._common import type_name
from ._records import CANCELLED, FAILED, SUCCEEDED, TIMED_OUT, Attempt, WorkflowResponse
from ._retry import OUTBOUND_REQUEST_LIMIT_SECONDS, RetryPolicy, is_retryable_status, parse_retry_policy
from ._runtime import Handler, Outcome, RunState, Termination
from ._shapes import as_array, as_object
from ._transport import HttpRequest, HttpResponse

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
# Credentials are sent but never recorded; Azure: "Authorization headers are never visible through
# inputs or outputs" (https://learn.microsoft.com/azure/logic-apps/logic-apps-securing-a-logic-app#secure-action-parameters).
SECRET_KEYS = frozenset({"password", "pfx", "secret", "clientsecret"})
HIDDEN_SECRET = "<redacted: credential>"

Iteration = tuple[int, ...]


def _member(inputs: dict[str, Any], key: str, expected: type, node: ActionNode, default: Any = None) -> Any:
    """inputs[key] checked against the JSON type the action needs; an absent key gives `default`."""
    value = inputs.get(key, default)
    if value is not None and not isinstance(value, expected):
        raise ExpressionEvaluationError(
            f"inputs.{key} of a {node.type} action has the wrong type: {json.dumps(value, default=str)[:60]}",
            path=node.path,
        )
    return value


def _text_map(value: dict[str, Any] | None) -> dict[str, str]:
    """Headers and queries as text, the way they go on the wire."""
    return {str(k): to_interpolated_text(v) for k, v in (value or {}).items()}


def _inputs(node: ActionNode, ctx: EvaluationContext) -> dict[str, Any]:
    """The evaluated `inputs` of an action whose inputs are an object (all but Compose)."""
    inputs = node.inputs.evaluate(ctx)
    if inputs is None:
        return {}
    if not isinstance(inputs, dict):
        raise ExpressionEvaluationError(
            f"the inputs of a {node.type} action must be an object, got {json.dumps(inputs, default=str)[:60]}",
            path=node.path,
        )
    return inputs


def compose(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    value = node.inputs.evaluate(ctx)
    return Outcome(SUCCEEDED, value, value)


def parse_json(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    inputs = _inputs(node, ctx)
    content = inputs.get("content")
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except json.JSONDecodeError as exc:
            return Outcome.failed("InvalidJSON", f"the content is not valid JSON: {exc}", inputs)
    schema = _member(inputs, "schema", dict, node, {})
    validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft4Validator)
    try:
        validator_class.check_schema(schema)
        problems = sorted(validator_class(schema).iter_errors(content), key=lambda e: list(e.absolute_path))
    except (jsonschema.SchemaError, jsonschema.exceptions.UnknownType) as exc:
        reason = getattr(exc, "message", exc)
        return Outcome.failed("InvalidSchema", f"the ParseJson schema is not a valid JSON schema: {reason}", inputs)
    if problems:
        described = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in problems[:10])
        return Outcome.failed("ValidationFailed", f"the schema validation failed: {described}", inputs,
                              {"errors": [e.message for e in problems]})
    return Outcome(SUCCEEDED, inputs, {"body": content})


def response(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    inputs = _inputs(node, ctx)
    status_code = inputs.get("statusCode", 200)
    try:
        status_code = int(status_code)
    except (TypeError, ValueError):
        return Outcome.failed("InvalidTemplate", f"Response statusCode {status_code!r} is not a number", inputs)
    headers = _text_map(_member(inputs, "headers", dict, node))
    if not run.set_response(WorkflowResponse(status_code, headers, inputs.get("body"), run.clock.now())):
        return Outcome.failed("ActionResponseAlreadySent", "a Response was already sent for this run", inputs)
    return Outcome(SUCCEEDED, inputs, None)


def terminate(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    inputs = _inputs(node, ctx)
    status = str(inputs.get("runStatus", FAILED))
    if status not in (SUCCEEDED, FAILED, CANCELLED):
        raise DefinitionError(f"Terminate runStatus must be Succeeded, Failed or Cancelled, got {status!r}")
    error = as_object(inputs.get("runError"))
    run.terminate(Termination(status, error.get("code"), error.get("message")))
    return Outcome(SUCCEEDED, inputs, None)


def wait(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    inputs = _inputs(node, ctx)
    interval = as_object(inputs.get("interval"))
    units = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
    unit = str(interval.get("unit", "")).lower()
    if unit not in units:
        raise DefinitionError(f"Wait interval unit must be one of {sorted(units)}, got {interval.get('unit')!r}")
    count = interval.get("count", 0)
    if isinstance(count, bool) or not isinstance(count, (int, float)) or count < 0:
        raise DefinitionError(f"Wait interval count must be a non-negative number, got {count!r}")
    run.clock.sleep(float(count) * units[unit])
    return Outcome(SUCCEEDED, inputs, None)


# -- HTTP ---------------------------------------------------------------------------------------


def http(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    inputs = _inputs(node, ctx)
    method = str(inputs.get("method", "")).upper()
    uri = inputs.get("uri")
    if not method or not isinstance(uri, str):
        raise DefinitionError("an Http action needs 'method' and a string 'uri'")
    url = _with_queries(uri, _member(inputs, "queries", dict, node))
    headers = _text_map(_member(inputs, "headers", dict, node))
    authentication = _member(inputs, "authentication", dict, node)
    request = HttpRequest(method, url, headers, inputs.get("body"), authentication, None)
    recorded = {key: value for key, value in inputs.items() if key != "retryPolicy"}
    if "headers" in recorded:
        recorded["headers"] = {k: (HIDDEN_SECRET if k.lower() == "authorization" else v) for k, v in headers.items()}
    if authentication is not None:
        recorded["authentication"] = _hide_secrets(authentication)
    policy = parse_retry_policy(inputs.get("retryPolicy"), node.path)
    return call_with_retries(run, node, lambda req: run.http(req), request, policy, recorded)


def _with_queries(uri: str, queries: dict[str, Any] | None) -> str:
    if not queries:
        return uri
    # Spaces as %20, as .NET's Uri.EscapeDataString writes them, not '+'.
    encoded = urlencode(_text_map(queries), quote_via=quote)
    return f"{uri}{'&' if '?' in uri else '?'}{encoded}"


def _hide_secrets(authentication: dict[str, Any]) -> dict[str, Any]:
    """Record authentication (type, audience, identity) but never passwords or certificates."""
    return {k: (HIDDEN_SECRET if k.lower() in SECRET_KEYS else v) for k, v in authentication.items()}


def _action_timeout(node: ActionNode) -> float | None:
    limit = as_object(node.raw.get("limit"))
    if "timeout" not in limit:
        return None
    return parse_duration(limit["timeout"], path=node.path, what="limit.timeout")


class _Budget:
    """What is left of an action's limit.timeout (None: no limit), on the run's clock."""

    def __init__(self, clock: Clock, seconds: float | None) -> None:
        self.clock = clock
        self.deadline = None if seconds is None else clock.now().timestamp() + seconds

    def left(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - self.clock.now().timestamp())

    def spent(self) -> bool:
        return self.left() == 0.0


def call_with_retries(
    run: RunState,
    node: ActionNode,
    send: Callable[[HttpRequest], HttpResponse],
    request: HttpRequest,
    policy: RetryPolicy,
    recorded_inputs: Any,
) -> Outcome:
    """Send with retries on 408/429/5xx/connection failures, within limit.timeout (see _retry)."""
    budget = _Budget(run.clock, _action_timeout(node))
    attempts: list[Attempt] = []
    while True:
        left = budget.left()
        allowance = OUTBOUND_REQUEST_LIMIT_SECONDS if left is None else min(left, OUTBOUND_REQUEST_LIMIT_SECONDS)
        answer, error = _attempt(run.clock, send, replace(request, timeout=allowance), attempts)
        outputs = _http_outputs(answer)
        if answer is not None and 200 <= answer.status_code < 300:
            if _starts_async_operation(answer, node):
                return _finish_async(run, node, request, answer, budget, attempts, recorded_inputs)
            return Outcome(SUCCEEDED, recorded_inputs, outputs, attempts=attempts)
        retryable = answer is None or is_retryable_status(answer.status_code)
        if retryable and len(attempts) <= policy.count and not budget.spent():
            wait = policy.delay(len(attempts), run.jitter)
            left = budget.left()
            run.clock.sleep(wait if left is None else min(wait, left))
            if not budget.spent():
                continue
        if budget.spent():
            return Outcome(TIMED_OUT, recorded_inputs, outputs, "ActionTimedOut",
                           f"the action did not finish within limit.timeout {node.raw['limit']['timeout']} "
                           f"({len(attempts)} attempt(s))", attempts)
        return Outcome(FAILED, recorded_inputs, outputs, *_failure(answer, error, len(attempts)), attempts)


# Asynchronous pattern: a 202 with a Location header is polled until the operation ends; the
# engine waits Retry-After seconds, else 20 s (https://github.com/logicappsio/LogicAppsAsyncResponseSample).
ASYNC_POLL_SECONDS = 20.0


def _starts_async_operation(answer: HttpResponse, node: ActionNode) -> bool:
    disabled = "disableasyncpattern" in str(node.raw.get("operationOptions", "")).lower()
    return answer.status_code == 202 and _header(answer, "location") is not None and not disabled


def _header(answer: HttpResponse, name: str) -> str | None:
    return next((value for key, value in answer.headers.items() if key.lower() == name), None)


def _finish_async(run: RunState, node: ActionNode, request: HttpRequest, answer: HttpResponse, budget: _Budget,
                  attempts: list[Attempt], recorded_inputs: Any) -> Outcome:
    """Poll the Location of an accepted operation (GET, same headers) until it stops answering 202."""
    while _starts_async_operation(answer, node):
        try:
            wait = float(_header(answer, "retry-after") or ASYNC_POLL_SECONDS)
        except ValueError:
            wait = ASYNC_POLL_SECONDS
        left = budget.left()
        run.clock.sleep(wait if left is None else min(wait, left))
        left = budget.left()
        if left == 0.0:
            return Outcome(TIMED_OUT, recorded_inputs, _http_outputs(answer), "ActionTimedOut",
                           "the asynchronous operation did not finish within limit.timeout", attempts)
        poll = HttpRequest("GET", str(_header(answer, "location")), request.headers, None, request.authentication,
                           OUTBOUND_REQUEST_LIMIT_SECONDS if left is None else min(left, OUTBOUND_REQUEST_LIMIT_SECONDS))
        polled, error = _attempt(run.clock, run.http, poll, attempts, poll=True)
        if polled is None:
            return Outcome(FAILED, recorded_inputs, None, *_failure(None, error, len(attempts)), attempts)
        answer = polled
    if 200 <= answer.status_code < 300:
        return Outcome(SUCCEEDED, recorded_inputs, _http_outputs(answer), attempts=attempts)
    return Outcome(FAILED, recorded_inputs, _http_outputs(answer), *_failure(answer, None, len(attempts)), attempts)


def _attempt(clock: Clock, send: Callable[[HttpRequest], HttpResponse], request: HttpRequest,
             attempts: list[Attempt], poll: bool = False) -> tuple[HttpResponse | None, str | None]:
    """One try, recorded in `attempts`; an answer later than the allowance counts as a timeout."""
    began = clock.now()
    answer: HttpResponse | None = None
    try:
        answer, error = send(request), None
    except TransportTimeout as exc:
        error = f"timeout: {exc}"
    except TransportError as exc:
        error = f"connection failure: {exc}"
    ended = clock.now()
    if answer is not None and request.timeout is not None and (ended - began).total_seconds() > request.timeout:
        answer, error = None, f"timeout: the answer came after the attempt's {request.timeout:g} s allowance"
    attempts.append(Attempt(began, ended, answer.status_code if answer else None, error, poll))
    return answer, error


def _http_outputs(answer: HttpResponse | None) -> dict[str, Any] | None:
    if answer is None:
        return None
    return {"statusCode": answer.status_code, "headers": dict(answer.headers), "body": answer.body}


def _failure(answer: HttpResponse | None, error: str | None, attempts: int) -> tuple[str, str]:
    if answer is None:
        return "ServiceUnavailable" if "connection" in (error or "") else "RequestTimeout", (
            f"no answer after {attempts} attempt(s): {error}"
        )
    try:
        code = HTTPStatus(answer.status_code).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        code = f"Http{answer.status_code}"
    return code, f"the server answered HTTP {answer.status_code} after {attempts} attempt(s)"


def api_connection(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    """A managed connector call, served by the connector registered under the connection's name."""
    inputs = _inputs(node, ctx)
    connection = as_object(as_object(inputs.get("host")).get("connection")).get("name")
    connector = run.connectors.get(connection) if isinstance(connection, str) else None
    if connector is None:
        raise DefinitionError(
            f"no connector is registered for connection {connection!r}; pass connectors={{{connection!r}: "
            "callable}} to run()"
        )
    method = str(inputs.get("method", "get")).upper()
    url = _with_queries(str(inputs.get("path", "/")), _member(inputs, "queries", dict, node))
    headers = _text_map(_member(inputs, "headers", dict, node))
    request = HttpRequest(method, url, headers, inputs.get("body"), None, None)
    policy = parse_retry_policy(inputs.get("retryPolicy"), node.path)
    recorded = {key: value for key, value in inputs.items() if key != "retryPolicy"}
    return call_with_retries(run, node, connector, request, policy, recorded)


# -- control ------------------------------------------------------------------------------------


def if_(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
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
    spec = library_lookup(operator)
    if spec is None:
        raise ExpressionEvaluationError(f"the condition uses unknown function {operator!r}", path=node.path)
    return _designer_condition(spec.impl(*operands), node)


def _container_error(status: str) -> tuple[str | None, str | None]:
    if status == SUCCEEDED:
        return None, None
    return "ActionFailed", "an action inside failed; see the records of the inner actions"


def scope(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    status = run.run_graph(node.graphs["actions"], ctx, iteration)
    return Outcome(status, None, None, *_container_error(status))


def switch(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
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


def until_count(body: dict[str, Any]) -> int:
    """The iteration limit of an Until definition (DefinitionError when out of range)."""
    count = as_object(body.get("limit")).get("count", DEFAULT_UNTIL_COUNT)
    if not isinstance(count, int) or not 0 < count <= MAX_UNTIL_COUNT:
        raise DefinitionError(f"Until limit.count must be 1..{MAX_UNTIL_COUNT}, got {count!r}")
    return count


def foreach(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    items = node.parts["foreach"].evaluate(ctx)
    if not isinstance(items, list):
        return Outcome.failed(
            "InvalidTemplate",
            f"the 'foreach' expression must give an array, got {type_name(items)}",
        )
    if len(items) > MAX_FOREACH_ITEMS:
        return Outcome.failed("InvalidTemplate",
                              f"the 'foreach' array has {len(items)} items; Foreach handles at most {MAX_FOREACH_ITEMS}")
    body = node.graphs["actions"]

    def one(index: int, item: Any) -> Callable[[], str]:
        return lambda: run.run_graph(body, ctx.child(LoopFrame(node.name, item, index)), iteration + (index,))

    statuses = run.run_parallel([one(i, item) for i, item in enumerate(items)], foreach_degree(node.raw))
    status = FAILED if FAILED in statuses else SUCCEEDED
    return Outcome(status, {"foreachItems": len(items)}, None, *_container_error(status))


def until(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    limit = as_object(node.raw.get("limit"))
    count = until_count(node.raw)
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


# -- variables ------------------------------------------------------------------------------------

_VARIABLE_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "float": (float, int),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def initialize_variable(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    inputs = _inputs(node, ctx)
    declared = [as_object(variable) for variable in as_array(inputs.get("variables"))]
    with ctx.variables_lock:
        for variable in declared:
            name, kind = _member(variable, "name", str, node), str(variable.get("type", "")).lower()
            if kind not in _VARIABLE_TYPES:
                raise DefinitionError(f"variable {name!r} has unknown type {variable.get('type')!r}; "
                                      f"use one of {sorted(_VARIABLE_TYPES)}")
            if name in ctx.variables:
                return Outcome.failed("InvalidOperation", f"the variable '{name}' is already initialized", inputs)
            value = variable.get("value", _EMPTY[kind])
            if value is not None and not _has_type(value, kind):
                return Outcome.failed("InvalidVariableValue",
                                      f"variable '{name}' of type {kind} cannot hold {json.dumps(value)[:60]}", inputs)
            ctx.variables[name] = value
    return Outcome(SUCCEEDED, inputs, None)


_EMPTY: dict[str, Any] = {"string": "", "integer": 0, "float": 0.0, "boolean": False, "array": [], "object": {}}


def _has_type(value: Any, kind: str) -> bool:
    if isinstance(value, bool) and kind in ("integer", "float"):
        return False
    return isinstance(value, _VARIABLE_TYPES[kind])


def _variable_update(update: Callable[[Any, Any], Any]) -> Handler:
    def handler(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
        inputs = _inputs(node, ctx)
        name = _member(inputs, "name", str, node)
        with ctx.variables_lock:
            if name not in ctx.variables:
                return Outcome.failed("InvalidOperation",
                                      f"the variable '{name}' is not initialized; initialize it first", inputs)
            try:
                ctx.variables[name] = update(ctx.variables[name], inputs.get("value"))
            except (TypeError, ValueError) as exc:
                return Outcome.failed("InvalidOperation", f"cannot update variable '{name}': {exc}", inputs)
            value = ctx.variables[name]
        return Outcome(SUCCEEDED, inputs, {"body": {"name": name, "value": value}})

    return handler


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{json.dumps(value)} is not a number")
    return value


def _set(current: Any, value: Any) -> Any:
    if current is not None and value is not None and type(current) is not type(value) and not (
        isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool)
    ):
        raise TypeError(f"the value {json.dumps(value)[:60]} does not match the variable's type")
    return value


def _append_to_array(current: Any, value: Any) -> list:
    if not isinstance(current, list):
        raise TypeError("the variable is not an array")
    return [*current, value]


def _append_to_string(current: Any, value: Any) -> str:
    if not isinstance(current, str):
        raise TypeError("the variable is not a string")
    return current + to_interpolated_text(value)


# -- data operations -------------------------------------------------------------------------------


def _from_array(inputs: dict[str, Any], node: ActionNode) -> list:
    items = inputs.get("from")
    if not isinstance(items, list):
        raise ExpressionEvaluationError(f"'from' must be an array, got {type_name(items)}", path=node.path)
    return items


def _per_item(node: ActionNode, ctx: EvaluationContext, part: str, items: list) -> list:
    template = node.parts[part]
    return [template.evaluate(ctx.child(LoopFrame(node.name, item, i))) for i, item in enumerate(items)]


def select(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    inputs = _inputs(node, ctx)
    body = _per_item(node, ctx, "select", _from_array(inputs, node))
    return Outcome(SUCCEEDED, inputs, {"body": body})


def query(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    inputs = _inputs(node, ctx)
    items = _from_array(inputs, node)
    keep = _per_item(node, ctx, "where", items)
    return Outcome(SUCCEEDED, inputs, {"body": [item for item, ok in zip(items, keep) if ok is True]})


def join(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    inputs = _inputs(node, ctx)
    separator = to_interpolated_text(inputs.get("joinWith", ""))
    text = separator.join(to_interpolated_text(item) for item in _from_array(inputs, node))
    return Outcome(SUCCEEDED, inputs, {"body": text})


def _columns(row: Any, node: ActionNode) -> list[dict[str, Any]]:
    if not isinstance(row, list) or not all(isinstance(column, dict) for column in row):
        raise ExpressionEvaluationError("Table columns must be an array of {header, value} objects", path=node.path)
    return row


def table(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    inputs = _inputs(node, ctx)
    items = _from_array(inputs, node)
    if "columns" in node.parts:
        rows = [_columns(row, node) for row in _per_item(node, ctx, "columns", items)]
        headers = [to_interpolated_text(column.get("header", "")) for column in rows[0]] if rows else []
        values = [[column.get("value") for column in row] for row in rows]
    else:
        headers = list(dict.fromkeys(key for item in items if isinstance(item, dict) for key in item))
        values = [[item.get(h) if isinstance(item, dict) else None for h in headers] for item in items]
    cells = [[to_interpolated_text(v) for v in row] for row in values]
    if str(inputs.get("format", "CSV")).upper() == "HTML":
        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in cells)
        text = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(headers)
        writer.writerows(cells)
        text = buffer.getvalue()
    return Outcome(SUCCEEDED, inputs, {"body": text})


HANDLERS: dict[str, Handler] = {
    "compose": compose,
    "parsejson": parse_json,
    "response": response,
    "terminate": terminate,
    "wait": wait,
    "http": http,
    "apiconnection": api_connection,
    "if": if_,
    "scope": scope,
    "switch": switch,
    "foreach": foreach,
    "until": until,
    "initializevariable": initialize_variable,
    "setvariable": _variable_update(_set),
    "incrementvariable": _variable_update(lambda current, by: _number(current) + _number(1 if by is None else by)),
    "decrementvariable": _variable_update(lambda current, by: _number(current) - _number(1 if by is None else by)),
    "appendtoarrayvariable": _variable_update(_append_to_array),
    "appendtostringvariable": _variable_update(_append_to_string),
    "select": select,
    "query": query,
    "join": join,
    "table": table,
}
