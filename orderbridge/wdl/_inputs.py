"""Reading an action's evaluated inputs: object inputs, typed members, text maps for the wire."""
from __future__ import annotations

import json
from typing import Any

from ._context import EvaluationContext
from ._definition import ActionNode
from ._errors import ExpressionEvaluationError
from ._expressions import to_interpolated_text

Iteration = tuple[int, ...]


def member(inputs: dict[str, Any], key: str, expected: type, node: ActionNode) -> Any:
    """inputs[key] checked against the JSON type the action needs; None when absent or null."""
    value = inputs.get(key)
    if value is not None and not isinstance(value, expected):
        raise ExpressionEvaluationError(
            f"inputs.{key} of a {node.type} action has the wrong type: {json.dumps(value, default=str)[:60]}",
            path=node.path,
        )
    return value


def text_map(value: dict[str, Any] | None) -> dict[str, str]:
    """Headers and queries as text, the way they go on the wire."""
    return {str(k): to_interpolated_text(v) for k, v in (value or {}).items()}


def object_inputs(node: ActionNode, ctx: EvaluationContext) -> dict[str, Any]:
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
