"""The engine's clock and real-HTTP transport inside the local stack.

Retry waits follow the stack's simulated time; HTTP attempts are work, so they are measured and
bounded at wall speed (with the stack's floor), never shrunk by `--time-scale` into a timeout.
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx

from orderbridge.local.clock import ANSWER_TIMEOUT_FLOOR_SECONDS, SimClock
from orderbridge.local.logicapps._workflows import remote_host
from orderbridge.wdl import HttpRequest, HttpResponse, HttpxTransport, TransportError

# The Http action's managed identity (https://learn.microsoft.com/azure/logic-apps/authenticate-with-managed-identity)
# asks for a token for this audience; the local Service Bus accepts the stack's bearer token instead.
MANAGED_IDENTITY = "managedserviceidentity"
SERVICE_BUS_AUDIENCES = frozenset({"https://servicebus.azure.net", "https://servicebus.azure.net/"})


class EngineClock:
    """`orderbridge.wdl.Clock` on the stack's `SimClock`.

    `sleep` (retry intervals, Wait, Until) takes simulated seconds. Each thread's view of time lags
    the simulated clock by the simulated time its HTTP attempts would have taken beyond their wall
    duration, so the engine measures an attempt at wall speed. Call `begin_run` on a reused thread.
    """

    def __init__(self, sim: SimClock) -> None:
        self.sim = sim
        self._lag = threading.local()

    def now(self) -> datetime:
        return self.sim.now() - timedelta(seconds=self._lag_seconds())

    def sleep(self, seconds: float) -> None:
        self.sim.sleep_blocking(seconds)

    def begin_run(self) -> None:
        """Start this thread's view of time afresh (worker threads serve many runs)."""
        self._lag.seconds = 0.0

    def count_at_wall_speed(self, wall_seconds: float) -> None:
        """Have this thread's clock show `wall_seconds` of work as that many seconds, not K times more."""
        self._lag.seconds = self._lag_seconds() + (self.sim.time_scale - 1.0) * wall_seconds

    def _lag_seconds(self) -> float:
        return getattr(self._lag, "seconds", 0.0)


class LocalTransport:
    """Sends the engine's requests with `HttpxTransport`, to this machine only.

    A managed-identity request gets `Authorization: Bearer <token>` (the engine passes
    `authentication` on, it never performs it); `https://` to a loopback host goes as plain HTTP,
    since the local endpoints serve no TLS; anything off this machine is refused.
    """

    def __init__(self, clock: EngineClock, *, bearer_token: str, client: httpx.Client | None = None) -> None:
        self._clock = clock
        self._bearer = f"Bearer {bearer_token}"
        self._owns_client = client is None
        self._client = client or httpx.Client()
        self._send = HttpxTransport(self._client)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        local = replace(request, url=_plain_http(request.url), headers=self._with_identity(request),
                        timeout=self._wall_timeout(request.timeout))
        began = time.monotonic()
        try:
            return self._send(local)
        finally:
            self._clock.count_at_wall_speed(time.monotonic() - began)

    def close(self) -> None:
        """Close the connection pool, unless the caller brought the client."""
        if self._owns_client:
            self._client.close()

    def _wall_timeout(self, simulated: float | None) -> float | None:
        """Wall seconds an attempt may take: its allowance scaled, at least the floor, at most unscaled."""
        if simulated is None:
            return None
        return self._clock.sim.wall_seconds(simulated, floor=min(simulated, ANSWER_TIMEOUT_FLOOR_SECONDS))

    def _with_identity(self, request: HttpRequest) -> dict[str, str]:
        authentication = request.authentication
        if authentication is None:
            return request.headers
        kind, audience = str(authentication.get("type", "")), str(authentication.get("audience", ""))
        if kind.lower() != MANAGED_IDENTITY:
            raise TransportError(f"{request.method} {request.url}: authentication type {kind!r} is not supported "
                                 "by the local Logic App host (only ManagedServiceIdentity)")
        if audience not in SERVICE_BUS_AUDIENCES:
            raise TransportError(f"{request.method} {request.url}: no local token for the managed identity audience "
                                 f"{audience!r}; the local stack issues one for {sorted(SERVICE_BUS_AUDIENCES)[0]}")
        headers = {name: value for name, value in request.headers.items() if name.lower() != "authorization"}
        return {**headers, "Authorization": self._bearer}


def _plain_http(url: str) -> str:
    parts = urlsplit(url)
    if remote_host(url) is not None:
        raise TransportError(f"{url}: the local stack sends nothing off this machine; map {parts.hostname} "
                             "to a local endpoint in the workflow parameters")
    return urlunsplit(parts._replace(scheme="http")) if parts.scheme == "https" else url
