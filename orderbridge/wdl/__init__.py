"""orderbridge.wdl: runs Consumption Logic App workflow definitions offline, with Azure's semantics.

    result = run(definition, trigger=TriggerInput(body=[...]), parameters={...}, http=fake, clock=VirtualClock())
    result.status, result.response, result.action("Get_order").attempts, result.billing.total

`evaluate(value, context)` evaluates one JSON value; `lint(definition)` finds static problems;
`WorkflowHost` runs many instances with the trigger's concurrency limits.
"""
from ._clock import Clock, SystemClock, VirtualClock
from ._context import EvaluationContext, LoopFrame
from ._definition import CompiledWorkflow
from ._engine import TriggerInput, evaluate, prepare, run
from ._host import HostReply, WorkflowHost
from ._lint import LintProblem, lint
from ._errors import (
    DefinitionError,
    ExpressionEvaluationError,
    ExpressionSyntaxError,
    FunctionArgumentError,
    RunResultError,
    TransportError,
    TransportTimeout,
    UnknownFunctionError,
    WdlError,
    WorkflowContextError,
)
from ._records import REDACTED, ActionRecord, Attempt, Billing, RunResult, WorkflowResponse
from ._transport import HttpRequest, HttpResponse, HttpxTransport, Transport, decode_body, encode_body

__all__ = [
    "decode_body",
    "encode_body",
    "REDACTED",
    "ActionRecord",
    "Attempt",
    "Billing",
    "Clock",
    "CompiledWorkflow",
    "DefinitionError",
    "EvaluationContext",
    "ExpressionEvaluationError",
    "ExpressionSyntaxError",
    "FunctionArgumentError",
    "HostReply",
    "HttpRequest",
    "HttpResponse",
    "HttpxTransport",
    "LintProblem",
    "LoopFrame",
    "RunResult",
    "RunResultError",
    "SystemClock",
    "Transport",
    "TransportError",
    "TransportTimeout",
    "TriggerInput",
    "UnknownFunctionError",
    "VirtualClock",
    "WdlError",
    "WorkflowContextError",
    "WorkflowHost",
    "WorkflowResponse",
    "evaluate",
    "lint",
    "prepare",
    "run",
]
