"""Calls to the ERP and ECP APIs, and what their answers mean for the message.

One urllib3 `PoolManager` per process (built by `build_client`, held by order_integration.runtime)
keeps connections to both targets pooled across invocations. urllib3 took about half the client CPU
of httpx for a create against the fake ERP (0.3 vs 0.6 ms), which matters at 16 concurrent calls on
one worker. Pooled connections send TCP keepalives, since Azure drops idle flows silently.
Every answer is classified here: 2xx is success; connection errors, timeouts, 401, 403, 408, 429
and 5xx raise TargetUnavailable (retried later, honouring Retry-After); any other 4xx (and a 3xx,
since redirects are not followed) raises TargetRejected (parked). Bodies are parsed with
`contracts.load_json`, so amounts in answers stay Decimal.

A call that creates something passes `unknown_outcome_retry_after`: if that request was sent and
its answer is missing (read timeout, dropped connection, 502/504 from a gateway), the target may
still be working on it, so the error is OutcomeUnknown with at least that wait. A request that
never left (connection refused, connect or pool timeout) is an ordinary TargetUnavailable.
urllib3 is imported on first use so that a cold start does not pay for it.
"""
from __future__ import annotations

import logging
import string
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import quote, urlencode

from order_integration.contracts import dump_json, load_json
from order_integration.errors import MalformedJson, OutcomeUnknown, TargetRejected, TargetUnavailable, redact

if TYPE_CHECKING:
    import urllib3

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
    """Seconds per phase of one request; together they bound the slowest call (see function_app.py).

    urllib3 applies `connect` to connecting and to sending the request, `read` to each wait for the
    answer, and `pool` to waiting for a free pooled connection.
    """

    connect: float = 5.0
    read: float = 50.0
    pool: float = 10.0

    @property
    def worst_case(self) -> float:
        """Upper bound of one request that sends and receives small JSON bodies."""
        return self.pool + 2 * self.connect + self.read


_QUERY_SAFE = "$'"
# The correlation id comes from the publisher's event id; http.client refuses header values with
# line breaks or characters outside Latin-1, so anything but printable ASCII travels percent-encoded.
_HEADER_SAFE = string.punctuation.replace("%", "") + " "
_DEFAULT_HEADERS = {"User-Agent": "orderbridge-integrator", "Accept": "application/json"}


def build_client(timeouts: HttpTimeouts = HttpTimeouts(), max_connections: int = 64) -> "urllib3.PoolManager":
    """The process-wide pooled client; `max_connections` per target should cover host.json's concurrency."""
    import urllib3

    # urllib3 logs each new connection at DEBUG only; keep it at warnings like every other library.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    return urllib3.PoolManager(
        socket_options=_keepalive_socket_options(),
        maxsize=max_connections,
        # Wait (up to `pool`) for a free connection instead of opening more than max_connections.
        block=True,
        timeout=urllib3.Timeout(connect=timeouts.connect, read=timeouts.read),
        # Never re-send on our own: a repeated create could duplicate the order. Redelivery retries.
        retries=False,
    )


def _keepalive_socket_options() -> list[tuple[int, int, int]]:
    """urllib3's defaults plus TCP keepalive after 60 s idle.

    Azure's outbound NAT drops a flow idle for 4 minutes without telling either end
    (https://learn.microsoft.com/azure/load-balancer/load-balancer-tcp-reset), and urllib3 reuses a
    pooled connection however long it was idle. A create sent on such a dead connection would hang
    until the read timeout and then count as an unknown outcome; keepalives keep the flow alive.
    """
    import socket

    from urllib3.connection import HTTPConnection

    options = [*HTTPConnection.default_socket_options, (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 30), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, name):  # Linux, where the Function App runs; not every OS has them all
            options.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    return options


class TargetApi:
    """One target system (ERP or ECP): base URL, API key, and the shared pooled client."""

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        api_key: str,
        client: "urllib3.PoolManager",
        pool_timeout: float = HttpTimeouts.pool,
    ) -> None:
        self.name = name
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._client = client
        self._pool_timeout = pool_timeout

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
        from urllib3 import exceptions

        correlation = quote(correlation_id or "", safe=_HEADER_SAFE)
        headers = {**_DEFAULT_HEADERS, "X-Api-Key": self._api_key, "X-Correlation-Id": correlation}
        if content is not None:
            headers["Content-Type"] = "application/json"
        where = f"{method} {path}"
        # OData wants %20 for spaces, not the form-encoding '+'; `$` and `'` stay readable.
        query = "?" + urlencode(params, quote_via=quote, safe=_QUERY_SAFE) if params else ""
        try:
            response = self._client.request(
                method,
                self._base_url + path + query,
                body=content,
                headers=headers,
                redirect=False,
                pool_timeout=self._pool_timeout,
            )
        except exceptions.HTTPError as exc:
            # NewConnectionError (refused, DNS) subclasses ConnectTimeoutError; both mean nothing was
            # sent, as does a full pool. A read timeout or a dropped connection may follow a sent request.
            never_sent = isinstance(exc, (exceptions.ConnectTimeoutError, exceptions.EmptyPoolError))
            timed_out = isinstance(exc, exceptions.TimeoutError) and not isinstance(exc, exceptions.NewConnectionError)
            failure = f"{self.name} {'timed out' if timed_out else 'unreachable'} on {where} ({type(exc).__name__})"
            if unknown_outcome_retry_after is None or never_sent:
                raise TargetUnavailable(failure) from exc
            raise _outcome_unknown(failure, unknown_outcome_retry_after, None) from exc
        return self._classify(response, where, unknown_outcome_retry_after)

    def _classify(
        self, response: "urllib3.BaseHTTPResponse", where: str, unknown_outcome_retry_after: float | None
    ) -> Any:
        status = response.status
        if 200 <= status < 300:
            return _json_body(response.data, target=self.name, where=where)
        if status >= 500 or status in RETRYABLE_4XX:
            failure = f"{self.name} answered HTTP {status} on {where}"
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if unknown_outcome_retry_after is not None and status in UNKNOWN_OUTCOME_STATUSES:
                raise _outcome_unknown(failure, unknown_outcome_retry_after, retry_after)
            raise TargetUnavailable(failure, retry_after=retry_after)
        detail = redact(_detail(response.data), (self._api_key,))  # a target may echo the key it got
        raise TargetRejected(target=self.name, status_code=status, detail=f"{where}: {detail}")


def _outcome_unknown(failure: str, wait: float, retry_after: float | None) -> OutcomeUnknown:
    return OutcomeUnknown(
        f"{failure} after the request was sent: the target may still carry it out within {wait / 60:g} min, "
        "so nothing may look it up or send it again before then",
        retry_after=max(wait, retry_after or 0.0),
    )


def _json_body(content: bytes, *, target: str, where: str) -> Any:
    if not content:
        return None
    try:
        return load_json(content)
    except MalformedJson as exc:
        # A 2xx that is not JSON comes from something in front of the target (gateway, maintenance
        # page), not from the API itself: try again later.
        raise TargetUnavailable(f"{target} answered {where} with a body that is not JSON") from exc


def _detail(content: bytes) -> str:
    """The target's own error message, e.g. Business Central's {"error": {"code", "message"}}."""
    try:
        body = load_json(content)
    except MalformedJson:
        return content.decode("utf-8", "replace")[:DETAIL_LIMIT] or "(empty body)"
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
