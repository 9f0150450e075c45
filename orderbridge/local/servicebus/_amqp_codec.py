"""Service Bus messages on the AMQP wire: proton messages to broker `Message`s and `ReceivedMessage`s back.

The mapping is Service Bus's (https://learn.microsoft.com/azure/service-bus-messaging/service-bus-amqp-request-response,
https://learn.microsoft.com/azure/service-bus-messaging/service-bus-messages-payloads): ids and content
type in the properties section, SessionId in `group-id`, TTL in the header, broker facts as
`x-opt-*` message annotations. The header's delivery-count is the number of earlier failed
deliveries, Azure's DeliveryCount − 1 (the .NET SDK adds one; the Python SDK shows the raw value,
`ServiceBusReceivedMessage.delivery_count` in azure-servicebus `_common/message.py`).
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from proton import Data, Message as AmqpMessage, symbol, timestamp

from orderbridge.local.servicebus._messages import Message, MessageState, ReceivedMessage

SEQUENCE_NUMBER = symbol("x-opt-sequence-number")
ENQUEUED_TIME = symbol("x-opt-enqueued-time")
LOCKED_UNTIL = symbol("x-opt-locked-until")
LOCK_TOKEN = symbol("x-opt-lock-token")
SCHEDULED_ENQUEUE_TIME = symbol("x-opt-scheduled-enqueue-time")
PARTITION_KEY = symbol("x-opt-partition-key")
MESSAGE_STATE = symbol("x-opt-message-state")
DEAD_LETTER_REASON = "DeadLetterReason"
DEAD_LETTER_DESCRIPTION = "DeadLetterErrorDescription"
_STATE_CODES = {MessageState.ACTIVE: 0, MessageState.DEFERRED: 1, MessageState.SCHEDULED: 2}
_HEADER_SECTION = 0x70
_DATA_SECTION = 0x75
_MAX_UINT = 2**32 - 1
_SECTION_CODES = range(0x70, 0x78)


def lock_token_tag(lock_token: str) -> bytes:
    """The delivery tag that carries a lock token: the GUID's bytes in .NET order, as the SDK reads it."""
    return uuid.UUID(lock_token).bytes_le


def decode_transfer(raw: bytes) -> list[AmqpMessage]:
    """The messages of one transfer: one, or those a batch (format 0x80013700) carries in its data sections.

    Proton's binding does not expose the message format, so a batch is recognised by its body: every
    data section is itself a complete encoded AMQP message.
    """
    inner = _data_sections(raw)
    if inner and all(_is_encoded_message(section) for section in inner):
        return [_decoded(section) for section in inner]
    return [_decoded(raw)]


def to_message(amqp: AmqpMessage) -> Message:
    """A sent AMQP message as the broker core takes it."""
    annotations = amqp.annotations or {}
    return Message(
        body=body_bytes(amqp.body),
        message_id=_text(amqp.id),
        correlation_id=_text(amqp.correlation_id),
        session_id=_text(amqp.group_id),
        content_type=_text(amqp.content_type),
        subject=_text(amqp.subject),
        reply_to=_text(amqp.reply_to),
        reply_to_session_id=_text(amqp.reply_to_group_id),
        to=_text(amqp.address),
        partition_key=_text(annotations.get(PARTITION_KEY)),
        time_to_live=timedelta(seconds=amqp.ttl) if amqp.ttl else None,
        scheduled_enqueue_time=_datetime(annotations.get(SCHEDULED_ENQUEUE_TIME)),
        application_properties={str(name): _property(value) for name, value in (amqp.properties or {}).items()},
    )


def encode_received(message: ReceivedMessage) -> bytes:
    """A delivered (or peeked) message as transfer bytes: the header, then proton's encoding of the rest.

    Proton leaves out header fields at their defaults, but the SDK reads a missing delivery-count as
    None, where Service Bus sends 0; so the header is written here, every field explicit.
    """
    header = Data()
    header.put_described()
    header.enter()
    header.put_ulong(_HEADER_SECTION)
    header.put_list()
    header.enter()
    header.put_bool(True)  # durable
    header.put_ubyte(4)  # priority: the AMQP default
    if message.time_to_live is None:
        header.put_null()
    else:
        header.put_uint(min(int(message.time_to_live.total_seconds() * 1000), _MAX_UINT))
    header.put_bool(False)  # first-acquirer
    header.put_uint(message.delivery_count - 1)
    header.exit()
    header.exit()
    rest = bytes(to_amqp(message).encode())
    if rest[:3] == b"\x00Sp":  # proton's own (empty) header section
        rest = rest[Data().decode(rest):]
    return bytes(header.encode()) + rest


def to_amqp(message: ReceivedMessage) -> AmqpMessage:
    """The message's sections but its header (see `encode_received`), with the broker's facts as annotations."""
    amqp = AmqpMessage(body=message.body, inferred=True)
    amqp.id = message.message_id
    amqp.correlation_id = message.correlation_id
    amqp.group_id = message.session_id
    amqp.content_type = message.content_type
    amqp.subject = message.subject
    amqp.reply_to = message.reply_to
    amqp.reply_to_group_id = message.reply_to_session_id
    amqp.address = message.to
    properties: dict[str, Any] = dict(message.application_properties)
    if message.dead_letter_reason is not None:
        properties[DEAD_LETTER_REASON] = message.dead_letter_reason
    if message.dead_letter_error_description is not None:
        properties[DEAD_LETTER_DESCRIPTION] = message.dead_letter_error_description
    amqp.properties = {name: _wire_property(value) for name, value in properties.items()}
    annotations: dict[symbol, Any] = {
        SEQUENCE_NUMBER: message.sequence_number,
        ENQUEUED_TIME: to_amqp_timestamp(message.enqueued_time),
        MESSAGE_STATE: _STATE_CODES[message.state],
    }
    if message.locked_until is not None:
        annotations[LOCKED_UNTIL] = to_amqp_timestamp(message.locked_until)
    if message.scheduled_enqueue_time is not None:
        annotations[SCHEDULED_ENQUEUE_TIME] = to_amqp_timestamp(message.scheduled_enqueue_time)
    if message.partition_key is not None:
        annotations[PARTITION_KEY] = message.partition_key
    amqp.annotations = annotations
    if message.lock_token is not None:
        amqp.instructions = {LOCK_TOKEN: uuid.UUID(message.lock_token)}
    return amqp


def to_amqp_timestamp(moment: datetime) -> timestamp:
    """An AMQP timestamp: milliseconds since the POSIX epoch."""
    return timestamp(int(moment.timestamp() * 1000))


def body_bytes(body: Any) -> bytes:
    """The body as bytes: data sections arrive as memoryviews; a value body (str) is UTF-8 encoded."""
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    return str(body).encode()


def _data_sections(raw: bytes) -> list[bytes]:
    """The payloads of the data sections of an encoded message (other sections skipped)."""
    sections: list[bytes] = []
    view = memoryview(raw)
    while view:
        data = Data()
        consumed = data.decode(bytes(view))
        if consumed <= 0:
            return []
        data.rewind()
        data.next()
        if data.type() == Data.DESCRIBED:
            data.enter()
            data.next()
            descriptor = data.get_object()
            data.next()
            if descriptor == _DATA_SECTION and data.type() == Data.BINARY:
                sections.append(bytes(data.get_binary()))
        view = view[consumed:]
    return sections


def _is_encoded_message(section: bytes) -> bool:
    if len(section) < 3 or section[:2] != b"\x00S" or section[2] not in _SECTION_CODES:
        return False
    try:
        _decoded(section)
    except Exception:  # noqa: BLE001 - any decode failure means: not an encoded message, an ordinary body
        return False
    return True


def _decoded(raw: bytes) -> AmqpMessage:
    message = AmqpMessage()
    message.decode(raw)
    return message


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).decode()
    return str(value)


def _property(value: Any) -> Any:
    """An application property value as the core stores it: simple types; timestamps become datetimes."""
    if isinstance(value, timestamp):
        return _datetime(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).decode(errors="replace")
    if isinstance(value, symbol):
        return str(value)
    return value


def _wire_property(value: Any) -> Any:
    return to_amqp_timestamp(value) if isinstance(value, datetime) else value


def _datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)
