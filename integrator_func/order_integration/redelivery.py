"""What happens to a message its handler could not deliver: a scheduled retry or the parking queue.

Abandoning a message would bring it straight back, and `maxDeliveryCount` instant redeliveries
during a one-minute ERP outage would dead-letter healthy orders. Instead a transient failure
schedules a copy of the message on its own queue for later (exponential backoff, honouring the
target's Retry-After), and the original is completed. The copy gets a derived MessageId, because
duplicate detection silently drops a repeated MessageId inside its window
(https://learn.microsoft.com/azure/service-bus-messaging/duplicate-detection), and carries the
attempt count and the first failure's time, so the retry span survives across copies. Once that
span is used up, or the failure is permanent, the message is parked with a reason.

If the schedule or the park itself fails, SendFailed propagates: the host then abandons the
message instead of completing it, and Service Bus's `maxDeliveryCount` remains the backstop.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from order_integration.errors import IntegrationError, PermanentError, TransientError
from order_integration.messages import (
    FIRST_FAILURE_AT,
    ORIGINAL_MESSAGE_ID,
    RETRY_ATTEMPT,
    InboundMessage,
    Outcome,
)
from order_integration.servicebus import MessageSender, OutboundMessage

RETRIES_EXHAUSTED = "RetriesExhausted"


@dataclass(frozen=True)
class Pipeline:
    """Where one integrator's messages come from, and where they are parked."""

    parked_by: str
    queue: str
    parking_queue: str


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: first_delay × factor^n, capped at max_delay, for at least max_span."""

    max_span: timedelta = timedelta(minutes=90)
    first_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(minutes=15)
    factor: float = 2.0
    # ±jitter spreads the retries of orders that failed together, so a recovering ERP is not hit
    # by all of them in the same second.
    jitter: float = 0.1

    def delay(self, attempt: int, retry_after: float | None, unit_random: float) -> timedelta:
        """Wait before retry number `attempt` (1-based); never shorter than the target's Retry-After."""
        backoff = self.first_delay.total_seconds() * self.factor ** (attempt - 1)
        capped = min(backoff, self.max_delay.total_seconds())
        jittered = capped * (1 + self.jitter * (2 * unit_random - 1))
        return timedelta(seconds=max(jittered, retry_after or 0.0))


@dataclass(frozen=True)
class Redelivery:
    """Decides and sends the retry or park for failed messages of one pipeline."""

    pipeline: Pipeline
    sender: MessageSender
    policy: RetryPolicy
    now: Callable[[], datetime]
    unit_random: Callable[[], float] = random.random

    def handle(self, message: InboundMessage, error: IntegrationError) -> Outcome:
        """Schedule a retry for a transient error within the span, else park; SendFailed propagates."""
        if isinstance(error, PermanentError):
            self.park(message, reason=error.reason, description=str(error))
            return Outcome.PARKED
        if not isinstance(error, TransientError):
            raise TypeError(f"{type(error).__name__} is neither permanent nor transient")
        now = self.now()
        first_failure = _first_failure(message) or now
        if now - first_failure >= self.policy.max_span:
            self.park(
                message,
                reason=RETRIES_EXHAUSTED,
                description=(
                    f"gave up after {message.retry_attempt + 1} attempts over "
                    f"{_minutes(now - first_failure)} min (limit {_minutes(self.policy.max_span)} min); "
                    f"last error: {error}"
                ),
            )
            return Outcome.PARKED
        self._schedule_retry(message, error, first_failure, now)
        return Outcome.RETRY_SCHEDULED

    def park(self, message: InboundMessage, *, reason: str, description: str) -> None:
        """Send the original body, id and properties to the parking queue with the reason."""
        properties = dict(message.application_properties)
        properties.update(
            reason=reason,
            description=description,
            parkedBy=self.pipeline.parked_by,
            originalMessageId=message.original_message_id,
        )
        parked = OutboundMessage(
            body=message.body,
            # Derived from the received id: if this message is redelivered after a park whose
            # completion was lost, duplicate detection drops the second copy of the same park.
            message_id=f"{message.message_id}+parked",
            correlation_id=message.correlation_id,
            content_type=message.content_type,
            application_properties=properties,
        )
        self.sender.send(self.pipeline.parking_queue, parked)

    def _schedule_retry(
        self, message: InboundMessage, error: TransientError, first_failure: datetime, now: datetime
    ) -> None:
        attempt = message.retry_attempt + 1
        delay = self.policy.delay(attempt, error.retry_after, self.unit_random())
        properties = dict(message.application_properties)
        properties.update(
            {
                ORIGINAL_MESSAGE_ID: message.original_message_id,
                RETRY_ATTEMPT: attempt,
                FIRST_FAILURE_AT: first_failure.isoformat(),
                "lastError": str(error)[:500],
            }
        )
        retry = OutboundMessage(
            body=message.body,
            message_id=f"{message.original_message_id}+retry{attempt}",
            correlation_id=message.correlation_id,
            session_id=message.session_id,
            content_type=message.content_type,
            application_properties=properties,
        )
        self.sender.schedule(self.pipeline.queue, retry, now + delay)


def _first_failure(message: InboundMessage) -> datetime | None:
    raw = message.application_properties.get(FIRST_FAILURE_AT)
    if not raw:
        return None
    try:
        return datetime.fromisoformat(str(raw))
    except ValueError:
        return None


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)
