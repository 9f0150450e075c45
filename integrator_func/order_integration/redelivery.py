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

The retry properties are read defensively: anyone can send a message with them, and a value our
code never writes (a retry count that cannot fit in any retry span, a first failure without an
offset or in the future, an id that is not one) parks the message as ImplausibleRetryProperties
instead of crashing the retry step or retrying for days.

A parked message keeps its retry history under other names (`previousFirstFailureAt`,
`previousRetryAttempts`, `previousLastError`) and its SessionId as the `sessionId` property, so
`replay_message` can send it, or a dead-lettered message, back with a fresh retry budget, in its
session, under a new MessageId (integrator_func/README.md says when and how).
"""
from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from order_integration.contracts import canonical_order_id, load_json, load_schema
from order_integration.errors import (
    DeliveryError,
    IntegrationError,
    MalformedJson,
    OutcomeUnknown,
    PermanentError,
    TransientError,
    redact,
)
from order_integration.messages import (
    FIRST_FAILURE_AT,
    LAST_ERROR,
    ORIGINAL_MESSAGE_ID,
    RETRY_ATTEMPT,
    RETRY_CHAIN_ID,
    ImplausibleRetryProperties,
    InboundMessage,
    MessageOutcome,
    is_message_id,
    shown,
)
from order_integration.servicebus import MAX_ID_LENGTH, MessageSender, OutboundMessage
from topology import ERP_UNKNOWN_OUTCOME_WAIT, PIPELINES, RETRY_MAX_SPAN, PipelineSpec

RETRIES_EXHAUSTED = "RetriesExhausted"
# Retry state of one chain of scheduled retries, and the names a parked message keeps it under: a
# replay starts a new chain with the whole retry span, instead of being parked at its first failure.
_PREVIOUS = {
    FIRST_FAILURE_AT: "previousFirstFailureAt",
    RETRY_ATTEMPT: "previousRetryAttempts",
    LAST_ERROR: "previousLastError",
}
SESSION_ID = "sessionId"
PARKING_PROPERTIES = ("reason", "description", "parkedBy", SESSION_ID)
# What Service Bus adds to a message it dead-letters
# (https://learn.microsoft.com/azure/service-bus-messaging/service-bus-dead-letter-queues).
DEAD_LETTER_PROPERTIES = ("DeadLetterReason", "DeadLetterErrorDescription")
REPLAY_COUNT = "replayCount"
# How far another instance's clock may be ahead of this one's: a first failure further in the future
# was not written by us, and would stretch the retry span by as much.
CLOCK_SKEW = timedelta(minutes=5)
# The longest retry span any configuration allows, a lost create's last wait included: a retry
# count whose shortest delays do not fit in it cannot be ours, even across a change of the settings.
LONGEST_RETRY_SPAN = timedelta(minutes=RETRY_MAX_SPAN.high + ERP_UNKNOWN_OUTCOME_WAIT.high)
# Replays are sent by hand (or a script an operator runs); more than this is a loop, not a replay.
MAX_REPLAYS = 9999
_TIME_TEXT_LIMIT = 64


@dataclass(frozen=True)
class Route:
    """Where one integrator's messages come from, and where it parks them (app settings, topology)."""

    queue: str
    parking_queue: str
    parked_by: str


# A policy without a positive shortest delay gives no bound; a retry count still has to be an int64.
MAX_RETRIES_UNBOUNDED = 2**63 - 1


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
        try:
            backoff = self.first_delay.total_seconds() * self.factor ** (attempt - 1)
        except OverflowError:  # far beyond the cap
            backoff = float("inf")
        capped = min(backoff, self.max_delay.total_seconds())
        jittered = capped * (1 + self.jitter * (2 * unit_random - 1))
        return timedelta(seconds=max(jittered, bounded_wait(retry_after)))

    def most_retries(self, span: timedelta) -> int:
        """How many retries at most fit in `span`: each waits at least its backoff less the jitter."""
        left, retries = span.total_seconds(), 0
        while True:
            shortest = self.delay(retries + 1, None, 0.0).total_seconds()
            if shortest <= 0:
                return MAX_RETRIES_UNBOUNDED
            if left < shortest:
                return retries
            if shortest >= self.delay(retries + 2, None, 0.0).total_seconds():  # capped: constant from here
                return retries + int(left // shortest)
            left -= shortest
            retries += 1


def bounded_wait(retry_after: float | None) -> float:
    """A target's Retry-After (or a create's wait) in seconds, at most the longest retry span.

    The header comes from the target: `Retry-After: 99999999999999` (or a float infinity from
    4,000 digits) must delay the retry, not overflow the date arithmetic and crash the retry step.
    """
    if not (retry_after and retry_after > 0):  # also NaN
        return 0.0
    return min(retry_after, LONGEST_RETRY_SPAN.total_seconds())


@dataclass(frozen=True)
class RetryChain:
    """The retry state a message carries, once it has been checked (see `retry_chain`)."""

    attempt: int  # scheduled retries before this delivery: 0 for a message that never failed
    first_failure: datetime | None
    chain_id: str  # the first MessageId of the chain, which names every retry in it


@dataclass(frozen=True)
class Redelivery:
    """Decides and sends the retry or park for failed messages of one integrator."""

    route: Route
    sender: MessageSender
    policy: RetryPolicy
    now: Callable[[], datetime]
    unit_random: Callable[[], float] = random.random
    # Applied to every error text the retry or park carries (`description`, `lastError`): a target's
    # error body may repeat the API key it was sent.
    redact: Callable[[str], str] = redact

    def handle(self, message: InboundMessage, error: DeliveryError) -> MessageOutcome:
        """Schedule a retry for a transient error within the span, else park; SendFailed propagates."""
        if isinstance(error, PermanentError):
            self.park(message, reason=error.reason, description=str(error))
            return MessageOutcome.PARKED
        if not isinstance(error, TransientError):
            raise TypeError(f"{type(error).__name__} is neither permanent nor transient")
        now = self.now()
        try:
            chain = retry_chain(message, now=now, policy=self.policy)
        except ImplausibleRetryProperties as implausible:
            self.park(message, reason=implausible.reason, description=f"{implausible}; last error: {error}")
            return MessageOutcome.PARKED
        first_failure = chain.first_failure or now
        if now - first_failure >= _retry_span(self.policy, error):
            description = self._exhausted(chain.attempt, error, first_failure, now)
            self.park(message, reason=RETRIES_EXHAUSTED, description=description)
            return MessageOutcome.PARKED
        self._schedule_retry(message, chain, error, first_failure, now)
        return MessageOutcome.RETRY_SCHEDULED

    def _exhausted(self, attempt: int, error: TransientError, first_failure: datetime, now: datetime) -> str:
        """Why the message is parked and, after a lost create, how long a replay must wait."""
        description = (
            f"gave up after {attempt + 1} attempts over {_minutes(now - first_failure)} min "
            f"(limit {_minutes(self.policy.max_span)} min); last error: {error}"
        )
        if isinstance(error, OutcomeUnknown):
            not_before = now + timedelta(seconds=bounded_wait(error.retry_after))
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
            description=self.redact(description),
            parkedBy=self.route.parked_by,
            originalMessageId=message.original_message_id,
        )
        if message.session_id is not None:
            properties[SESSION_ID] = message.session_id  # the parking queue has no sessions
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
        self, message: InboundMessage, chain: RetryChain, error: TransientError, first_failure: datetime, now: datetime
    ) -> None:
        attempt = chain.attempt + 1
        delay = self.policy.delay(attempt, error.retry_after, self.unit_random())
        properties = dict(message.application_properties)
        properties.update(
            {
                ORIGINAL_MESSAGE_ID: message.original_message_id,
                RETRY_CHAIN_ID: chain.chain_id,
                RETRY_ATTEMPT: attempt,
                FIRST_FAILURE_AT: first_failure.isoformat(),
                LAST_ERROR: self.redact(str(error))[:500],
            }
        )
        retry = OutboundMessage(
            body=message.body,
            message_id=derived_id(chain.chain_id, f"+retry{attempt}"),
            correlation_id=message.correlation_id,
            session_id=message.session_id,
            content_type=message.content_type,
            application_properties=properties,
        )
        self.sender.schedule(self.route.queue, retry, now + delay)


class CannotReplay(IntegrationError):
    """A parked or dead-lettered message cannot be turned into a replay as it is; says what is missing."""


def replay_message(parked: InboundMessage, pipeline: PipelineSpec | None = None) -> OutboundMessage:
    """What to send back to the pipeline's queue for a parked or dead-lettered message, once its cause is fixed.

    Same body, correlation id and properties (without the parking and dead-letter ones, the retry
    chain renamed to its `previous...` names), and a new MessageId `{originalMessageId}+replay{n}`:
    duplicate detection would silently drop the original id, and `replayCount` (n) makes every later
    replay of the same order unique too. `pipeline` is the one whose queue the message came from;
    a parked message names it in `parkedBy`. A session queue's replay always carries its SessionId
    (see `_replay_session_id`); Service Bus refuses a message without one there.
    """
    pipeline = pipeline or _pipeline_of(parked)
    properties = _without_retry_chain(
        {k: v for k, v in parked.application_properties.items() if k not in (*PARKING_PROPERTIES, *DEAD_LETTER_PROPERTIES)}
    )
    count = _replay_count(parked.application_properties.get(REPLAY_COUNT)) + 1
    properties.update({REPLAY_COUNT: count, ORIGINAL_MESSAGE_ID: parked.original_message_id})
    return OutboundMessage(
        body=parked.body,
        message_id=derived_id(parked.original_message_id, f"+replay{count}"),
        correlation_id=parked.correlation_id,
        session_id=_replay_session_id(parked, pipeline) if pipeline.requires_session else None,
        content_type=parked.content_type,
        application_properties=properties,
    )


def _pipeline_of(parked: InboundMessage) -> PipelineSpec:
    """The pipeline whose integrator parked `parked`, from its `parkedBy` property."""
    parked_by = parked.application_properties.get("parkedBy")
    for pipeline in PIPELINES:
        if pipeline.parked_by == parked_by:
            return pipeline
    raise CannotReplay(
        f"message {shown(parked.message_id)} has no parkedBy property naming an integrator (a dead-lettered "
        "message has none): pass the pipeline whose queue it came from"
    )


def _replay_session_id(parked: InboundMessage, pipeline: PipelineSpec) -> str:
    """The SessionId of a replay to a session queue: the body's canonical order id, else the one it had.

    The body decides, as the workflow derives the SessionId from it (`session_key`): the state's
    externalDocumentNumber, upper-cased, the one id the ECP integrator accepts (a message whose
    SessionId names another order is parked as SessionMismatch, so replaying that SessionId would
    park it again). Only a body without a usable id falls back to the SessionId it was received with:
    a parked message keeps it as the `sessionId` property, a dead-lettered one as its own.
    """
    from_body = _session_id_from_body(parked.body, pipeline)
    if from_body is not None:
        return from_body
    for candidate in (parked.application_properties.get(SESSION_ID), parked.session_id):
        if is_message_id(candidate):
            return candidate
    raise CannotReplay(
        f"message {shown(parked.message_id)} is for the session queue {pipeline.queue_name} but carries no "
        f"SessionId, no sessionId property and no {pipeline.session_key} in its body; send it by hand with "
        "the upper-cased ECP order id as SessionId"
    )


# Per session key: the contract of the queue's bodies and its field that holds the key's value.
_SESSION_KEY_IN_BODY = {"ecpOrderId": ("erp-sales-order-state", "externalDocumentNumber")}


def _session_id_from_body(body: bytes, pipeline: PipelineSpec) -> str | None:
    """The session key's value in `body`, in the form the workflow gives the SessionId; None if absent or invalid."""
    contract, field_name = _SESSION_KEY_IN_BODY[str(pipeline.session_key)]
    try:
        value = load_json(body).get(field_name)  # type: ignore[union-attr]
    except (MalformedJson, AttributeError):
        return None
    rule = load_schema(contract)["properties"][field_name]
    if not isinstance(value, str) or len(value) > rule["maxLength"] or not re.fullmatch(rule["pattern"], value):
        return None
    # The workflow sends `toUpper(ecpOrderId)`: Business Central upper-cases Code fields.
    return canonical_order_id(value)


def _replay_count(raw: object) -> int:
    """How often the message was replayed before: 0 if never; CannotReplay for a value we never write."""
    if raw is None:
        return 0
    count = _whole_number(raw)
    if count is None or not 1 <= count <= MAX_REPLAYS:
        raise CannotReplay(
            f"the {REPLAY_COUNT} property is {shown(raw)}, not a whole number from 1 to {MAX_REPLAYS} as a replay "
            "writes it; it was set or altered by hand: fix or remove it, then replay"
        )
    return count


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
        return policy.max_span + timedelta(seconds=bounded_wait(error.retry_after))
    return policy.max_span


def _without_retry_chain(properties: Mapping[str, Any]) -> dict[str, Any]:
    """`properties` with the current retry chain's state renamed to its `previous...` names."""
    kept = {k: v for k, v in properties.items() if k not in _PREVIOUS and k != RETRY_CHAIN_ID}
    kept.update({_PREVIOUS[k]: v for k, v in properties.items() if k in _PREVIOUS})
    return kept


def retry_chain(message: InboundMessage, *, now: datetime, policy: RetryPolicy) -> RetryChain:
    """The retry state of `message`, or ImplausibleRetryProperties naming the first property we never write."""
    properties = message.application_properties
    for name in (ORIGINAL_MESSAGE_ID, RETRY_CHAIN_ID):
        if name in properties and not is_message_id(properties[name]):
            raise ImplausibleRetryProperties(
                property_name=name, value=properties[name], expected="a MessageId (printable, 1 to 128 characters)"
            )
    attempt = _retry_attempt(properties.get(RETRY_ATTEMPT), policy)
    first_failure = _first_failure(properties.get(FIRST_FAILURE_AT), now)
    if (attempt == 0) != (first_failure is None):
        present = RETRY_ATTEMPT if attempt else FIRST_FAILURE_AT
        absent = FIRST_FAILURE_AT if attempt else RETRY_ATTEMPT
        raise ImplausibleRetryProperties(
            property_name=present, value=properties[present], expected=f"set only together with {absent}"
        )
    # The chain's first message names every copy: a replay (new MessageId) starts a new chain,
    # whose ids cannot collide with the earlier chain's inside the duplicate detection window.
    return RetryChain(attempt, first_failure, properties.get(RETRY_CHAIN_ID) or message.message_id)


def _retry_attempt(raw: object, policy: RetryPolicy) -> int:
    """The `retryAttempt` property: absent is 0; more retries than fit in any retry span are implausible."""
    if raw is None:
        return 0
    most = policy.most_retries(LONGEST_RETRY_SPAN) + 1  # + the last retry after a lost create
    attempt = _whole_number(raw)
    if attempt is None or not 1 <= attempt <= most:
        raise ImplausibleRetryProperties(
            property_name=RETRY_ATTEMPT, value=raw, expected=f"a whole number from 1 to {most}"
        )
    return attempt


def _first_failure(raw: object, now: datetime) -> datetime | None:
    """The `firstFailureAt` property: absent is None; it must be an ISO 8601 time with offset, not in the future."""
    if raw is None:
        return None
    expected = "an ISO 8601 time with a UTC offset, not in the future"
    if not isinstance(raw, str) or len(raw) > _TIME_TEXT_LIMIT:
        raise ImplausibleRetryProperties(property_name=FIRST_FAILURE_AT, value=raw, expected=expected)
    try:
        first_failure = datetime.fromisoformat(raw)
    except ValueError:
        first_failure = None
    if first_failure is None or first_failure.tzinfo is None or first_failure > now + CLOCK_SKEW:
        raise ImplausibleRetryProperties(property_name=FIRST_FAILURE_AT, value=raw, expected=expected)
    return first_failure


def _whole_number(raw: object) -> int | None:
    """An int property, or one written as up to 18 ASCII digits (a tool that re-sends it as text); else None."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 18:
        return int(raw)
    return None


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)
