"""The retry policy the stack sets and the integrators obey: each value's name on both sides, its
default and its range, defined once so the two validators cannot drift apart.

The stack config (`infra.config`) refuses a value out of range before anything is deployed, and the
Functions app (`order_integration.settings`) refuses the same values if someone edits an app setting
by hand, because both ask the objects below.
"""
from __future__ import annotations

from dataclasses import dataclass

from topology.pipelines import ECP_TO_ERP


@dataclass(frozen=True)
class MinutesSetting:
    """A whole number of minutes, known as `stack_key` in the stack config and `app_setting` in the app."""

    stack_key: str
    app_setting: str
    default: int
    low: int
    high: int

    def accepts(self, minutes: int) -> bool:
        """Whether `minutes` is in range (both sides refuse exactly the values this refuses)."""
        return self.low <= minutes <= self.high

    def range_text(self) -> str:
        """The range for an error message."""
        return f"a whole number of minutes from {self.low} to {self.high}"


# How long transient failures of one message are retried before it is parked: 1 minute to 1 week.
RETRY_MAX_SPAN = MinutesSetting(
    stack_key="retryMaxSpanMinutes", app_setting="RETRY_MAX_SPAN_MINUTES", default=90, low=1, high=7 * 24 * 60
)

# How long an ERP create whose answer was lost may still be running. Business Central stops a request
# after 10 minutes ("HTTP response code 504 - Gateway Timeout is returned when a request exceeds
# 10-minutes execution time",
# https://learn.microsoft.com/dynamics365/business-central/dev-itpro/api-reference/v2.0/dynamics-current-limits),
# so less than 11 minutes could look the order up while it is still being created, and create it twice.
ERP_UNKNOWN_OUTCOME_WAIT = MinutesSetting(
    stack_key="erpUnknownOutcomeRetryMinutes",
    app_setting="ERP_UNKNOWN_OUTCOME_RETRY_MINUTES",
    default=15,
    low=11,
    high=24 * 60,
)

# The online-orders queue's duplicate-detection window: Event Grid redelivers for up to 24 h, so at
# least a day; Service Bus allows at most 7 days
# (https://learn.microsoft.com/azure/service-bus-messaging/duplicate-detection). The stack holds it as
# an ISO 8601 duration (`duplicateDetectionWindow`), the app as minutes.
DUPLICATE_DETECTION_WINDOW = MinutesSetting(
    stack_key="duplicateDetectionWindow",
    app_setting=f"{ECP_TO_ERP.settings_prefix}_DUPLICATE_DETECTION_MINUTES",
    default=24 * 60,
    low=24 * 60,
    high=7 * 24 * 60,
)
# The Service Bus connection the triggers and the integrators' sender share: an app-setting prefix. In
# Azure `<prefix>__fullyQualifiedNamespace` names the namespace (managed identity); on a local run
# `<prefix>` itself holds the local namespace's connection string.
SERVICE_BUS_CONNECTION = "ServiceBusConnection"
SERVICE_BUS_NAMESPACE_SETTING = f"{SERVICE_BUS_CONNECTION}__fullyQualifiedNamespace"
# When Azure created the online-orders queue (ARM's `createdAt`): a replaced queue has no duplicate history.
QUEUE_CREATED_AT_SETTING = f"{ECP_TO_ERP.settings_prefix}_QUEUE_CREATED_AT"


def retry_rule_problem(span_minutes: int, wait_minutes: int, *, span_name: str, wait_name: str) -> str | None:
    """The rule between the two values, or None when it holds: the wait must fit inside the span."""
    if wait_minutes < span_minutes:
        return None
    return (
        f"{wait_name} ({wait_minutes}) must be less than {span_name} ({span_minutes}), or an order whose"
        " create timed out is parked after a single retry"
    )
