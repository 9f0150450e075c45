"""A host that accepts many trigger calls at once, as the Request trigger's endpoint does.

Concurrency (https://learn.microsoft.com/azure/logic-apps/logic-apps-workflow-actions-triggers#change-trigger-concurrency):
`runtimeConfiguration.concurrency.runs` instances run at a time (unlimited when not set);
further calls wait, up to `maximumWaitingRuns` (default 100 here, Azure's maximum); a call beyond
that is answered 429, as Azure is reported to do. The caller of a Request trigger gets the
`Response` action's answer; 202 when the workflow has no Response action; 502 `NoResponse` when
it has one but the run ended without reaching it; 504 when the Response came after the 120 s
inbound limit, counted from the moment the call arrived (time spent waiting for a run slot
included: the caller's clock starts when it sends the request). This host answers once the run
has finished.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ._clock import Clock, SystemClock
from ._definition import CompiledWorkflow, Graph
from ._engine import TriggerInput, prepare, run
from ._errors import DefinitionError
from ._records import RunResult
from ._shapes import as_object

DEFAULT_MAXIMUM_WAITING_RUNS = 100
# A Request trigger's caller waits at most 120 s for the Response action
# (https://learn.microsoft.com/azure/logic-apps/logic-apps-limits-and-config#request-limits).
INBOUND_REQUEST_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class HostReply:
    """What the HTTP caller of the trigger receives, and the run behind it (None when throttled)."""

    status_code: int
    headers: dict[str, str]
    body: Any
    result: RunResult | None


class WorkflowHost:
    """Runs instances of one workflow concurrently within the trigger's concurrency limits."""

    def __init__(
        self,
        definition: dict[str, Any] | CompiledWorkflow,
        *,
        inbound_timeout_seconds: float = INBOUND_REQUEST_TIMEOUT_SECONDS,
        **run_options: Any,
    ) -> None:
        """`inbound_timeout_seconds` is the caller's limit on the run's clock: a host that runs the
        clock K times faster passes 120 × K, so the limit stays 120 s of real work."""
        self.workflow = prepare(definition)
        self.inbound_timeout_seconds = inbound_timeout_seconds
        self._options = run_options
        self._clock: Clock = run_options.get("clock") or SystemClock()
        concurrency = as_object(as_object(self.workflow.trigger.get("runtimeConfiguration")).get("concurrency"))
        self.runs: int | None = concurrency.get("runs")
        self.maximum_waiting_runs: int = concurrency.get("maximumWaitingRuns", DEFAULT_MAXIMUM_WAITING_RUNS)
        if self.runs is not None and not (isinstance(self.runs, int) and self.runs >= 1):
            raise DefinitionError(f"trigger concurrency.runs must be a positive integer, got {self.runs!r}")
        self._slots = threading.Semaphore(self.runs) if self.runs else None
        self._lock = threading.Lock()
        self._waiting = 0
        self._active = 0
        self.peak_active = 0
        self._has_response = _has_response(self.workflow.graph)

    @property
    def waiting(self) -> int:
        """Calls waiting for a free run slot now."""
        with self._lock:
            return self._waiting

    @property
    def active(self) -> int:
        """Runs executing now."""
        with self._lock:
            return self._active

    def call(self, trigger: TriggerInput) -> HostReply:
        """Handle one trigger call: run it (maybe after waiting) or answer 429 when too many wait."""
        arrived = self._clock.now()
        if self._slots is not None and not self._enter_queue():
            return HostReply(429, {"Retry-After": "10"}, {"error": {
                "code": "TooManyWaitingRuns",
                "message": f"{self.maximum_waiting_runs} runs are already waiting; retry later"}}, None)
        try:
            with self._running():
                result = run(self.workflow, trigger=trigger, **self._options)
        finally:
            if self._slots is not None:
                self._slots.release()
        return self._reply(result, arrived)

    def _enter_queue(self) -> bool:
        with self._lock:
            if self._slots.acquire(blocking=False):  # type: ignore[union-attr]
                return True
            if self._waiting >= self.maximum_waiting_runs:
                return False
            self._waiting += 1
        self._slots.acquire()  # type: ignore[union-attr]
        with self._lock:
            self._waiting -= 1
        return True

    @contextmanager
    def _running(self) -> Iterator[None]:
        """Count active runs, so tests can see the peak concurrency."""
        with self._lock:
            self._active += 1
            self.peak_active = max(self.peak_active, self._active)
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1

    def _reply(self, result: RunResult, arrived: datetime) -> HostReply:
        deadline = arrived + timedelta(seconds=self.inbound_timeout_seconds)
        response = result.response
        if response is not None and (response.sent_at is None or response.sent_at <= deadline):
            return HostReply(response.status_code, response.headers, response.body, result)
        if not self._has_response:
            return HostReply(202, {}, None, result)
        if response is not None or result.ended > deadline:
            return HostReply(504, {}, {"error": {"code": "GatewayTimeout", "message":
                f"no Response within the {INBOUND_REQUEST_TIMEOUT_SECONDS:g} s inbound request limit"}}, result)
        return HostReply(502, {}, {"error": {"code": "NoResponse", "message":
                                             "The server did not receive a response from an upstream server."}}, result)


def _has_response(graph: Graph) -> bool:
    return any(
        node.kind == "response" or any(_has_response(child) for child in node.graphs.values())
        for node in graph.nodes.values()
    )
