"""Data actions: Compose, ParseJson, Response, variables, Select, Query, Join and Table.

Shapes follow https://learn.microsoft.com/azure/logic-apps/logic-apps-perform-data-operations and
https://learn.microsoft.com/azure/logic-apps/logic-apps-create-variables-store-values.
"""
from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Callable
from typing import Any

import jsonschema

from ._context import EvaluationContext, LoopFrame
from ._definition import ActionNode
from ._errors import DefinitionError, ExpressionEvaluationError
from ._expressions import to_interpolated_text
from ._functions._common import type_name
from ._inputs import Iteration, member, object_inputs, text_map
from ._records import SUCCEEDED, WorkflowResponse
from ._runtime import Handler, Outcome, RunState
from ._shapes import as_array, as_object


def compose(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    """Output the evaluated inputs unchanged."""
    value = node.inputs.evaluate(ctx)
    return Outcome(SUCCEEDED, value, value)


def parse_json(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    """Parse `content` and validate it against `schema` (Draft 4 unless `$schema` says otherwise)."""
    inputs = object_inputs(node, ctx)
    content = inputs.get("content")
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except json.JSONDecodeError as exc:
            return Outcome.failed("InvalidJSON", f"the content is not valid JSON: {exc}", inputs)
    schema = member(inputs, "schema", dict, node) or {}
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
    """Answer the Request trigger's caller; only the first Response of a run counts."""
    inputs = object_inputs(node, ctx)
    status_code = inputs.get("statusCode", 200)
    try:
        status_code = int(status_code)
    except (TypeError, ValueError):
        return Outcome.failed("InvalidTemplate", f"Response statusCode {status_code!r} is not a number", inputs)
    headers = text_map(member(inputs, "headers", dict, node))
    if not run.set_response(WorkflowResponse(status_code, headers, inputs.get("body"), run.clock.now())):
        return Outcome.failed("ActionResponseAlreadySent", "a Response was already sent for this run", inputs)
    return Outcome(SUCCEEDED, inputs, None)


_VARIABLE_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "float": (float, int),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def initialize_variable(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    """Declare variables with their type and initial value (once per run)."""
    inputs = object_inputs(node, ctx)
    declared = [as_object(variable) for variable in as_array(inputs.get("variables"))]
    with ctx.variables_lock:
        for variable in declared:
            name, kind = member(variable, "name", str, node), str(variable.get("type", "")).lower()
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
        inputs = object_inputs(node, ctx)
        name = member(inputs, "name", str, node)
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


set_variable = _variable_update(_set)
increment = _variable_update(lambda current, by: _number(current) + _number(1 if by is None else by))
decrement = _variable_update(lambda current, by: _number(current) - _number(1 if by is None else by))
append_to_array = _variable_update(_append_to_array)
append_to_string = _variable_update(_append_to_string)


def _from_array(inputs: dict[str, Any], node: ActionNode) -> list:
    items = inputs.get("from")
    if not isinstance(items, list):
        raise ExpressionEvaluationError(f"'from' must be an array, got {type_name(items)}", path=node.path)
    return items


def _per_item(node: ActionNode, ctx: EvaluationContext, part: str, items: list) -> list:
    template = node.parts[part]
    return [template.evaluate(ctx.child(LoopFrame(node.name, item, i))) for i, item in enumerate(items)]


def select(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    """Map each item of `from` through the `select` template."""
    inputs = object_inputs(node, ctx)
    body = _per_item(node, ctx, "select", _from_array(inputs, node))
    return Outcome(SUCCEEDED, inputs, {"body": body})


def query(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    """Keep the items of `from` for which `where` is true."""
    inputs = object_inputs(node, ctx)
    items = _from_array(inputs, node)
    keep = _per_item(node, ctx, "where", items)
    return Outcome(SUCCEEDED, inputs, {"body": [item for item, ok in zip(items, keep) if ok is True]})


def join(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    """Write the items of `from` as text separated by `joinWith`."""
    inputs = object_inputs(node, ctx)
    separator = to_interpolated_text(inputs.get("joinWith", ""))
    text = separator.join(to_interpolated_text(item) for item in _from_array(inputs, node))
    return Outcome(SUCCEEDED, inputs, {"body": text})


def _columns(row: Any, node: ActionNode) -> list[dict[str, Any]]:
    if not isinstance(row, list) or not all(isinstance(column, dict) for column in row):
        raise ExpressionEvaluationError("Table columns must be an array of {header, value} objects", path=node.path)
    return row


def table(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    """Build a CSV or HTML table from `from`, with explicit `columns` or the items' keys."""
    inputs = object_inputs(node, ctx)
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
