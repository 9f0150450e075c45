"""What a run leaves behind: per-action records, the response, tracked properties and billing."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ._errors import RunResultError

# The marker that replaces inputs/outputs hidden by runtimeConfiguration.secureData, as Azure's
# run history hides them (https://learn.microsoft.com/azure/logic-apps/logic-apps-securing-a-logic-app#secure-data).
REDACTED = "<redacted: secureData>"

SUCCEEDED = "Succeeded"
FAILED = "Failed"
SKIPPED = "Skipped"
TIMED_OUT = "TimedOut"
CANCELLED = "Cancelled"
ACTION_STATUSES = frozenset({SUCCEEDED, FAILED, SKIPPED, TIMED_OUT, CANCELLED})


@dataclass(frozen=True)
class Attempt:
    """One request of an Http/ApiConnection action: a try, or a poll of an asynchronous operation."""

    start: datetime
    end: datetime
    status_code: int | None = None
    error: str | None = None
    poll: bool = False


@dataclass
class ActionRecord:
    """One execution of one action (one per loop iteration), as run history shows it."""

    name: str
    path: str
    type: str
    status: str
    start: datetime
    end: datetime
    iteration: tuple[int, ...] = ()
    inputs: Any = None
    outputs: Any = None
    error_code: str | None = None
    error_message: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    tracked_properties: dict[str, Any] | None = None
    tracking_id: str = ""
    client_tracking_id: str = ""

    def as_result(self) -> dict[str, Any]:
        """The object `actions('X')` / `result('Scope')` return for this execution."""
        result: dict[str, Any] = {
            "name": self.name,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "startTime": self.start.isoformat().replace("+00:00", "Z"),
            "endTime": self.end.isoformat().replace("+00:00", "Z"),
            "status": self.status,
            "code": self.error_code or ("OK" if self.status == SUCCEEDED else None),
            "trackingId": self.tracking_id,
            "clientTrackingId": self.client_tracking_id,
        }
        if self.error_message is not None:
            result["error"] = {"code": self.error_code, "message": self.error_message}
        if self.tracked_properties is not None:
            result["trackedProperties"] = self.tracked_properties
        return result


@dataclass(frozen=True)
class WorkflowResponse:
    """What the Request trigger's caller received from a `Response` action."""

    status_code: int
    headers: dict[str, str]
    body: Any
    sent_at: datetime | None = None  # when the Response action answered (None: answered by the trigger)


@dataclass
class Billing:
    """Billable executions of one run, split by price class.

    Metering per https://learn.microsoft.com/azure/logic-apps/logic-apps-pricing (Consumption):
    every trigger and action execution is metered, successful or not, including control actions
    and each action in each loop iteration ((10 * 1) + 1 for a 10-item loop with one action);
    skipped actions and actions that never ran because the run stopped are not metered. "An
    operation usually makes a single execution unless the operation has retry attempts enabled":
    each retry is one more execution. Built-in actions are priced as actions; managed connector
    (ApiConnection) calls at the connector rate.
    """

    trigger: int = 0
    builtin_actions: int = 0
    connector_actions: int = 0
    retries: int = 0

    @property
    def total(self) -> int:
        return self.trigger + self.builtin_actions + self.connector_actions


@dataclass
class RunResult:
    """The outcome of `run()`."""

    status: str
    trigger: ActionRecord
    all_records: list[ActionRecord]
    response: WorkflowResponse | None
    billing: Billing
    started: datetime
    ended: datetime
    error_code: str | None = None
    error_message: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""

    def records(self, name: str) -> list[ActionRecord]:
        """Every execution of action `name`, ordered by loop iteration."""
        found = [record for record in self.all_records if record.name == name]
        return sorted(found, key=lambda record: record.iteration)

    def action(self, name: str) -> ActionRecord:
        """The single execution of action `name`; an error if it ran zero or several times."""
        found = self.records(name)
        if len(found) != 1:
            ran = sorted({record.name for record in self.all_records})
            raise RunResultError(
                f"action {name!r} has {len(found)} executions in this run, expected exactly one; "
                f"use records({name!r}) for loops. Actions with records: {ran}"
            )
        return found[0]

    @property
    def tracked_properties(self) -> dict[str, dict[str, Any]]:
        """Tracked properties by action name (the latest execution's, for loops)."""
        return {
            record.name: record.tracked_properties
            for record in self.all_records
            if record.tracked_properties is not None
        }
