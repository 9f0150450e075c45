"""The message as the handlers see it, their outcomes, and log lines that identify a message.

`InboundMessage` is a plain copy of what the Functions host delivers, so the handlers and the
redelivery logic can be tested and reused without the Functions runtime.
"""
from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from order_integration.errors import PermanentError
from order_integration.servicebus import MAX_ID_LENGTH

logger = logging.getLogger("order_integration")

# Application properties our own redelivery adds (see order_integration.redelivery).
ORIGINAL_MESSAGE_ID = "originalMessageId"
RETRY_ATTEMPT = "retryAttempt"
FIRST_FAILURE_AT = "firstFailureAt"
RETRY_CHAIN_ID = "retryChainId"
LAST_ERROR = "lastError"

SUPPORTED_DATA_VERSION_MAJOR = "1"


def shown(value: object, limit: int = 40) -> str:
    """`value` for an error text: its repr if short, else only its type and length (never a long value)."""
    text = repr(value)
    if len(text) <= limit and text.isprintable():
        return text
    size = f" of {len(value)} characters" if isinstance(value, (str, bytes)) else ""
    return f"a {type(value).__name__}{size} (not shown)"


def is_message_id(value: object) -> bool:
    """Whether `value` could be a Service Bus MessageId or SessionId: printable text of 1 to 128 characters."""
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH and value.isprintable()


class ImplausibleRetryProperties(PermanentError):
    """A property that drives retries or replays holds something the integrators never write.

    Only our own redelivery writes them, so such a value was set or altered by hand; retrying on it
    could crash, retry for days or reuse an id that duplicate detection drops.
    """

    reason = "ImplausibleRetryProperties"

    def __init__(self, *, property_name: str, value: object, expected: str) -> None:
        self.property_name = property_name
        super().__init__(
            f"the {property_name} property is {shown(value)}, not {expected} as the integrators write it; "
            "it was set or altered by hand: fix or remove it, then replay the message"
        )


class UnsupportedDataVersion(PermanentError):
    """The message's `dataVersion` property names a contract version this code does not know."""

    reason = "UnsupportedDataVersion"

    def __init__(self, *, data_version: object) -> None:
        self.data_version = data_version
        super().__init__(
            f"dataVersion {shown(data_version)} is not supported: this integrator reads major version "
            f"{SUPPORTED_DATA_VERSION_MAJOR} only; deploy an integrator that knows it, then replay"
        )


class MessageOutcome(enum.Enum):
    """How a message ended; every value means it may be completed."""

    CREATED = "Created"
    ALREADY_PRESENT = "AlreadyPresent"
    APPLIED = "Applied"
    SKIPPED_STALE = "SkippedStale"
    RETRY_SCHEDULED = "RetryScheduled"
    PARKED = "Parked"


@dataclass(frozen=True)
class InboundMessage:
    """A received Service Bus message, reduced to what the integrators use."""

    body: bytes = field(repr=False)  # personal data: never in a repr that might be logged
    message_id: str
    correlation_id: str | None = None
    session_id: str | None = None
    delivery_count: int | None = 1  # None when the host did not say: never taken for a first delivery
    content_type: str | None = None
    application_properties: Mapping[str, Any] = field(default_factory=dict)
    enqueued_time: datetime | None = None  # when Service Bus accepted it, aware UTC

    @classmethod
    def from_functions(cls, message: Any) -> "InboundMessage":
        """Copy an `azure.functions.ServiceBusMessage` (duck-typed, no import needed)."""
        return cls(
            body=message.get_body(),
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            session_id=message.session_id,
            delivery_count=message.delivery_count,
            content_type=message.content_type,
            application_properties=dict(message.application_properties or {}),
            enqueued_time=_utc(message.enqueued_time_utc),
        )

    @property
    def original_message_id(self) -> str:
        """The MessageId the pipeline gave it, before any derived retry id.

        The received MessageId when the `originalMessageId` property is absent or could not be an id
        (it is set by hand then; redelivery parks such a message instead of retrying it).
        """
        original = self.application_properties.get(ORIGINAL_MESSAGE_ID)
        return original if is_message_id(original) else self.message_id

    def check_data_version(self) -> None:
        """Raise UnsupportedDataVersion unless the `dataVersion` property has major version 1."""
        version = self.application_properties.get("dataVersion")
        if str(version).split(".", 1)[0] != SUPPORTED_DATA_VERSION_MAJOR:
            raise UnsupportedDataVersion(data_version=version)


def _log_id(value: str) -> str:
    """An id for a log line: as is if it could be a Service Bus id, else escaped and shortened.

    The CorrelationId is the publisher's; a line break in it would forge a log line of its own.
    """
    return value if is_message_id(value) else shown(value)


def _utc(value: datetime | None) -> datetime | None:
    """`value` as an aware UTC datetime; the host's EnqueuedTimeUtc may come without an offset."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


@dataclass(frozen=True)
class LogContext:
    """What every log line carries: ids only, never bodies, names, addresses or keys."""

    pipeline: str
    message_id: str
    order_id: str
    correlation_id: str | None

    @classmethod
    def of(cls, pipeline: str, message: InboundMessage) -> "LogContext":
        """Ids of `message`: the ECP order id is its SessionId or, on online-orders, its MessageId."""
        return cls(
            pipeline=pipeline,
            message_id=_log_id(message.message_id),
            order_id=_log_id(message.session_id or message.original_message_id),
            correlation_id=None if message.correlation_id is None else _log_id(message.correlation_id),
        )

    def log(self, level: int, text: str, *args: object) -> None:
        """Log `text % args` with the ids in the line and as structured fields (App Insights)."""
        ids = {
            "pipeline": self.pipeline,
            "correlationId": self.correlation_id,
            "orderId": self.order_id,
            "messageId": self.message_id,
        }
        suffix = " ".join(f"{key}={value}" for key, value in ids.items())
        logger.log(level, f"{text} [{suffix}]", *args, extra={"custom_dimensions": ids})
