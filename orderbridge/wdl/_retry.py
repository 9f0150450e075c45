"""Retry policies and attempt timeouts of Http and ApiConnection actions.

Reference: https://learn.microsoft.com/azure/logic-apps/logic-apps-exception-handling#retry-policies
- `default`: exponential, up to 4 retries, intervals scaling by 7.5 s, capped between 5 s and 45 s;
- `none`; `fixed` (count, interval); `exponential` (count, interval, minimumInterval, maximumInterval):
  retry n waits a uniform random time in [max((2^(n-2))·interval, minimum), min((2^(n-1))·interval, maximum)]
  (retry 1: [max(0, minimum), min(interval, maximum)]);
- count 1..90, intervals 5 s .. 1 day; retried: 408, 429, 5xx and connection failures.

`limit.timeout` of an Http/ApiConnection action: the documentation we found does not say how it
applies to a synchronous request. Documented: for the asynchronous pattern, "if the action hasn't
finished when the interval lapses, the action's status is marked as Cancelled with the ActionTimedOut
code" (https://learn.microsoft.com/azure/logic-apps/logic-apps-workflow-actions-triggers#asynchronous-limits).
Maintainer-visible threads treat the per-request timeout of an Http action as a different setting,
`runtimeConfiguration.requestOptions.timeout` (Standard; https://github.com/Azure/logicapps/issues/775,
https://github.com/Azure/LogicAppsUX/issues/2361, https://github.com/Azure/LogicAppsUX/issues/2038), and
say a synchronous request's limit is the 120 s outbound limit
(https://github.com/MicrosoftDocs/azure-docs/issues/7574). So the reading is a run option,
`limit_timeout_reading` (one of LIMIT_TIMEOUT_READINGS):
- "action" (default): bounds the WHOLE action, every attempt and every retry wait; exceeded: TimedOut;
- "attempt": bounds each attempt; retry waits are not counted;
- "async-only": does not interrupt a synchronous request (each attempt runs up to the 120 s outbound
  limit); it bounds only the polling of an asynchronous (202 + Location) operation.
Each attempt is always also bounded by the platform's 120 s outbound synchronous request limit
(https://learn.microsoft.com/azure/logic-apps/logic-apps-limits-and-config#request-limits).
The engine cannot preempt a transport: it passes the attempt's allowance as `HttpRequest.timeout`;
a transport (or a VirtualClock-driven fake) must raise `TransportTimeout` when it would exceed it,
and an answer that arrives after the allowance (measured on the clock) counts as a timeout.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._durations import parse_duration
from ._errors import DefinitionError

OUTBOUND_REQUEST_LIMIT_SECONDS = 120.0
MIN_INTERVAL_SECONDS = 5.0
MAX_INTERVAL_SECONDS = 86400.0
MAX_RETRY_COUNT = 90
LIMIT_TIMEOUT_READINGS = ("action", "attempt", "async-only")

Jitter = Callable[[float, float], float]


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry and how long to wait before retry n (1-based)."""

    kind: str
    count: int
    interval: float = 0.0
    minimum: float = 0.0
    maximum: float = MAX_INTERVAL_SECONDS

    def delay(self, retry_number: int, jitter: Jitter) -> float:
        """Seconds to wait before retry `retry_number` (1-based)."""
        if self.kind == "fixed":
            return self.interval
        low_base = 0.0 if retry_number == 1 else self.interval * 2 ** (retry_number - 2)
        low = max(low_base, self.minimum)
        high = min(self.interval * 2 ** (retry_number - 1), self.maximum)
        return jitter(low, max(low, high))


DEFAULT_POLICY = RetryPolicy("exponential", count=4, interval=7.5, minimum=5.0, maximum=45.0)
NO_RETRY = RetryPolicy("none", count=0)


def is_retryable_status(status_code: int) -> bool:
    """Statuses the retry policy resends: 408, 429 and 5xx."""
    return status_code in (408, 429) or status_code >= 500


def parse_retry_policy(raw: Any, path: str) -> RetryPolicy:
    """The policy in an action's `inputs.retryPolicy`, checked against Azure's limits."""
    if raw is None:
        return DEFAULT_POLICY
    if not isinstance(raw, dict) or "type" not in raw:
        raise DefinitionError("retryPolicy must be an object with a 'type'", path=path)
    kind = str(raw["type"]).lower()
    if kind == "default":
        return DEFAULT_POLICY
    if kind == "none":
        return NO_RETRY
    if kind not in ("fixed", "exponential"):
        raise DefinitionError(
            f"retryPolicy type {raw['type']!r} is not one of default/none/fixed/exponential", path=path
        )
    count = raw.get("count", 4)
    if not isinstance(count, int) or not 1 <= count <= MAX_RETRY_COUNT:
        raise DefinitionError(f"retryPolicy count must be 1..{MAX_RETRY_COUNT}, got {count!r}", path=path)
    if "interval" not in raw:
        raise DefinitionError(f"a {kind} retryPolicy needs an 'interval' such as 'PT10S'", path=path)
    interval = _interval(raw["interval"], path, "retryPolicy interval")
    if kind == "fixed":
        return RetryPolicy("fixed", count, interval)
    minimum = _interval(raw.get("minimumInterval", "PT5S"), path, "retryPolicy minimumInterval")
    maximum = _interval(raw.get("maximumInterval", "P1D"), path, "retryPolicy maximumInterval")
    if minimum > maximum:
        raise DefinitionError("retryPolicy minimumInterval is larger than maximumInterval", path=path)
    return RetryPolicy("exponential", count, interval, minimum, maximum)


def _interval(text: Any, path: str, what: str) -> float:
    seconds = parse_duration(text, path=path, what=what)
    if not MIN_INTERVAL_SECONDS <= seconds <= MAX_INTERVAL_SECONDS:
        raise DefinitionError(f"{what} {text!r} must be between PT5S and P1D", path=path)
    return seconds
