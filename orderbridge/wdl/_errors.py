"""Exceptions raised by the workflow engine.

WdlError                        (under orderbridge.errors.OrderbridgeError, the tooling's root)
├── ExpressionSyntaxError       an expression does not parse (text and position given)
├── ExpressionEvaluationError   an expression parses but cannot be evaluated
│   ├── UnknownFunctionError    the function is not in the library (never a silent null)
│   ├── FunctionArgumentError   wrong number or type of arguments
│   └── WorkflowContextError    a workflow function (triggerBody(), body()…) used with no run
├── DefinitionError             the definition itself is invalid (unsupported action, bad runAfter…)
├── TransportError              a transport could not reach the server (retryable)
│   └── TransportTimeout        an attempt exceeded its timeout (retryable, like 408)
└── RunResultError              a run record was asked for that the run does not have
"""
from __future__ import annotations

from orderbridge.errors import OrderbridgeError


class WdlError(OrderbridgeError):
    """Root of every error the engine raises; carries where it happened."""

    def __init__(self, message: str, *, expression: str | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.reason = message
        self.expression = expression
        self.path = path

    def __str__(self) -> str:
        # Built when shown, so a path added while the error travels up is included.
        where = []
        if self.path:
            where.append(f"at {self.path}")
        if self.expression is not None:
            where.append(f"in expression {self.expression!r}")
        return f"{self.reason} ({', '.join(where)})" if where else self.reason


class ExpressionSyntaxError(WdlError):
    """The expression text is not valid Workflow Definition Language."""

    def __init__(self, message: str, *, expression: str, position: int, path: str | None = None) -> None:
        self.position = position
        super().__init__(f"{message} at character {position}", expression=expression, path=path)


class ExpressionEvaluationError(WdlError):
    """A syntactically valid expression failed while being evaluated."""


class UnknownFunctionError(ExpressionEvaluationError):
    """The expression calls a function the engine does not implement."""


class FunctionArgumentError(ExpressionEvaluationError):
    """A function got the wrong number or type of arguments."""


class WorkflowContextError(ExpressionEvaluationError):
    """A workflow function was evaluated outside a workflow run."""


class DefinitionError(WdlError):
    """The workflow definition cannot be run as written."""


class TransportError(WdlError):
    """The HTTP transport could not reach the server (connection refused, DNS, reset).

    Raised by a transport; the Http action treats it as a retryable failure, like Azure does for
    connection failures.
    """


class TransportTimeout(TransportError):
    """The attempt took longer than the request's `timeout`; retryable like HTTP 408."""


class RunResultError(WdlError):
    """A run record was asked for in a way the run cannot answer (e.g. an action that never ran)."""
