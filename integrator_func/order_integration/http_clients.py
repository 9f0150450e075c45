"""Calls to the ERP and ECP APIs, and what their answers mean for the message.

One `httpx.Client` per process (built by `build_client`, held by order_integration.runtime) keeps
connections to both targets pooled across invocations. Every answer is classified here:
2xx is success; connection errors, timeouts, 401, 403, 408, 429 and 5xx raise TargetUnavailable
(retried later, honouring Retry-After); any other 4xx raises TargetRejected (parked). Bodies are
parsed with `contracts.load_json`, so amounts in answers stay Decimal.

A call that creates something passes `unknown_outcome_retry_after`: if that request was sent and
its answer is missing (read/write timeout, dropped connection, 502/504 from a gateway), the target
may still be working on it, so the error is OutcomeUnknown with at least that wait. A request that
never left (connection refused, connect or pool timeout) is an ordinary TargetUnavailable.
httpx is imported on first use so that a cold start does not pay for it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Mapping

from order_integration.contracts import dump_json, load_json
from order_integration.errors import MalformedJson, OutcomeUnknown, TargetRejected, TargetUnavailable

if TYPE_CHECKING:
    import httpx

# 401/403 mean a wrong or rotated API key, which ops fixes in the app settings: the order should
# wait (and be parked with RetriesExhausted only if nobody does) instead of being parked at once.
RETRYABLE_4XX = frozenset({401, 403, 408, 429})
# A gateway in front of the target gave up waiting while the target itself may still commit; Business
# Central answers 504 when a request exceeds its 10-minute execution limit:
# https://learn.microsoft.com/dynamics365/business-central/dev-itpro/api-reference/v2.0/dynamics-current-limits
UNKNOWN_OUTCOME_STATUSES = frozenset({502, 504})
DETAIL_LIMIT = 300


@dataclass(frozen=True)
class HttpTimeouts:
    """Seconds per phase of one request; their sum bounds the slowest call (see function_app.py)."""

    connect: float = 5.0
    write: float = 10.0
    read: float = 50.0
    pool: float = 10.0

    @property
    def worst_case(self) -> float:
        """Upper bound of one request that sends and receives small JSON bodies."""
        return self.connect + self.write + self.read + self.pool


def build_client(timeouts: HttpTimeouts = HttpTimeouts(), max_connections: int = 64) -> "httpx.Client":
    """The process-wide pooled client; `max_connections` should cover host.json maxConcurrentCalls."""
    import httpx

    # httpx logs every request at INFO without the correlation id; our own lines say what happened
    # to each message, so keep httpx to warnings instead of doubling the App Insights volume.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return httpx.Client(
        timeout=httpx.Timeout(
            connect=timeouts.connect, read=timeouts.read, write=timeouts.write, pool=timeouts.pool
        ),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        headers={"User-Agent": "orderbridge-integrator", "Accept": "application/json"},
        follow_redirects=False,
    )


class TargetApi:
    """One target system (ERP or ECP): base URL, API key, and a shared client."""

    def __init__(self, *, name: str, base_url: str, api_key: str, client: "httpx.Client") -> None:
        self.name = name
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._client = client

    def call(
        self,
        method: str,
        path: str,
        *,
        correlation_id: str | None,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        unknown_outcome_retry_after: float | None = None,
    ) -> Any:
        """Send one request and return its parsed JSON body (None when empty), or raise typed.

        `unknown_outcome_retry_after` (seconds) marks a non-idempotent request: see the module docstring.
        """
        import httpx

        headers = {"X-Api-Key": self._api_key, "X-Correlation-Id": correlation_id or ""}
        if content is not None:
            headers["Content-Type"] = "application/json"
        where = f"{method} {path}"
        try:
            response = self._client.request(
                method, self._base_url + path, params=params, content=content, headers=headers
            )
        except httpx.TransportError as exc:
            kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "unreachable"
            failure = f"{self.name} {kind} on {where} ({type(exc).__name__})"
            never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
            if unknown_outcome_retry_after is None or never_sent:
                raise TargetUnavailable(failure) from exc
            raise _outcome_unknown(failure, unknown_outcome_retry_after, None) from exc
        return self._classify(response, where, unknown_outcome_retry_after)

    def _classify(self, response: "httpx.Response", where: str, unknown_outcome_retry_after: float | None) -> Any:
        status = response.status_code
        if 200 <= status < 300:
            return _json_body(response, target=self.name, where=where)
        if status >= 500 or status in RETRYABLE_4XX:
            failure = f"{self.name} answered HTTP {status} on {where}"
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if unknown_outcome_retry_after is not None and status in UNKNOWN_OUTCOME_STATUSES:
                raise _outcome_unknown(failure, unknown_outcome_retry_after, retry_after)
            raise TargetUnavailable(failure, retry_after=retry_after)
        raise TargetRejected(target=self.name, status_code=status, detail=f"{where}: {_detail(response)}")


def _outcome_unknown(failure: str, wait: float, retry_after: float | None) -> OutcomeUnknown:
    return OutcomeUnknown(
        f"{failure} after the request was sent: the target may still carry it out within {wait / 60:g} min, "
        "so nothing may look it up or send it again before then",
        retry_after=max(wait, retry_after or 0.0),
    )


def _json_body(response: "httpx.Response", *, target: str, where: str) -> Any:
    if not response.content:
        return None
    try:
        return load_json(response.content)
    except MalformedJson as exc:
        # A 2xx that is not JSON comes from something in front of the target (gateway, maintenance
        # page), not from the API itself: try again later.
        raise TargetUnavailable(f"{target} answered {where} with a body that is not JSON") from exc


def _detail(response: "httpx.Response") -> str:
    """The target's own error message, e.g. Business Central's {"error": {"code", "message"}}."""
    try:
        body = load_json(response.content)
    except MalformedJson:
        return response.text[:DETAIL_LIMIT] or "(empty body)"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return f"{error.get('code', 'error')}: {error['message']}"[:DETAIL_LIMIT]
    return dump_json(body)[:DETAIL_LIMIT]


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
