"""Sending to Service Bus for retries and parking, behind a two-method interface.

`AzureServiceBusSender` is what runs in Azure (managed identity, created on first use, so a cold
start does not import azure-servicebus or azure-identity) and in the local stack (a connection
string to its AMQP front). `InMemorySender` is the same interface for unit tests and benchmarks.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping, Protocol

from order_integration.errors import IntegrationError, redact

# MessageId and SessionId are at most 128 characters; azure-servicebus refuses longer ones with a
# ValueError while building the message (https://learn.microsoft.com/azure/service-bus-messaging/service-bus-quotas).
MAX_ID_LENGTH = 128
_CAUSE_LIMIT = 300


@dataclass(frozen=True)
class OutboundMessage:
    """A message to send: body bytes plus the broker properties orderbridge uses."""

    body: bytes
    message_id: str
    correlation_id: str | None = None
    session_id: str | None = None
    content_type: str | None = "application/json"
    application_properties: Mapping[str, Any] = field(default_factory=dict)


class SendFailed(IntegrationError):
    """Service Bus did not accept a message; the caller must not complete the one it came from."""

    def __init__(self, *, queue: str, message_id: str, cause: str) -> None:
        self.queue = queue
        self.message_id = message_id
        super().__init__(
            f"could not send message {message_id!r} to queue {queue!r}: {cause}; the received message "
            "is left unsettled so Service Bus redelivers it (check the identity's Data Sender role "
            "on that queue and the namespace's availability)"
        )


def _id_problem(message: OutboundMessage, *, session_queue: bool = False) -> str | None:
    """Why Service Bus would refuse `message`'s ids, or None.

    A session queue refuses a message without a SessionId ("The SessionId was not set on a message,
    and it cannot be sent to the entity", Azure/azure-service-bus#289).
    """
    if session_queue and not message.session_id:
        return "it has no SessionId, which the session queue requires"
    for name, value in (("MessageId", message.message_id), ("SessionId", message.session_id)):
        if value is not None and len(value) > MAX_ID_LENGTH:
            return f"its {name} has {len(value)} characters, Service Bus allows {MAX_ID_LENGTH}"
    return None


class MessageSender(Protocol):
    """Puts messages on a queue now or at a later time; raises SendFailed when it cannot."""

    def send(self, queue: str, message: OutboundMessage) -> None: ...

    def schedule(self, queue: str, message: OutboundMessage, enqueue_at: datetime) -> None: ...


@dataclass(frozen=True)
class Sent:
    """One message an InMemorySender accepted, with the time it becomes visible (None = now)."""

    queue: str
    message: OutboundMessage
    enqueue_at: datetime | None


class InMemorySender:
    """A MessageSender that keeps what it is given; `failure` makes every send raise SendFailed.

    Like Service Bus, it refuses (SendFailed) a MessageId or SessionId over 128 characters, and a
    message without a SessionId for one of the `session_queues`.

    With `duplicate_detection_window`, it behaves like a queue with duplicate detection: a message
    whose MessageId the same queue accepted within the window is dropped without an error, as
    Service Bus does (https://learn.microsoft.com/azure/service-bus-messaging/duplicate-detection);
    `dropped` lists them. Time is `now()` at the send (or schedule) call.
    """

    def __init__(
        self,
        *,
        duplicate_detection_window: timedelta | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        session_queues: frozenset[str] = frozenset(),
    ) -> None:
        self._lock = threading.Lock()
        self.session_queues = session_queues
        self._sent: list[Sent] = []
        self._seen: dict[tuple[str, str], datetime] = {}
        self._window = duplicate_detection_window
        self._now = now
        self.dropped: list[Sent] = []
        self.failure: str | None = None

    def send(self, queue: str, message: OutboundMessage) -> None:
        self._accept(Sent(queue, message, None))

    def schedule(self, queue: str, message: OutboundMessage, enqueue_at: datetime) -> None:
        self._accept(Sent(queue, message, enqueue_at))

    def _accept(self, sent: Sent) -> None:
        cause = self.failure or _id_problem(sent.message, session_queue=sent.queue in self.session_queues)
        if cause is not None:
            raise SendFailed(queue=sent.queue, message_id=sent.message.message_id, cause=cause)
        with self._lock:
            if self._is_duplicate(sent):
                self.dropped.append(sent)
                return
            self._sent.append(sent)

    def _is_duplicate(self, sent: Sent) -> bool:
        if self._window is None:
            return False
        now, key = self._now(), (sent.queue, sent.message.message_id)
        first_seen = self._seen.get(key)
        if first_seen is not None and now - first_seen < self._window:
            return True
        self._seen[key] = now
        return False

    def messages(self, queue: str) -> list[Sent]:
        """Everything accepted for `queue`, in order, including messages not yet due."""
        with self._lock:
            return [sent for sent in self._sent if sent.queue == queue]

    def take_due(self, queue: str, now: datetime) -> list[Sent]:
        """Remove and return the messages of `queue` visible at `now`, earliest first."""
        due: list[Sent] = []
        kept: list[Sent] = []
        with self._lock:
            for sent in self._sent:
                is_due = sent.queue == queue and (sent.enqueue_at is None or sent.enqueue_at <= now)
                (due if is_due else kept).append(sent)
            self._sent = kept
        return sorted(due, key=lambda s: s.enqueue_at or now)


class AzureServiceBusSender:
    """Sends with azure-servicebus to one namespace, connecting lazily and keeping one sender link per queue.

    In Azure it authenticates with DefaultAzureCredential (the app's managed identity). Locally,
    `connection_string` (the `ServiceBusConnection` app setting, e.g. the local broker's
    `...;UseDevelopmentEmulator=true`) replaces namespace and credential; the settings keep refusing
    a connection string pasted into `ServiceBusConnection__fullyQualifiedNamespace`.
    """

    def __init__(
        self,
        fully_qualified_namespace: str | None = None,
        *,
        connection_string: str | None = None,
        credential: Any = None,
        retry_total: int = 3,
    ) -> None:
        """`credential` defaults to DefaultAzureCredential; pass a namespace or a connection string, not both."""
        if (fully_qualified_namespace is None) == (connection_string is None):
            raise TypeError("AzureServiceBusSender takes a fully qualified namespace or a connection string, not both")
        if connection_string is not None and credential is not None:
            raise TypeError("a connection string carries its own key: pass no credential with it")
        self._namespace = fully_qualified_namespace
        self._connection_string = connection_string
        self._credential = credential
        self._retry_total = retry_total
        self._client: Any = None
        self._senders: dict[str, Any] = {}
        # azure-servicebus clients are not thread-safe and Functions runs invocations on a thread
        # pool; a send takes milliseconds on an open link, so one lock costs little. Opening a link
        # costs a round of attach and CBS frames (about 0.5 s through the SDK), so each queue's sender
        # stays open; one that failed is closed and reopened by the next send.
        # https://learn.microsoft.com/python/api/overview/azure/servicebus-readme#thread-safety
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        where = self._namespace if self._namespace is not None else "a connection string"
        return f"AzureServiceBusSender({where})"

    def send(self, queue: str, message: OutboundMessage) -> None:
        self._call(queue, message, None)

    def schedule(self, queue: str, message: OutboundMessage, enqueue_at: datetime) -> None:
        self._call(queue, message, enqueue_at)

    def close(self) -> None:
        """Close the open sender links and the connection (the next send reopens them)."""
        with self._lock:
            for queue in list(self._senders):
                self._drop_sender(queue)
            if self._client is not None:
                self._client.close()
                self._client = None

    def _call(self, queue: str, message: OutboundMessage, enqueue_at: datetime | None) -> None:
        from azure.core.exceptions import AzureError
        from azure.servicebus import ServiceBusMessage
        from azure.servicebus.exceptions import ServiceBusError

        try:
            # Built inside the try: azure-servicebus checks the id lengths here, with a ValueError.
            sb_message = ServiceBusMessage(
                message.body,
                message_id=message.message_id,
                correlation_id=message.correlation_id,
                session_id=message.session_id,
                content_type=message.content_type,
                application_properties=dict(message.application_properties),
            )
            with self._lock:
                try:
                    sender = self._sender(queue)
                    if enqueue_at is None:
                        sender.send_messages(sb_message)
                    else:
                        sender.schedule_messages(sb_message, enqueue_at)
                except Exception:
                    # Any failure, the SDK's own bugs included (its pure-Python AMQP layer can raise an
                    # IndexError on a frame it cannot decode, then shuts the handler down), leaves a
                    # link that must not be reused: the next send opens a new one.
                    self._drop_sender(queue)
                    raise
        except (ServiceBusError, AzureError, ValueError) as exc:
            # The SDK's text says what failed (authorisation, entity, id length); credentials in it are masked.
            cause = f"{type(exc).__name__}: {redact(str(exc), self._secrets())[:_CAUSE_LIMIT]}"
            raise SendFailed(queue=queue, message_id=message.message_id, cause=cause) from exc
        except Exception as exc:  # noqa: BLE001 - the send may or may not have happened: the caller redelivers
            # its message, and the repeat's derived MessageId lets duplicate detection drop a second copy.
            cause = f"azure-servicebus failed with {type(exc).__name__} (a client library fault; the link is reopened)"
            raise SendFailed(queue=queue, message_id=message.message_id, cause=cause) from exc

    def _sender(self, queue: str) -> Any:
        sender = self._senders.get(queue)
        if sender is None:
            sender = self._connect().get_queue_sender(queue)
            sender.__enter__()
            self._senders[queue] = sender
        return sender

    def _drop_sender(self, queue: str) -> None:
        sender = self._senders.pop(queue, None)
        if sender is not None:
            try:
                sender.close()
            except Exception:  # noqa: BLE001 - the link is already broken; the send's own error is what counts
                pass

    def _secrets(self) -> tuple[str, ...]:
        """The connection string and its key, so no error text repeats them."""
        if self._connection_string is None:
            return ()
        from order_integration.settings import connection_string_secrets  # settings imports this module's users

        return connection_string_secrets(self._connection_string)

    def _connect(self) -> Any:
        if self._client is None:
            from azure.servicebus import ServiceBusClient

            if self._connection_string is not None:
                self._client = ServiceBusClient.from_connection_string(
                    self._connection_string, retry_total=self._retry_total
                )
                return self._client
            credential = self._credential
            if credential is None:
                from azure.identity import DefaultAzureCredential

                credential = DefaultAzureCredential()
            self._client = ServiceBusClient(self._namespace, credential=credential, retry_total=self._retry_total)
        return self._client
