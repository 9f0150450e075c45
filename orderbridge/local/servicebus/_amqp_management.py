"""The `$management` node of an entity: Service Bus's AMQP request-response operations over the broker core.

A request carries `operation` in its application properties and a map in its body; the answer
carries `statusCode`, `statusDescription` and, on failure, `errorCondition`, correlated by the
request's message-id
(https://learn.microsoft.com/azure/service-bus-messaging/service-bus-amqp-request-response).
Session operations name the session; the front keeps the session locks its receivers hold.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from proton import Array, Data, Message as AmqpMessage, symbol, UNDESCRIBED

from orderbridge.local.servicebus._amqp_codec import decode_transfer, encode_received, to_amqp_timestamp, to_message
from orderbridge.local.servicebus._broker import Broker
from orderbridge.local.servicebus import _errors as errors
from orderbridge.local.servicebus._errors import ServiceBusError
from orderbridge.local.servicebus._messages import ReceivedMessage, ReceiveMode, SessionLock

OPERATION = "operation"
# Conditions the SDK maps to its exceptions (azure-servicebus `_transport/_pyamqp_transport.py`).
_CONDITIONS: list[tuple[type[ServiceBusError], int, str]] = [
    (errors.EntityNotFound, 404, "amqp:not-found"),
    (errors.MessageSizeExceeded, 413, "amqp:link:message-size-exceeded"),
    (errors.InvalidMessage, 400, "com.microsoft:argument-error"),
    (errors.MessageLockLost, 410, "com.microsoft:message-lock-lost"),
    (errors.SessionLockLost, 410, "com.microsoft:session-lock-lost"),
    (errors.SessionCannotBeLocked, 409, "com.microsoft:session-cannot-be-locked"),
    (errors.MessageNotFound, 404, "com.microsoft:message-not-found"),
    (errors.InvalidOperation, 400, "amqp:not-allowed"),
    (errors.BrokerClosed, 503, "com.microsoft:server-busy"),
]
_DISPOSITIONS = {"completed": "complete", "abandoned": "abandon", "defered": "defer", "suspended": "dead_letter"}
_RECEIVE_AND_DELETE = 0  # receiver-settle-mode "first"


def error_condition(error: ServiceBusError) -> tuple[int, str]:
    """The status code and AMQP condition Service Bus answers `error` with."""
    for kind, status, condition in _CONDITIONS:
        if isinstance(error, kind):
            return status, condition
    return 500, "amqp:internal-error"


class SessionLocks:
    """The session locks the front's receivers hold, by queue and session id."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], SessionLock] = {}

    def hold(self, lock: SessionLock) -> None:
        self._locks[(lock.queue, lock.session_id)] = lock

    def drop(self, lock: SessionLock) -> None:
        if self._locks.get((lock.queue, lock.session_id)) == lock:
            del self._locks[(lock.queue, lock.session_id)]

    def find(self, queue: str, session_id: str) -> SessionLock:
        lock = self._locks.get((queue, session_id))
        if lock is None:
            raise errors.SessionLockLost(entity=queue, session_id=session_id)
        return lock


class Management:
    """Answers the requests sent to `<entity>/$management`."""

    def __init__(self, broker: Broker, sessions: SessionLocks) -> None:
        self._broker = broker
        self._sessions = sessions
        self._operations: dict[str, Callable[[str, Mapping[str, Any]], tuple[int, Any]]] = {
            "com.microsoft:renew-lock": self._renew_lock,
            "com.microsoft:peek-message": self._peek,
            "com.microsoft:schedule-message": self._schedule,
            "com.microsoft:cancel-scheduled-message": self._cancel_scheduled,
            "com.microsoft:receive-by-sequence-number": self._receive_deferred,
            "com.microsoft:update-disposition": self._update_disposition,
            "com.microsoft:renew-session-lock": self._renew_session_lock,
            "com.microsoft:get-session-state": self._get_session_state,
            "com.microsoft:set-session-state": self._set_session_state,
        }

    def answer(self, entity_path: str, request: AmqpMessage) -> AmqpMessage:
        """The response to `request`; a refusal becomes a status code and condition, never an exception."""
        operation = str((request.properties or {}).get(OPERATION))
        handler = self._operations.get(operation)
        if handler is None:
            return _response(request, 501, f"the operation {operation!r} is not supported locally", "amqp:not-implemented")
        body = request.body if isinstance(request.body, dict) else {}
        try:
            status, value = handler(entity_path, {str(key): item for key, item in body.items()})
        except ServiceBusError as exc:
            code, condition = error_condition(exc)
            return _response(request, code, str(exc), condition)
        return _response(request, status, "OK" if status == 200 else "No Content", None, value)

    def _renew_lock(self, path: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        expirations = [self._broker.renew_lock(path, str(token)) for token in _elements(body["lock-tokens"])]
        return 200, {"expirations": Array(UNDESCRIBED, Data.TIMESTAMP, *map(to_amqp_timestamp, expirations))}

    def _peek(self, path: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        messages = self._broker.peek(
            path, from_sequence_number=int(body.get("from-sequence-number", 0)),
            max_messages=int(body.get("message-count", 1)), session_id=_optional_text(body.get("session-id")),
        )
        return _messages(messages, with_lock_tokens=False)

    def _schedule(self, path: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        messages = [
            to_message(amqp) for entry in body["messages"] for amqp in decode_transfer(bytes(entry["message"]))
        ]
        numbers = [
            self._broker.unused_sequence_number() if number is None else number  # None: a dropped duplicate
            for number in self._broker.send_batch(path, messages)
        ]
        return 200, {"sequence-numbers": Array(UNDESCRIBED, Data.LONG, *numbers)}

    def _cancel_scheduled(self, path: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        self._broker.cancel_scheduled(path, [int(number) for number in _elements(body["sequence-numbers"])])
        return 200, {}

    def _receive_deferred(self, path: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        session_id = _optional_text(body.get("session-id"))
        session = self._sessions.find(path, session_id) if session_id else None
        mode = (
            ReceiveMode.RECEIVE_AND_DELETE
            if int(body.get("receiver-settle-mode", 1)) == _RECEIVE_AND_DELETE else ReceiveMode.PEEK_LOCK
        )
        messages = self._broker.receive_deferred(
            path, [int(number) for number in _elements(body["sequence-numbers"])], session=session, mode=mode
        )
        return _messages(messages, with_lock_tokens=True)

    def _update_disposition(self, path: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        status = str(body["disposition-status"])
        settle = _DISPOSITIONS.get(status)
        if settle is None:
            raise errors.InvalidOperation(entity=path, problem=f"unknown disposition-status {status!r}")
        properties = {str(key): value for key, value in (body.get("properties-to-modify") or {}).items()}
        for token in _elements(body["lock-tokens"]):
            if settle == "complete":
                self._broker.complete(path, str(token))
            elif settle == "dead_letter":
                self._broker.dead_letter(
                    path, str(token), reason=_optional_text(body.get("deadletter-reason")),
                    description=_optional_text(body.get("deadletter-description")), properties=properties,
                )
            else:
                getattr(self._broker, settle)(path, str(token), properties)
        return 200, {}

    def _renew_session_lock(self, path: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        renewed = self._broker.renew_session_lock(self._sessions.find(path, str(body["session-id"])))
        self._sessions.hold(renewed)
        return 200, {"expiration": to_amqp_timestamp(renewed.locked_until)}

    def _get_session_state(self, path: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        state = self._broker.get_session_state(self._sessions.find(path, str(body["session-id"])))
        return 200, {"session-state": state}

    def _set_session_state(self, path: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        state = body.get("session-state")
        self._broker.set_session_state(
            self._sessions.find(path, str(body["session-id"])), None if state is None else bytes(state)
        )
        return 200, {}


def _messages(messages: list[ReceivedMessage], *, with_lock_tokens: bool) -> tuple[int, Any]:
    """The `messages` answer: each encoded; 204 when there are none, as Service Bus answers."""
    if not messages:
        return 204, {}
    entries: list[dict[str, Any]] = []
    for message in messages:
        entry: dict[str, Any] = {"message": encode_received(message)}
        if with_lock_tokens and message.lock_token is not None:
            entry["lock-token"] = uuid.UUID(message.lock_token)
        entries.append(entry)
    return 200, {"messages": entries}


def _response(
    request: AmqpMessage, status: int, description: str, condition: str | None, value: Any = None
) -> AmqpMessage:
    properties: dict[str, Any] = {"statusCode": status, "statusDescription": description}
    if condition is not None:
        properties["errorCondition"] = symbol(condition)
    response = AmqpMessage(body=value if value is not None else {}, properties=properties)
    response.correlation_id = request.id
    response.address = request.reply_to
    return response


def _elements(value: Any) -> list[Any]:
    """The items of an AMQP array (or list) in a request body."""
    if isinstance(value, Array):
        return list(value.elements)
    return list(value)


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)
