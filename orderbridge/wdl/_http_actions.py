"""Http and ApiConnection actions: the request, retries, limit.timeout and the asynchronous pattern.

Retry and timeout rules are in _retry; shapes follow
https://learn.microsoft.com/azure/logic-apps/logic-apps-workflow-actions-triggers#http-action.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlencode

from ._clock import Clock
from ._context import EvaluationContext
from ._definition import ActionNode
from ._durations import parse_duration
from ._errors import DefinitionError, TransportError, TransportTimeout
from ._inputs import Iteration, member, object_inputs, text_map
from ._records import FAILED, SUCCEEDED, TIMED_OUT, Attempt
from ._retry import OUTBOUND_REQUEST_LIMIT_SECONDS, RetryPolicy, is_retryable_status, parse_retry_policy
from ._runtime import Outcome, RunState
from ._shapes import as_object
from ._transport import HttpRequest, HttpResponse

# Credentials are sent but never recorded; Azure: "Authorization headers are never visible through
# inputs or outputs" (https://learn.microsoft.com/azure/logic-apps/logic-apps-securing-a-logic-app#secure-action-parameters).
SECRET_KEYS = frozenset({"password", "pfx", "secret", "clientsecret"})
HIDDEN_SECRET = "<redacted: credential>"


def http(run: RunState, node: ActionNode, ctx: EvaluationContext, iteration: Iteration) -> Outcome:
    """Send the request through the run's transport; authentication is passed on and recorded, not performed."""
    inputs = object_inputs(node, ctx)
    method = str(inputs.get("method", "")).upper()
    uri = inputs.get("uri")
    if not method or not isinstance(uri, str):
        raise DefinitionError("an Http action needs 'method' and a string 'uri'")
    url = _with_queries(uri, member(inputs, "queries", dict, node))
    headers = text_map(member(inputs, "headers", dict, node))
    authentication = member(inputs, "authentication", dict, node)
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
    encoded = urlencode(text_map(queries), quote_via=quote)
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

    def wait(self, seconds: float) -> None:
        """Sleep `seconds` on the clock, but never past the deadline."""
        left = self.left()
        self.clock.sleep(seconds if left is None else min(seconds, left))

    def allowance(self) -> float:
        """Seconds the next request may take: what is left, at most the 120 s outbound limit."""
        left = self.left()
        return OUTBOUND_REQUEST_LIMIT_SECONDS if left is None else min(left, OUTBOUND_REQUEST_LIMIT_SECONDS)


def call_with_retries(
    run: RunState,
    node: ActionNode,
    send: Callable[[HttpRequest], HttpResponse],
    request: HttpRequest,
    policy: RetryPolicy,
    recorded_inputs: Any,
) -> Outcome:
    """Send with retries on 408/429/5xx/connection failures, within limit.timeout as the run reads it
    (see _retry: the whole action, each attempt, or only the asynchronous polling)."""
    limit = _action_timeout(node)
    reading = run.limit_timeout_reading
    budget = _Budget(run.clock, limit if reading == "action" else None)
    attempts: list[Attempt] = []
    while True:
        allowance = budget.allowance()
        if reading == "attempt" and limit is not None:
            allowance = min(limit, allowance)
        answer, error = _attempt(run.clock, send, replace(request, timeout=allowance), attempts)
        outputs = _http_outputs(answer)
        if answer is not None and 200 <= answer.status_code < 300:
            if _starts_async_operation(answer, node):
                polling = budget if reading == "action" else _Budget(run.clock, limit)
                return _finish_async(run, node, request, answer, polling, attempts, recorded_inputs)
            return Outcome(SUCCEEDED, recorded_inputs, outputs, attempts=attempts)
        retryable = answer is None or is_retryable_status(answer.status_code)
        if retryable and len(attempts) <= policy.count and not budget.spent():
            budget.wait(policy.delay(len(attempts), run.jitter))
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
        budget.wait(wait)
        if budget.spent():
            return Outcome(TIMED_OUT, recorded_inputs, _http_outputs(answer), "ActionTimedOut",
                           "the asynchronous operation did not finish within limit.timeout", attempts)
        poll = HttpRequest("GET", str(_header(answer, "location")), request.headers, None, request.authentication,
                           budget.allowance())
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
    inputs = object_inputs(node, ctx)
    connection = as_object(as_object(inputs.get("host")).get("connection")).get("name")
    if not isinstance(connection, str):
        raise DefinitionError(
            f"an ApiConnection action needs inputs.host.connection.name (the connection id), got {connection!r}"
        )
    connector = run.connectors.get(connection)
    if connector is None:
        raise DefinitionError(
            f"no connector is registered for connection {connection!r}; pass connectors={{{connection!r}: "
            "callable} to run()"
        )
    method = str(inputs.get("method", "get")).upper()
    url = _with_queries(str(inputs.get("path", "/")), member(inputs, "queries", dict, node))
    headers = text_map(member(inputs, "headers", dict, node))
    request = HttpRequest(method, url, headers, inputs.get("body"), None, None)
    policy = parse_retry_policy(inputs.get("retryPolicy"), node.path)
    recorded = {key: value for key, value in inputs.items() if key != "retryPolicy"}
    return call_with_retries(run, node, connector, request, policy, recorded)
