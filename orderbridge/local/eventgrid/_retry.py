"""What Event Grid does after a delivery attempt: done, retry later, or dead-letter now.

From https://learn.microsoft.com/azure/event-grid/delivery-and-retry:
- only 200-204 are success;
- a webhook's 400, 401, 403 and 413 are not retried: dead-lettered at once (dropped without a
  dead-letter destination);
- everything else is retried on the schedule 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, 3 h,
  6 h, then every 12 h, with a small randomization, and a status-specific minimum: 408 after 2
  minutes or more, 503 after 30 seconds or more, all others (429 and a missing answer included)
  after 10 seconds or more; 401 and 404 "after 5 minutes or more" applies to Azure-resource
  endpoints, not webhooks;
- Event Grid waits 30 seconds for an answer; no answer counts as a failure (outcome TimedOut).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from http import HTTPStatus

RETRY_SCHEDULE_SECONDS = (10, 30, 60, 5 * 60, 10 * 60, 30 * 60, 3600, 3 * 3600, 6 * 3600)
LATER_RETRY_SECONDS = 12 * 3600
ANSWER_TIMEOUT_SECONDS = 30.0
JITTER = 0.1  # "a small randomization": each step is drawn from within ±10 % of its value
SUCCESS = range(200, 205)
NOT_RETRIED = frozenset({400, 401, 403, 413})
MINIMUM_DELAY_SECONDS = {408: 120.0, 503: 30.0}
DEFAULT_MINIMUM_DELAY_SECONDS = 10.0

# `lastDeliveryOutcome` values from the page's table; other statuses fall back to their reason phrase.
_OUTCOMES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    408: "TimedOut",
    413: "PayloadTooLarge",
    429: "Busy",
    503: "Busy",
}


@dataclass(frozen=True)
class AttemptResult:
    """How one delivery attempt ended: an HTTP status, or no answer (timeout, refused connection)."""

    status: int | None
    outcome: str  # Azure's `lastDeliveryOutcome`

    @property
    def delivered(self) -> bool:
        return self.status in SUCCESS

    @property
    def retriable(self) -> bool:
        return not self.delivered and self.status not in NOT_RETRIED


def answered(status: int) -> AttemptResult:
    """The result of an attempt the webhook answered with `status`."""
    if status in SUCCESS:
        return AttemptResult(status, "Delivered")
    return AttemptResult(status, _OUTCOMES.get(status) or _reason_phrase(status))


def timed_out() -> AttemptResult:
    """The webhook did not answer within the answer timeout."""
    return AttemptResult(None, "TimedOut")


def socket_error() -> AttemptResult:
    """The webhook could not be reached (connection refused or reset)."""
    return AttemptResult(None, "SocketError")


def undeliverable_reason(result: AttemptResult) -> str:
    """`deadLetterReason` of an event whose webhook answered a status that is not retried.

    Azure writes `UndeliverableDueToHttpBadRequest` for a 400 (seen in dead-letter blobs; the
    docs list no values for the other codes, so they follow the same pattern).
    """
    return f"UndeliverableDueToHttp{result.outcome}"


def retry_delay(attempts: int, result: AttemptResult, rng: random.Random) -> float:
    """Simulated seconds from failed attempt number `attempts` (1-based) to the next one."""
    step = RETRY_SCHEDULE_SECONDS[attempts - 1] if attempts <= len(RETRY_SCHEDULE_SECONDS) else LATER_RETRY_SECONDS
    jittered = step * rng.uniform(1 - JITTER, 1 + JITTER)
    minimum = MINIMUM_DELAY_SECONDS.get(result.status or 0, DEFAULT_MINIMUM_DELAY_SECONDS)
    return max(jittered, minimum)


def _reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.title().replace(" ", "").replace("-", "")
    except ValueError:
        return f"Http{status}"
