"""The Service Bus operations the re-fetch needs, behind one small interface.

`ServiceBusAccess` is what the command runs against: `AzureServiceBus` in Azure (Entra ID through
`DefaultAzureCredential`) and against the local stack (a connection string with
`UseDevelopmentEmulator=true`); tests use an in-memory implementation of the same protocol.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from orderbridge.operations._errors import ServiceBusUnavailable

# How long the command may hold the parked messages it locked (AutoLockRenewer); a run that takes
# longer lets the locks lapse, which leaves those messages parked.
MAX_LOCK_HOLD_SECONDS = 600.0
_PEEK_BATCH = 100
_RECEIVE_BATCH = 50
_RECEIVE_WAIT_SECONDS = 5.0
_SAS_KEY = re.compile(r"(SharedAccessKey=)[^;]*", re.IGNORECASE)


@dataclass(frozen=True)
class ParkedMessage:
    """A message in a parking queue, as peeked: body bytes, ids and decoded application properties."""

    sequence_number: int
    message_id: str
    body: bytes = field(repr=False)  # personal data: never in a repr that might be printed
    correlation_id: str | None = None
    application_properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueMessage:
    """A message to put on a pipeline's queue."""

    body: bytes = field(repr=False)
    message_id: str
    correlation_id: str | None
    application_properties: Mapping[str, Any]
    content_type: str = "application/json"


class HeldMessages(Protocol):
    """Parked messages locked by this run; whatever is not completed is abandoned when released.
    `notes`, read after the release, says what could not be put back."""

    notes: list[str]

    @property
    def held(self) -> frozenset[int]: ...

    def complete(self, sequence_number: int) -> None: ...


class ServiceBusAccess(Protocol):
    """Peek a parking queue, lock some of its messages, send to a queue; raises ServiceBusUnavailable."""

    def peek(self, queue: str) -> list[ParkedMessage]: ...

    def hold(self, queue: str, sequence_numbers: Collection[int]) -> AbstractContextManager[HeldMessages]: ...

    def send(self, queue: str, message: QueueMessage) -> None: ...


def redact(text: str, secrets: Collection[str] = ()) -> str:
    """`text` without SAS keys and without any of `secrets` (libraries sometimes echo what they were given)."""
    text = _SAS_KEY.sub(r"\1***", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class AzureServiceBus:
    """`ServiceBusAccess` over azure-servicebus, to a namespace (Entra ID) or with a connection string."""

    def __init__(
        self, connect: Callable[[], Any], *, secrets: Collection[str] = (), lock_renewer: Callable[[], Any] | None = None
    ) -> None:
        """`connect` builds the `ServiceBusClient`; `secrets` are redacted from every error text;
        `lock_renewer` builds what keeps the held locks (azure-servicebus's AutoLockRenewer)."""
        self._connect = connect
        self._secrets = tuple(secrets)
        self._lock_renewer = lock_renewer or _auto_lock_renewer
        self._client: Any = None

    @classmethod
    def for_namespace(cls, fully_qualified_namespace: str) -> "AzureServiceBus":
        """Entra ID: the operator's `az login`, a managed identity, ... (Data Receiver and Sender on the queues)."""

        def connect() -> Any:
            from azure.identity import DefaultAzureCredential
            from azure.servicebus import ServiceBusClient

            return ServiceBusClient(fully_qualified_namespace, credential=DefaultAzureCredential())

        return cls(connect)

    @classmethod
    def from_connection_string(cls, connection_string: str) -> "AzureServiceBus":
        """A SAS connection string, e.g. the local stack's (`...;UseDevelopmentEmulator=true`)."""

        def connect() -> Any:
            from azure.servicebus import ServiceBusClient

            return ServiceBusClient.from_connection_string(connection_string)

        return cls(connect, secrets=(connection_string,))

    def close(self) -> None:
        """Close the connection, if one was opened."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def peek(self, queue: str) -> list[ParkedMessage]:
        """Every message of `queue`, by browsing: no lock is taken and no DeliveryCount changes
        (https://learn.microsoft.com/azure/service-bus-messaging/message-browsing)."""
        with self._failures("peek", queue), self._client_().get_queue_receiver(queue) as receiver:
            parked: list[ParkedMessage] = []
            next_number = 0
            while batch := receiver.peek_messages(max_message_count=_PEEK_BATCH, sequence_number=next_number):
                parked.extend(parked_message(m) for m in batch)
                next_number = batch[-1].sequence_number + 1
            return parked

    @contextmanager
    def hold(self, queue: str, sequence_numbers: Collection[int]) -> Iterator[HeldMessages]:
        """Lock the wanted messages; messages locked on the way to them are abandoned at the end.

        Service Bus cannot lock a message by its sequence number (only deferred ones,
        https://learn.microsoft.com/dotnet/api/azure.messaging.servicebus.servicebusreceiver.receivedeferredmessagesasync),
        so this receives in queue order until it holds all wanted ones or the queue has no more,
        keeping every lock (renewed) until the end: an abandoned message would be received again at
        once. Each abandon counts one delivery against the parking queue's maxDeliveryCount
        (https://learn.microsoft.com/dotnet/api/azure.messaging.servicebus.servicebusreceivedmessage.deliverycount).
        """
        wanted = frozenset(sequence_numbers)
        renewer = self._lock_renewer()
        with self._failures("lock messages of", queue), self._client_().get_queue_receiver(queue) as receiver:
            held = _AzureHeld(receiver, queue, wanted, self._failures)
            try:
                while not wanted <= held.received.keys():
                    batch = receiver.receive_messages(
                        max_message_count=_RECEIVE_BATCH, max_wait_time=_RECEIVE_WAIT_SECONDS
                    )
                    fresh = [m for m in batch if m.sequence_number not in held.received]
                    if not fresh:
                        break
                    for message in fresh:
                        renewer.register(receiver, message)
                        held.received[message.sequence_number] = message
                yield held
            finally:
                renewer.close()
                held.abandon_the_rest()

    def send(self, queue: str, message: QueueMessage) -> None:
        """Send `message` to `queue` now."""
        from azure.servicebus import ServiceBusMessage

        with self._failures("send to", queue), self._client_().get_queue_sender(queue) as sender:
            sender.send_messages(
                ServiceBusMessage(
                    message.body,
                    message_id=message.message_id,
                    correlation_id=message.correlation_id,
                    content_type=message.content_type,
                    application_properties=dict(message.application_properties),
                )
            )

    def _client_(self) -> Any:
        if self._client is None:
            self._client = self._connect()
        return self._client

    @contextmanager
    def _failures(self, action: str, queue: str) -> Iterator[None]:
        """Turn the SDK's errors into ServiceBusUnavailable, without keys in the text."""
        from azure.core.exceptions import AzureError
        from azure.servicebus.exceptions import ServiceBusError

        try:
            yield
        except (ServiceBusError, AzureError, ValueError) as exc:
            raise ServiceBusUnavailable(
                f"could not {action} queue {queue!r}: {type(exc).__name__}: {redact(str(exc), self._secrets)[:300]}; "
                "check the namespace or connection string, and that you hold Azure Service Bus Data Receiver "
                "and Data Sender on the queue"
            ) from exc


class _AzureHeld:
    """The messages one `hold` received; `notes` says which could not be put back."""

    def __init__(self, receiver: Any, queue: str, wanted: frozenset[int], failures: Callable[[str, str], Any]) -> None:
        self._receiver = receiver
        self._queue = queue
        self._wanted = wanted
        self._failures = failures
        self.received: dict[int, Any] = {}
        self.completed: set[int] = set()
        self.notes: list[str] = []

    @property
    def held(self) -> frozenset[int]:
        return self._wanted & self.received.keys()

    def complete(self, sequence_number: int) -> None:
        with self._failures("complete a message of", self._queue):
            self._receiver.complete_message(self.received[sequence_number])
        self.completed.add(sequence_number)

    def abandon_the_rest(self) -> None:
        """Put back every message not completed. One that cannot be put back stays locked until its
        lock lapses (the queue's lockDuration) and is then available again: still parked."""
        from azure.servicebus.exceptions import ServiceBusError

        for number, message in self.received.items():
            if number in self.completed:
                continue
            try:
                self._receiver.abandon_message(message)
            except ServiceBusError as exc:
                self.notes.append(
                    f"message {message.message_id} could not be put back ({type(exc).__name__}); it stays "
                    "parked and is available again once its lock lapses"
                )


def _auto_lock_renewer() -> Any:
    from azure.servicebus import AutoLockRenewer

    return AutoLockRenewer(max_lock_renewal_duration=MAX_LOCK_HOLD_SECONDS)


def parked_message(message: Any) -> ParkedMessage:
    """A received `ServiceBusReceivedMessage` as a ParkedMessage (its property keys and texts arrive as bytes)."""
    body = message.body
    return ParkedMessage(
        sequence_number=message.sequence_number,
        message_id=str(message.message_id),
        body=body if isinstance(body, bytes) else b"".join(body),
        correlation_id=message.correlation_id,
        application_properties=decoded_properties(message.application_properties),
    )


def decoded_properties(properties: Mapping[Any, Any] | None) -> dict[str, Any]:
    """Application properties with str keys and str texts; azure-servicebus hands received ones over as bytes."""
    return {_text(key): _text(value) for key, value in (properties or {}).items()}


def _text(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
