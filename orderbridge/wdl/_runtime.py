"""Running one workflow instance: graph scheduling, runAfter rules, statuses, records and billing.

runAfter and status rules (https://learn.microsoft.com/azure/logic-apps/error-exception-handling#manage-the-run-after-behavior):
- an action runs when every predecessor finished with one of the statuses its runAfter lists
  (an empty runAfter inside a container means "when the container starts"); otherwise it is Skipped,
  and Skipped propagates to successors that do not accept Skipped;
- a branch ends with the status of its last action; when that action was Skipped, with the status
  of the predecessor that caused the skip; the run (and any Scope/If/Foreach body) is Failed when
  any branch ends Failed, TimedOut or Cancelled, else Succeeded. A failure handled by a successor
  that runs after Failed and succeeds therefore does not fail the run.

Parallel branches and Foreach iterations are simulated on a VirtualClock (each branch on its own
timeline, see _clock) and run on threads with a real clock.
"""
from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ._clock import Clock, simulates_time, timeline
from ._context import EvaluationContext
from ._definition import ActionNode, CompiledWorkflow, Graph
from ._errors import DefinitionError, WdlError
from ._records import (
    CANCELLED,
    FAILED,
    REDACTED,
    SKIPPED,
    SUCCEEDED,
    TIMED_OUT,
    ActionRecord,
    Attempt,
    Billing,
    WorkflowResponse,
)
from ._retry import Jitter
from ._transport import Transport

FAILING_STATUSES = frozenset({FAILED, TIMED_OUT, CANCELLED})


@dataclass
class Outcome:
    """What an action handler reports back to the scheduler."""

    status: str
    inputs: Any = None
    outputs: Any = None
    error_code: str | None = None
    error_message: str | None = None
    attempts: list[Attempt] = field(default_factory=list)

    @classmethod
    def failed(cls, code: str, message: str, inputs: Any = None, outputs: Any = None) -> Outcome:
        return cls(FAILED, inputs, outputs, code, message)


@dataclass(frozen=True)
class Termination:
    status: str
    code: str | None
    message: str | None


Handler = Callable[["RunState", ActionNode, EvaluationContext, tuple[int, ...]], Outcome]
ConnectorRegistry = Mapping[str, Callable[..., Any]]


class RunState:
    """Mutable state of one run, shared by every branch and iteration."""

    def __init__(
        self,
        workflow: CompiledWorkflow,
        *,
        http: Transport,
        clock: Clock,
        jitter: Jitter,
        connectors: ConnectorRegistry,
        handlers: Mapping[str, Handler],
        run_id: str,
        limit_timeout_reading: str = "action",
    ) -> None:
        self.workflow = workflow
        self.limit_timeout_reading = limit_timeout_reading
        self.run_id = run_id
        self.http = http
        self.clock = clock
        self.jitter = jitter
        self.connectors = connectors
        self.handlers = handlers
        self.records: list[ActionRecord] = []
        self.billing = Billing()
        self.response: WorkflowResponse | None = None
        self.termination: Termination | None = None
        self._lock = threading.Lock()

    @property
    def threaded(self) -> bool:
        """Real-time clocks run parallel iterations on threads; a VirtualClock simulates them."""
        return not simulates_time(self.clock)

    def terminate(self, termination: Termination) -> None:
        """Remember the first Terminate; later ones are ignored."""
        with self._lock:
            if self.termination is None:
                self.termination = termination

    def set_response(self, response: WorkflowResponse) -> bool:
        """Keep the first response; False if one was already sent (Azure allows only one)."""
        with self._lock:
            if self.response is not None:
                return False
            self.response = response
            return True

    def add_record(self, record: ActionRecord) -> None:
        """Record an execution and meter it (skipped actions are not metered)."""
        # Each execution gets its own tracking id; the client tracking id defaults to the run's id.
        record.tracking_id = str(uuid.uuid4())
        record.client_tracking_id = self.run_id
        with self._lock:
            self.records.append(record)
            if record.status == SKIPPED:
                return
            # Polls of an asynchronous operation belong to the same execution; retries are new ones.
            executions = max(1, sum(1 for attempt in record.attempts if not attempt.poll))
            if record.type.lower() == "apiconnection":
                self.billing.connector_actions += executions
            else:
                self.billing.builtin_actions += executions
            self.billing.retries += executions - 1

    # -- graphs ---------------------------------------------------------------------------------

    def run_graph(self, graph: Graph, ctx: EvaluationContext, iteration: tuple[int, ...]) -> str:
        """Run sibling actions in runAfter order; returns the graph's status (Succeeded/Failed)."""
        start = self.clock.now()
        statuses: dict[str, str] = {}
        ends: dict[str, datetime] = {}
        for name in graph.order:
            if self.termination is not None:
                break
            node = graph.nodes[name]
            begin = max((ends[p] for p in node.run_after if p in ends), default=start)
            with timeline(self.clock, begin):
                if all(statuses.get(p) in allowed for p, allowed in node.run_after.items()):
                    record = self.execute(node, ctx, iteration)
                else:
                    record = self.skip(node, ctx, iteration)
                ends[name] = self.clock.now()
            statuses[name] = record.status
        self._advance_to(max(ends.values(), default=start))
        return graph_status(graph, statuses)

    def skip_graph(self, graph: Graph, ctx: EvaluationContext, iteration: tuple[int, ...]) -> None:
        """Record every top-level action of a branch not taken as Skipped."""
        for name in graph.order:
            self.skip(graph.nodes[name], ctx, iteration)

    def skip(self, node: ActionNode, ctx: EvaluationContext, iteration: tuple[int, ...]) -> ActionRecord:
        """Record `node` as Skipped because its runAfter conditions were not met."""
        now = self.clock.now()
        record = ActionRecord(node.name, node.path, node.type, SKIPPED, now, now, iteration,
                              error_code="ActionSkipped",
                              error_message="the runAfter conditions of this action were not met")
        self.add_record(record)
        ctx.actions[node.name] = record.as_result()
        return record

    def execute(self, node: ActionNode, ctx: EvaluationContext, iteration: tuple[int, ...]) -> ActionRecord:
        """Run one action and record it; expression errors fail the action, definition errors stop the run."""
        start = self.clock.now()
        try:
            outcome = self.handlers[node.kind](self, node, ctx, iteration)
        except DefinitionError as exc:
            # The definition itself is wrong (Azure rejects it when saved): stop, don't record a run.
            if exc.path is None:
                exc.path = node.path
            raise
        except WdlError as exc:
            if exc.path is None:
                exc.path = node.path
            outcome = Outcome.failed("InvalidTemplate", _visible_error(exc, node))
        record = ActionRecord(
            name=node.name,
            path=node.path,
            type=node.type,
            status=outcome.status,
            start=start,
            end=self.clock.now(),
            iteration=iteration,
            inputs=REDACTED if node.secure_inputs and outcome.inputs is not None else outcome.inputs,
            outputs=REDACTED if node.secure_outputs and outcome.outputs is not None else outcome.outputs,
            error_code=outcome.error_code,
            error_message=outcome.error_message,
            attempts=outcome.attempts,
        )
        self.add_record(record)
        visible = record.as_result()
        visible["inputs"], visible["outputs"] = outcome.inputs, outcome.outputs
        if node.tracked is not None:
            record.tracked_properties = self._tracked(node, ctx, visible)
            visible["trackedProperties"] = record.tracked_properties
        ctx.actions[node.name] = visible
        return record

    def _tracked(self, node: ActionNode, ctx: EvaluationContext, visible: dict[str, Any]) -> dict[str, Any]:
        """trackedProperties, evaluated after the action with `action()` bound to its result."""
        scoped = ctx.child()
        scoped.current_action = visible
        try:
            value = node.tracked.evaluate(scoped)
        except WdlError as exc:
            return {"error": str(exc)}
        return value if isinstance(value, dict) else {"value": value}

    def run_parallel(self, tasks: list[Callable[[], Any]], degree: int) -> list[Any]:
        """Run tasks with at most `degree` at a time; results in task order (deterministic)."""
        if self.threaded and degree > 1:
            with ThreadPoolExecutor(max_workers=degree) as pool:
                return list(pool.map(lambda task: task(), tasks))
        return self._simulate_parallel(tasks, degree)

    def _simulate_parallel(self, tasks: list[Callable[[], Any]], degree: int) -> list[Any]:
        """Virtual time: each task starts on the slot that frees first, on its own timeline."""
        start = self.clock.now()
        free_at = [start] * max(1, min(degree, len(tasks)))
        results = []
        for task in tasks:
            if self.termination is not None:
                break
            slot = min(range(len(free_at)), key=lambda i: free_at[i])
            with timeline(self.clock, free_at[slot]):
                results.append(task())
                free_at[slot] = self.clock.now()
        self._advance_to(max(free_at))
        return results

    def _advance_to(self, moment: datetime) -> None:
        gap = (moment - self.clock.now()).total_seconds()
        if gap > 0 and not self.threaded:
            self.clock.sleep(gap)


def _visible_error(exc: WdlError, node: ActionNode) -> str:
    """The error for run history; with secureData its text (which may quote values) is withheld."""
    if node.secure_inputs or node.secure_outputs:
        return f"an expression failed at {node.path}; details are hidden because the action uses secureData"
    return str(exc)


def graph_status(graph: Graph, statuses: dict[str, str]) -> str:
    """Failed if any branch ends failing (following Skipped back to its cause), else Succeeded."""
    for terminal in graph.terminals:
        if terminal in statuses and _effective(graph, terminal, statuses) in FAILING_STATUSES:
            return FAILED
    return SUCCEEDED


def _effective(graph: Graph, name: str, statuses: dict[str, str]) -> str:
    status = statuses.get(name, SUCCEEDED)
    if status != SKIPPED:
        return status
    causes = [_effective(graph, p, statuses) for p in graph.nodes[name].run_after]
    return next((s for s in causes if s in FAILING_STATUSES), SUCCEEDED if causes else SKIPPED)


def default_jitter() -> Jitter:
    """Uniform random retry intervals, as Azure picks them."""
    return random.Random().uniform


def new_run_id() -> str:
    """A run name like Azure's: unique, upper-case hex."""
    return uuid.uuid4().hex.upper()
