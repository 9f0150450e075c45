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

A parked message keeps its retry history under other names (`previousFirstFailureAt`,
`previousRetryAttempts`, `previousLastError`) and its SessionId as the `sessionId` property, so
`replay_message` can send it back with a fresh retry budget, in its session, under a new MessageId
(integrator_func/README.md says when and how).
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from order_integration.errors import DeliveryError, OutcomeUnknown, PermanentError, TransientError
from order_integration.messages import (
    FIRST_FAILURE_AT,
    LAST_ERROR,
    ORIGINAL_MESSAGE_ID,
    RETRY_ATTEMPT,
    RETRY_CHAIN_ID,
    InboundMessage,
    MessageOutcome,
)
from order_integration.servicebus import MAX_ID_LENGTH, MessageSender, OutboundMessage
from topology import RETRY_MAX_SPAN

RETRIES_EXHAUSTED = "RetriesExhausted"
# Retry state of one chain of scheduled retries, and the names a parked message keeps it under: a
# replay starts a new chain with the whole retry span, instead of being parked at its first failure.
_PREVIOUS = {
    FIRST_FAILURE_AT: "previousFirstFailureAt",
    RETRY_ATTEMPT: "previousRetryAttempts",
    LAST_ERROR: "previousLastError",
}
PARKING_PROPERTIES = ("reason", "description", "parkedBy", "sessionId")
REPLAY_COUNT = "replayCount"


@dataclass(frozen=True)
class Route:
    """Where one integrator's messages come from, and where it parks them (app settings, topology)."""

    queue: str
    parking_queue: str
    parked_by: str


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: first_delay × factor^n, capped at max_delay, for at least max_span."""

    max_span: timedelta = timedelta(minutes=RETRY_MAX_SPAN.default)
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
    """Decides and sends the retry or park for failed messages of one integrator."""

    route: Route
    sender: MessageSender
    policy: RetryPolicy
    now: Callable[[], datetime]
    unit_random: Callable[[], float] = random.random

    def handle(self, message: InboundMessage, error: DeliveryError) -> MessageOutcome:
        """Schedule a retry for a transient error within the span, else park; SendFailed propagates."""
        if isinstance(error, PermanentError):
            self.park(message, reason=error.reason, description=str(error))
            return MessageOutcome.PARKED
        if not isinstance(error, TransientError):
            raise TypeError(f"{type(error).__name__} is neither permanent nor transient")
        now = self.now()
        first_failure = _first_failure(message) or now
        if now - first_failure >= _retry_span(self.policy, error):
            self.park(message, reason=RETRIES_EXHAUSTED, description=self._exhausted(message, error, first_failure, now))
            return MessageOutcome.PARKED
        self._schedule_retry(message, error, first_failure, now)
        return MessageOutcome.RETRY_SCHEDULED

    def _exhausted(
        self, message: InboundMessage, error: TransientError, first_failure: datetime, now: datetime
    ) -> str:
        """Why the message is parked and, after a lost create, how long a replay must wait."""
        description = (
            f"gave up after {message.retry_attempt + 1} attempts over {_minutes(now - first_failure)} min "
            f"(limit {_minutes(self.policy.max_span)} min); last error: {error}"
        )
        if isinstance(error, OutcomeUnknown):
            not_before = now + timedelta(seconds=error.retry_after or 0.0)
            description += (
                f"; do not replay before {not_before:%Y-%m-%d %H:%M} UTC, when that create has either "
                "committed (the replay then finds the order) or never will"
            )
        return description

    def park(self, message: InboundMessage, *, reason: str, description: str) -> None:
        """Send the original body, id and properties to the parking queue with the reason."""
        properties = _without_retry_chain(message.application_properties)
        properties.update(
            reason=reason,
            description=description,
            parkedBy=self.route.parked_by,
            originalMessageId=message.original_message_id,
        )
        if message.session_id is not None:
            properties["sessionId"] = message.session_id  # the parking queue has no sessions
        parked = OutboundMessage(
            body=message.body,
            # Derived from the received id: if this message is redelivered after a park whose
            # completion was lost, duplicate detection drops the second copy of the same park.
            message_id=derived_id(message.message_id, "+parked"),
            correlation_id=message.correlation_id,
            content_type=message.content_type,
            application_properties=properties,
        )
        self.sender.send(self.route.parking_queue, parked)

    def _schedule_retry(
        self, message: InboundMessage, error: TransientError, first_failure: datetime, now: datetime
    ) -> None:
        attempt = message.retry_attempt + 1
        delay = self.policy.delay(attempt, error.retry_after, self.unit_random())
        # The chain's first message names every copy: a replay (new MessageId) starts a new chain,
        # whose ids cannot collide with the earlier chain's inside the duplicate detection window.
        chain = str(message.application_properties.get(RETRY_CHAIN_ID) or message.message_id)
        properties = dict(message.application_properties)
        properties.update(
            {
                ORIGINAL_MESSAGE_ID: message.original_message_id,
                RETRY_CHAIN_ID: chain,
                RETRY_ATTEMPT: attempt,
                FIRST_FAILURE_AT: first_failure.isoformat(),
                LAST_ERROR: str(error)[:500],
            }
        )
        retry = OutboundMessage(
            body=message.body,
            message_id=derived_id(chain, f"+retry{attempt}"),
            correlation_id=message.correlation_id,
            session_id=message.session_id,
            content_type=message.content_type,
            application_properties=properties,
        )
        self.sender.schedule(self.route.queue, retry, now + delay)


def replay_message(parked: InboundMessage) -> OutboundMessage:
    """What to send back to the pipeline's queue for a parked message, once its cause is fixed.

    Same body, correlation id and properties (without the parking ones), its SessionId restored,
    and a new MessageId `{originalMessageId}+replay{n}`: duplicate detection would silently drop
    the original id, and `replayCount` (n) makes every later replay of the same order unique too.
    """
    properties = {k: v for k, v in parked.application_properties.items() if k not in PARKING_PROPERTIES}
    count = _int(properties.get(REPLAY_COUNT)) + 1
    properties[REPLAY_COUNT] = count
    return OutboundMessage(
        body=parked.body,
        message_id=derived_id(parked.original_message_id, f"+replay{count}"),
        correlation_id=parked.correlation_id,
        session_id=parked.application_properties.get("sessionId"),
        content_type=parked.content_type,
        application_properties=properties,
    )


_HASH_LENGTH = 16


def derived_id(stem: str, suffix: str) -> str:
    """`stem + suffix`, shortened deterministically to Service Bus's 128-character MessageId limit.

    The pipeline's ids may already use all 128 characters. A longer id keeps the start of the stem
    and a hash of the whole stem, so different stems stay different, and the same stem always gives
    the same id (duplicate detection must still recognise a repeated park).
    """
    full = stem + suffix
    if len(full) <= MAX_ID_LENGTH:
        return full
    digest = hashlib.sha256(stem.encode()).hexdigest()[:_HASH_LENGTH]
    keep = max(MAX_ID_LENGTH - len(suffix) - _HASH_LENGTH - 1, 0)
    return f"{stem[:keep]}~{digest}{suffix}"


def _retry_span(policy: RetryPolicy, error: TransientError) -> timedelta:
    """How long after the first failure a retry may still be scheduled for `error`.

    A create whose answer was lost may still commit in the ERP for `retry_after` seconds. Parking it
    at once would invite a replay that looks the order up too early and creates it twice, so a lost
    create gets one more retry after that wait even when the span has run out; its look-up then
    finds the order or, if it fails again, the message is parked.
    """
    if isinstance(error, OutcomeUnknown):
        return policy.max_span + timedelta(seconds=error.retry_after or 0.0)
    return policy.max_span


def _without_retry_chain(properties: Mapping[str, Any]) -> dict[str, Any]:
    """`properties` with the current retry chain's state renamed to its `previous...` names."""
    kept = {k: v for k, v in properties.items() if k not in _PREVIOUS and k != RETRY_CHAIN_ID}
    kept.update({_PREVIOUS[k]: v for k, v in properties.items() if k in _PREVIOUS})
    return kept


def _int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


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
