"""Errors of the local Service Bus: what the broker refuses, named as Service Bus names them.

ServiceBusError                  root (under LocalStackError)
├── EntityNotFound               no queue of that name (MessagingEntityNotFound)
├── InvalidMessage               the message breaks an entity rule (ids, SessionId, property types)
│   └── MessageSizeExceeded      over the tier's maximum message size
├── MessageLockLost              the lock token is unknown or its lock expired
├── SessionLockLost              the session lock expired or was released
├── SessionCannotBeLocked        another receiver holds the session, or no session is available
├── MessageNotFound              no scheduled or deferred message with that sequence number
├── InvalidOperation             the operation does not apply to the entity (a session queue without a session)
└── BrokerClosed                 the broker was closed

Each front translates these into its protocol's answers (HTTP codes, AMQP conditions); the names
follow the SDK's ServiceBusErrorCode values
(https://learn.microsoft.com/javascript/api/@azure/service-bus/servicebuserrorcode).
"""
from __future__ import annotations

from orderbridge.local.errors import LocalStackError


class ServiceBusError(LocalStackError):
    """Root of everything the local Service Bus refuses."""


class EntityNotFound(ServiceBusError):
    """No queue (or dead-letter sub-queue) of that name exists in the local namespace."""

    def __init__(self, *, entity: str, known: list[str]) -> None:
        self.entity = entity
        super().__init__(
            f"the messaging entity {entity!r} could not be found; the local namespace has {sorted(known)}"
            " (entities come from the stack's synthesized queues)"
        )


class InvalidMessage(ServiceBusError):
    """The message breaks a rule of its entity; nothing was enqueued."""

    def __init__(self, *, entity: str, problem: str) -> None:
        self.entity = entity
        self.problem = problem
        super().__init__(f"message refused by {entity!r}: {problem}")


class MessageSizeExceeded(InvalidMessage):
    """The message is larger than the tier allows."""

    def __init__(self, *, entity: str, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            entity=entity,
            problem=f"it is {size} bytes, the maximum message size is {limit} bytes;"
            " move large payloads to blob storage",
        )


class MessageLockLost(ServiceBusError):
    """The lock token names no message locked now: settled already, expired, or never issued."""

    def __init__(self, *, entity: str, lock_token: str) -> None:
        self.entity = entity
        self.lock_token = lock_token
        super().__init__(
            f"the lock {lock_token} on {entity!r} was lost (it expired, or the message was settled already);"
            " the message is redelivered, so the handler must be idempotent"
        )


class SessionLockLost(ServiceBusError):
    """The session lock expired or was released; accept the session again."""

    def __init__(self, *, entity: str, session_id: str) -> None:
        self.entity = entity
        self.session_id = session_id
        super().__init__(
            f"the lock on session {session_id!r} of {entity!r} was lost; accept the session again"
        )


class SessionCannotBeLocked(ServiceBusError):
    """The named session is held by another receiver, or no session has a message to deliver."""

    def __init__(self, *, entity: str, session_id: str | None) -> None:
        self.entity = entity
        self.session_id = session_id
        which = f"session {session_id!r}" if session_id is not None else "any session"
        super().__init__(f"{which} of {entity!r} cannot be locked now: another receiver holds it, or none is available")


class MessageNotFound(ServiceBusError):
    """No message of the kind the operation needs (scheduled, deferred) has these sequence numbers."""

    def __init__(self, *, entity: str, what: str, sequence_numbers: list[int]) -> None:
        self.entity = entity
        self.sequence_numbers = sequence_numbers
        super().__init__(f"no {what} message with sequence number(s) {sequence_numbers} in {entity!r}")


class InvalidOperation(ServiceBusError):
    """The operation does not apply to this entity or message, e.g. a plain receive on a session queue."""

    def __init__(self, *, entity: str, problem: str) -> None:
        self.entity = entity
        super().__init__(f"invalid operation on {entity!r}: {problem}")


class BrokerClosed(ServiceBusError):
    """The broker was closed; start a new one on the same database to continue."""
