"""Messages as the broker core takes and gives them: plain values, no protocol in them.

Fronts translate their wire forms (REST headers, AMQP sections) into `Message` and back from
`ReceivedMessage`; the field names follow the SDK's ServiceBusMessage / ServiceBusReceivedMessage.
"""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

# Application property values Service Bus carries (the AMQP simple types orderbridge can meet).
PropertyValue = str | int | float | bool | datetime | None
_DATETIME_TAG = "$datetime"


class ReceiveMode(enum.Enum):
    """How a receive settles: lock and wait for the receiver's verdict, or delete at once."""

    PEEK_LOCK = "PeekLock"
    RECEIVE_AND_DELETE = "ReceiveAndDelete"


class MessageState(enum.Enum):
    """ServiceBusReceivedMessage.state: where the message stands in its queue."""

    ACTIVE = "Active"
    DEFERRED = "Deferred"
    SCHEDULED = "Scheduled"


@dataclass(frozen=True)
class Message:
    """A message to send; unset ids are Service Bus defaults (a MessageId is assigned if none)."""

    body: bytes
    message_id: str | None = None
    correlation_id: str | None = None
    session_id: str | None = None
    content_type: str | None = None
    subject: str | None = None  # BrokerProperties `Label`
    reply_to: str | None = None
    reply_to_session_id: str | None = None
    to: str | None = None
    partition_key: str | None = None
    time_to_live: timedelta | None = None
    scheduled_enqueue_time: datetime | None = None
    application_properties: Mapping[str, PropertyValue] = field(default_factory=dict)


@dataclass(frozen=True)
class ReceivedMessage:
    """A message as a receiver (or a peek) sees it; `delivery_count` is Azure's 1-based DeliveryCount."""

    body: bytes = field(repr=False)
    sequence_number: int
    message_id: str
    delivery_count: int
    enqueued_time: datetime
    state: MessageState
    correlation_id: str | None = None
    session_id: str | None = None
    content_type: str | None = None
    subject: str | None = None
    reply_to: str | None = None
    reply_to_session_id: str | None = None
    to: str | None = None
    partition_key: str | None = None
    time_to_live: timedelta | None = None
    expires_at: datetime | None = None
    scheduled_enqueue_time: datetime | None = None
    application_properties: Mapping[str, PropertyValue] = field(default_factory=dict)
    lock_token: str | None = None  # None for receive-and-delete and peek
    locked_until: datetime | None = None
    dead_letter_reason: str | None = None
    dead_letter_error_description: str | None = None


@dataclass(frozen=True)
class SessionLock:
    """A receiver's hold on one session: pass it to the session operations; renew it before `locked_until`."""

    queue: str
    session_id: str
    token: str
    locked_until: datetime


def message_size(message: Message) -> int:
    """Bytes that count against the message size limit: body, ids and application properties.

    Azure counts the whole AMQP message (system properties and headers too); this counts what the
    sender controls, which is within a few hundred bytes of it.
    """
    texts = [
        message.message_id, message.correlation_id, message.session_id, message.content_type, message.subject,
        message.reply_to, message.reply_to_session_id, message.to, message.partition_key,
    ]
    properties = sum(
        len(name.encode()) + len(str(value).encode()) for name, value in message.application_properties.items()
    )
    return len(message.body) + sum(len(text.encode()) for text in texts if text) + properties


def encode_properties(properties: Mapping[str, PropertyValue]) -> str:
    """JSON for the store; datetimes keep their type through a tag."""
    return json.dumps({name: _encode_value(value) for name, value in properties.items()}, sort_keys=True)


def decode_properties(text: str) -> dict[str, PropertyValue]:
    """The inverse of `encode_properties`."""
    return {name: _decode_value(value) for name, value in json.loads(text).items()}


def property_type_problem(properties: Mapping[str, Any]) -> str | None:
    """Why Service Bus could not carry these application properties, or None."""
    for name, value in properties.items():
        if not isinstance(name, str):
            return f"application property names must be strings, got {name!r}"
        if value is not None and not isinstance(value, (str, int, float, bool, datetime)):
            return f"application property {name!r} has a value of type {type(value).__name__}, not a simple type"
    return None


def _encode_value(value: PropertyValue) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return {_DATETIME_TAG: aware.isoformat()}
    return value


def _decode_value(value: Any) -> PropertyValue:
    if isinstance(value, dict):
        return datetime.fromisoformat(value[_DATETIME_TAG])
    return value
