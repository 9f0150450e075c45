"""The public entry points: `run` one workflow instance and `evaluate` a JSON value."""
from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

import jsonschema

from ._actions import HANDLERS
from ._clock import Clock, SystemClock, VirtualClock, timeline
from ._context import EvaluationContext, NoWorkflowContext
from ._definition import CompiledWorkflow, DefinitionCache, secure_properties
from ._errors import DefinitionError, WdlError, WorkflowContextError
from ._expressions import Environment
from ._functions._common import type_name
from ._records import FAILED, REDACTED, SUCCEEDED, ActionRecord, RunResult, WorkflowResponse
from ._retry import LIMIT_TIMEOUT_READINGS, Jitter
from ._runtime import ConnectorRegistry, RunState, default_jitter, new_run_id
from ._shapes import as_object
from ._templates import compile_value, is_template_expression
from ._transport import HttpxTransport, Transport

_DEFINITIONS = DefinitionCache()


@dataclass(frozen=True)
class TriggerInput:
    """The HTTP request that fires a Request trigger; `relative_path` as sent on the wire (percent-encoded)."""

    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"
    relative_path: str = ""
    queries: dict[str, str] = field(default_factory=dict)


def evaluate(value: Any, context: EvaluationContext | Mapping[str, Any] | Environment | None = None) -> Any:
    """Evaluate a JSON value as it would stand in a definition (see _templates for the rules).

    `context` is an EvaluationContext (workflow functions read it), a mapping of its fields (e.g.
    `{"parameters": {...}, "variables": {...}}`), or any object with `now()` and `new_guid()` for the
    pure functions only; with None, workflow functions raise WorkflowContextError.
    """
    if isinstance(context, Mapping):
        unknown = set(context) - set(EvaluationContext.__dataclass_fields__)
        if unknown:
            raise WorkflowContextError(
                f"evaluate() context has unknown keys {sorted(unknown)}; use EvaluationContext's fields "
                f"{sorted(EvaluationContext.__dataclass_fields__)}"
            )
        context = EvaluationContext(**context)
    if context is None or not hasattr(context, "workflow_function"):
        context = NoWorkflowContext(context)
    return compile_value(value).evaluate(context)


def prepare(definition: dict[str, Any] | CompiledWorkflow) -> CompiledWorkflow:
    """Compile a definition once (cached by content) so many runs share the parsed expressions."""
    return definition if isinstance(definition, CompiledWorkflow) else _DEFINITIONS.get(definition)


def run(
    definition: dict[str, Any] | CompiledWorkflow,
    *,
    trigger: TriggerInput,
    parameters: dict[str, Any] | None = None,
    http: Transport | None = None,
    clock: Clock | None = None,
    guid: Callable[[], str] | None = None,
    jitter: Jitter | None = None,
    connectors: ConnectorRegistry | None = None,
    workflow_name: str = "workflow",
    run_id: str | None = None,
    limit_timeout_reading: str = "action",
) -> RunResult:
    """Run one instance of `definition` fired by `trigger` and return what happened.

    `jitter(low, high)` picks exponential retry waits (default: uniform random); `connectors` maps
    an ApiConnection's connection name to a callable taking an HttpRequest and returning an HttpResponse.
    `limit_timeout_reading` chooses how an Http action's limit.timeout applies ("action", "attempt",
    "async-only"; the documentation leaves it open, see _retry).
    Raises DefinitionError for a definition that cannot run (unsupported type, bad parameters).
    """
    if limit_timeout_reading not in LIMIT_TIMEOUT_READINGS:
        raise DefinitionError(f"limit_timeout_reading must be one of {LIMIT_TIMEOUT_READINGS}, "
                              f"got {limit_timeout_reading!r}")
    workflow = prepare(definition)
    values = _parameter_values(workflow, parameters or {})
    clock = clock or SystemClock()
    run_id = run_id or new_run_id()
    state = RunState(
        workflow,
        http=http or _default_transport(),
        clock=clock,
        jitter=jitter or default_jitter(),
        connectors=connectors or {},
        handlers=HANDLERS,
        run_id=run_id,
        limit_timeout_reading=limit_timeout_reading,
    )
    started = clock.now()
    with timeline(clock, started):
        trigger_record = _fire_trigger(workflow, trigger, state)
        ctx = EvaluationContext(
            trigger=_visible_trigger(workflow, trigger, trigger_record),
            parameters=values,
            workflow=_workflow_info(workflow_name, run_id),
            clock=clock,
            guid=guid or (lambda: str(uuid.uuid4())),
        )
        ctx.results = lambda name: _results(state, workflow, name)
        if trigger_record.status != SUCCEEDED:
            return _result(state, trigger_record, FAILED, started, clock, run_id,
                           trigger_record.error_code, trigger_record.error_message)
        status = state.run_graph(workflow.graph, ctx, ())
        code, message = (None, None) if status == SUCCEEDED else _run_error(state)
        if state.termination is not None:
            status, code, message = state.termination.status, state.termination.code, state.termination.message
        outputs: dict[str, Any] = {}
        if status == SUCCEEDED:
            try:
                outputs = {name: template.evaluate(ctx) for name, template in workflow.outputs.items()}
            except WdlError as exc:
                status, code, message = FAILED, "InvalidTemplate", f"the workflow outputs failed: {exc}"
        return _result(state, trigger_record, status, started, clock, run_id, code, message, outputs)


@lru_cache(maxsize=1)
def _default_transport() -> HttpxTransport:
    """One real-HTTP transport (and connection pool) shared by every run that brings none."""
    return HttpxTransport()


def _result(state: RunState, trigger: ActionRecord, status: str, started: datetime, clock: Clock, run_id: str,
            code: str | None, message: str | None, outputs: dict[str, Any] | None = None) -> RunResult:
    ended = clock.now()
    if isinstance(clock, VirtualClock):
        clock.advance_to(ended)
    return RunResult(status=status, trigger=trigger, all_records=list(state.records), response=state.response,
                     billing=state.billing, started=started, ended=ended, error_code=code,
                     error_message=message, outputs=outputs or {}, run_id=run_id)


def _fire_trigger(workflow: CompiledWorkflow, trigger: TriggerInput, state: RunState) -> ActionRecord:
    """The Request trigger: check method and (when enabled) the body schema, then record it.

    Each request to a webhook trigger such as Request is metered as one execution
    (https://learn.microsoft.com/azure/logic-apps/logic-apps-pricing#triggers).
    """
    spec = workflow.trigger
    inputs = as_object(spec.get("inputs"))
    now = state.clock.now()
    outputs = trigger_outputs(trigger, inputs.get("relativePath"))
    secured = secure_properties(spec)
    record = ActionRecord(workflow.trigger_name, f"triggers.{workflow.trigger_name}", spec.get("type", "Request"),
                          SUCCEEDED, now, now, inputs=REDACTED if "inputs" in secured else inputs,
                          outputs=REDACTED if "outputs" in secured else _without_credentials(outputs))
    state.billing.trigger += 1
    expected = inputs.get("method")
    if expected and expected.upper() != trigger.method.upper():
        _reject(state, record, 405, "MethodNotAllowed", f"the trigger accepts {expected.upper()}, not {trigger.method}")
    elif "enableschemavalidation" in str(spec.get("operationOptions", "")).lower() and inputs.get("schema"):
        problems = list(jsonschema.Draft4Validator(inputs["schema"]).iter_errors(trigger.body))
        if problems:
            _reject(state, record, 400, "TriggerInputSchemaMismatch",
                    "the request body does not match the trigger schema: " + "; ".join(p.message for p in problems[:5]))
    return record


# The callback URL's `sig` and an Authorization header are credentials: expressions can read them,
# the recorded run never shows them.
_CREDENTIAL_QUERIES = frozenset({"sig"})
_CREDENTIAL_HEADERS = frozenset({"authorization"})


def _without_credentials(outputs: dict[str, Any]) -> dict[str, Any]:
    hidden = dict(outputs)
    hidden["headers"] = {k: REDACTED if k.lower() in _CREDENTIAL_HEADERS else v for k, v in outputs["headers"].items()}
    if "queries" in outputs:
        hidden["queries"] = {k: REDACTED if k.lower() in _CREDENTIAL_QUERIES else v
                             for k, v in outputs["queries"].items()}
    return hidden


def _visible_trigger(workflow: CompiledWorkflow, trigger: TriggerInput, record: ActionRecord) -> dict[str, Any]:
    """What `trigger()` returns: the real inputs and outputs, even when secureData hides them in the record."""
    inputs = as_object(workflow.trigger.get("inputs"))
    return {**record.as_result(), "inputs": inputs, "outputs": trigger_outputs(trigger, inputs.get("relativePath"))}


def trigger_outputs(trigger: TriggerInput, relative_path: str | None = None) -> dict[str, Any]:
    """What `triggerOutputs()` returns for a Request trigger call."""
    outputs: dict[str, Any] = {"headers": dict(trigger.headers), "body": trigger.body}
    if trigger.queries:
        outputs["queries"] = dict(trigger.queries)
    path_parameters = _relative_path_parameters(relative_path, trigger.relative_path)
    if path_parameters:
        outputs["relativePathParameters"] = path_parameters
    return outputs


def _reject(state: RunState, record: ActionRecord, status_code: int, code: str, message: str) -> None:
    record.status, record.error_code, record.error_message = FAILED, code, message
    state.response = WorkflowResponse(status_code, {}, {"error": {"code": code, "message": message}})


def _relative_path_parameters(template: str | None, actual: str) -> dict[str, str]:
    """`{name}` segments of the trigger's relativePath, read from the request path as sent (percent-encoded)
    and decoded once per segment (README: what the docs leave open)."""
    if not template:
        return {}
    names = template.strip("/").split("/")
    values = actual.strip("/").split("/") if actual else []
    return {
        name[1:-1]: unquote(value)
        for name, value in zip(names, values)
        if name.startswith("{") and name.endswith("}")
    }


_PARAMETER_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "securestring": (str,), "int": (int,), "float": (float, int), "bool": (bool,),
    "array": (list,), "object": (dict,), "secureobject": (dict,),
}


def _parameter_values(workflow: CompiledWorkflow, given: Mapping[str, Any]) -> dict[str, Any]:
    """Values for every declared parameter: given, else its defaultValue; problems reported at once."""
    problems = [f"'{name}' is not declared in the definition's parameters" for name in given
                if name not in workflow.parameters]
    values: dict[str, Any] = {}
    for name, spec in workflow.parameters.items():
        if name in given:
            value = given[name]
        elif "defaultValue" in spec:
            value = spec["defaultValue"]
        else:
            problems.append(f"'{name}' has no value and no defaultValue")
            continue
        if is_template_expression(value):
            problems.append(f"'{name}' is {value!r}, an ARM template expression that Resource Manager replaces "
                            "when the template is deployed; pass the deployed value")
        elif not _has_parameter_type(value, str(spec.get("type", ""))):
            problems.append(f"'{name}' must be of type {spec.get('type')}, got {type_name(value)}")
        values[name] = value
    if problems:
        raise DefinitionError("workflow parameters are wrong: " + "; ".join(problems) +
                              ". Pass parameters={...} matching the definition's 'parameters'")
    return values


def _has_parameter_type(value: Any, declared: str) -> bool:
    expected = _PARAMETER_TYPES.get(declared.lower())
    if expected is None:
        return True
    if isinstance(value, bool):
        return bool in expected
    return isinstance(value, expected)


def _workflow_info(name: str, run_id: str) -> dict[str, Any]:
    workflow_id = f"/workflows/{name}"
    return {
        "id": workflow_id,
        "name": name,
        "type": "Microsoft.Logic/workflows",
        "location": None,  # no Azure region offline
        "tags": {},
        "run": {"id": f"{workflow_id}/runs/{run_id}", "name": run_id, "type": "Microsoft.Logic/workflows/runs"},
    }


def _results(state: RunState, workflow: CompiledWorkflow, name: str) -> list[dict[str, Any]]:
    """result('Scope'): the records of the container's top-level actions (all iterations)."""
    container = workflow.find(name)
    if container is None or not container.graphs:
        raise WdlError(f"result('{name}') needs the name of a Scope, If, Switch, Foreach or Until action")
    top_level = {child for graph in container.graphs.values() for child in graph.nodes}
    return [record.as_result() for record in state.records if record.name in top_level]


def _run_error(state: RunState) -> tuple[str, str]:
    failed = [r.name for r in state.records if r.status in ("Failed", "TimedOut") and r.path.count(".") == 1]
    return "ActionFailed", f"An action failed. No dependent actions succeeded. Failed: {failed}"
