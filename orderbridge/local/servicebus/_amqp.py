"""The AMQP 1.0 front: the broker core as azure-servicebus meets it, served by Qpid Proton in its own thread.

    front = AmqpFront(broker, Credentials(sas_keys={"RootManageSharedAccessKey": key})).start()
    ServiceBusClient.from_connection_string(front.connection_string("RootManageSharedAccessKey"))

A connection string with `UseDevelopmentEmulator=true` makes the SDK speak plain `amqp://` to the
host and port given. The front only translates; `Broker` keeps every rule. What the SDK does on the
wire (azure-servicebus `_transport/_pyamqp_transport.py`, `_pyamqp/cbs.py`), and Service Bus's side
(https://learn.microsoft.com/azure/service-bus-messaging/service-bus-amqp-protocol-guide):
- SASL ANONYMOUS, then a `put-token` to `$cbs` with a SAS token, checked against the named key;
  an entity link opens only if a token accepted on this connection covers the entity;
- a sender link's attach advertises the entity's max-message-size; each transfer (one message or
  a batch) is accepted once it is on disk, or rejected with the SDK's condition;
- a receiver link gets credit from the client (prefetch); each delivery's tag is the lock token
  (GUID bytes, .NET order); pre-settled links are receive-and-delete. The client's outcome settles
  it: accepted → complete, modified (undeliverable-here) → defer, modified (delivery-failed) →
  abandon, rejected (`com.microsoft:dead-letter`, reason and description in the error info) →
  dead-letter, released → release (no delivery counted);
- a session receiver names its session in the source filter `com.microsoft:session-filter`
  (null: the next available one, waiting up to the link property `com.microsoft:timeout`); the
  attach answer names the session and `com.microsoft:locked-until-utc` in .NET ticks;
- `<entity>/$management` answers the request-response operations (`_amqp_management`).
New messages for an open receiver link are looked for when the link gets credit, after a send on
this front, and every `poll_interval` seconds (sends through the REST front, scheduled messages,
expired locks).
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import datetime
from typing import Any

from proton import Condition, Delivery, Disposition, Endpoint, Handler, Link, Message as AmqpMessage, symbol
from proton.reactor import Container

from orderbridge.local.servicebus._amqp_codec import (
    decode_transfer,
    lock_token_tag,
    encode_received,
    to_message,
)
from orderbridge.local.servicebus._amqp_management import Management, SessionLocks, error_condition
from orderbridge.local.servicebus._auth import Credentials
from orderbridge.local.servicebus._broker import Broker
from orderbridge.local.servicebus._entities import EntityPath
from orderbridge.local.servicebus._errors import ServiceBusError, SessionCannotBeLocked
from orderbridge.local.servicebus._messages import ReceivedMessage, ReceiveMode, SessionLock
from orderbridge.local.errors import LocalStackError

CBS_NODE = "$cbs"
MANAGEMENT_SUFFIX = "/$management"
# The Python SDK puts a SAS token with type "jwt"; Service Bus documents "servicebus.windows.net:sastoken".
TOKEN_TYPES = frozenset({"jwt", "servicebus.windows.net:sastoken"})
SESSION_FILTER = symbol("com.microsoft:session-filter")
LOCKED_UNTIL_UTC = symbol("com.microsoft:locked-until-utc")
OPERATION_TIMEOUT = symbol("com.microsoft:timeout")
TRACKING_ID = symbol("com.microsoft:tracking-id")
# .NET ticks (100 ns) at the POSIX epoch: the SDK's DATETIMEOFFSET_EPOCH.
_DOTNET_EPOCH_TICKS = 621355968000000000
_SENDER_CREDIT = 100
_START_TIMEOUT = 10.0
_BACKLOG = 256


class _ClosedByPeer(logging.Filter):
    """Drops Proton's ERROR for a write to a socket the client already closed.

    The SDK closes a connection without waiting for the answering close frame (`_pyamqp/_connection.py`
    `close(wait=False)`), so every client close ends so; nothing is lost by it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not (text.startswith("Couldn't send") and ("BrokenPipeError" in text or "ConnectionResetError" in text))


logging.getLogger("proton").addFilter(_ClosedByPeer())


class AmqpFrontError(LocalStackError):
    """The AMQP front could not start or stop."""


class AmqpFront:
    """An AMQP 1.0 listener on `host:port` (0: a free port) in a daemon thread, over `broker`."""

    def __init__(
        self,
        broker: Broker,
        credentials: Credentials,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        poll_interval: float = 0.02,
    ) -> None:
        self._handler = _Handler(broker, credentials, host, port, poll_interval)
        self._container = Container(self._handler)
        self._thread = threading.Thread(target=self._run, name="servicebus-amqp", daemon=True)
        self._failure: BaseException | None = None

    def start(self) -> "AmqpFront":
        """Listen, and return once connections are accepted."""
        self._thread.start()
        if not self._handler.listening.wait(_START_TIMEOUT) or self._failure is not None:
            raise AmqpFrontError(f"the AMQP front did not start: {self._failure!r}")
        return self

    @property
    def port(self) -> int:
        return self._handler.port

    @property
    def host(self) -> str:
        return self._handler.host

    def connection_string(self, key_name: str) -> str:
        """The connection string the SDK takes, with the key named `key_name` (a secret: never log it)."""
        key = self._handler.credentials.sas_keys[key_name]
        return (
            f"Endpoint=sb://{self.host}:{self.port};SharedAccessKeyName={key_name};"
            f"SharedAccessKey={key};UseDevelopmentEmulator=true"
        )

    def close(self) -> None:
        """Close every connection and stop the thread (the broker stays open: it is the caller's)."""
        self._handler.stopping.set()
        self._thread.join(timeout=_START_TIMEOUT)
        if self._thread.is_alive():
            raise AmqpFrontError("the AMQP front did not stop within 10 s")

    def __enter__(self) -> "AmqpFront":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self) -> None:
        try:
            self._container.run()
        except BaseException as exc:  # the thread's failure is the starter's error, not lost
            self._failure = exc
            self._handler.listening.set()
            raise


class _Handler(Handler):
    """Proton events to broker calls; runs on the container's thread only."""

    def __init__(self, broker: Broker, credentials: Credentials, host: str, port: int, poll_interval: float) -> None:
        super().__init__()
        self.broker = broker
        self.credentials = credentials
        self.host = host
        self.port = port
        self.listening = threading.Event()
        self.stopping = threading.Event()
        self._poll_interval = poll_interval
        self._sessions = SessionLocks()
        self._management = Management(broker, self._sessions)
        self._receivers: list[Link] = []  # entity links the front delivers on
        self._waiting: list[tuple[Link, float]] = []  # session links waiting for a session, with deadlines
        self._connections: list[Any] = []
        self._acceptor: Any = None

    # Container and connections

    def on_reactor_init(self, event: Any) -> None:
        self._acceptor = event.container.listen(f"{self.host}:{self.port}")
        # Proton does not expose the acceptor's socket. Its bound port is needed for port 0, and its
        # backlog of 10 (proton/_io.py) drops the SYNs of a host opening 32 listeners at once: each
        # dropped one costs the client a 1 s, then 3 s, retransmission.
        listening = self._acceptor._selectable._delegate
        listening.listen(_BACKLOG)
        self.port = listening.getsockname()[1]
        event.container.schedule(self._poll_interval, self)
        self.listening.set()

    def on_timer_task(self, event: Any) -> None:
        if self.stopping.is_set():
            self._shut_down(event.container)
            return
        self._retry_waiting_sessions()
        for link in list(self._receivers):
            self._deliver(link)
        event.container.schedule(self._poll_interval, self)

    def on_connection_bound(self, event: Any) -> None:
        sasl = event.transport.sasl()
        sasl.allowed_mechs("ANONYMOUS")
        event.connection.sb_scopes = []  # entity paths a put-token granted
        event.connection.sb_replies = {}  # reply-to address -> sender link
        self._connections.append(event.connection)

    def on_connection_remote_open(self, event: Any) -> None:
        if event.connection.state & Endpoint.LOCAL_UNINIT:
            event.connection.open()

    def on_session_remote_open(self, event: Any) -> None:
        if event.session.state & Endpoint.LOCAL_UNINIT:
            event.session.open()

    def on_session_remote_close(self, event: Any) -> None:
        event.session.close()

    def on_connection_remote_close(self, event: Any) -> None:
        self._forget_connection(event.connection)
        event.connection.close()

    def on_transport_closed(self, event: Any) -> None:
        if event.connection is not None:
            self._forget_connection(event.connection)

    # Links

    def on_link_remote_open(self, event: Any) -> None:
        link = event.link
        if not link.state & Endpoint.LOCAL_UNINIT:
            return
        if link.is_receiver:
            self._open_incoming(link)
        else:
            self._open_outgoing(link)

    def on_link_remote_close(self, event: Any) -> None:
        self._forget_link(event.link)
        if not event.link.state & Endpoint.LOCAL_CLOSED:
            event.link.close()

    def on_link_flow(self, event: Any) -> None:
        if event.link.is_sender and getattr(event.link, "sb_path", None) is not None:
            self._deliver(event.link)

    def on_delivery(self, event: Any) -> None:
        delivery = event.delivery
        if delivery.link.state & Endpoint.LOCAL_CLOSED:
            return  # a refused link: the client learns why from the detach, not from each transfer
        if delivery.link.is_receiver:
            if delivery.readable and not delivery.partial:
                self._take_transfer(delivery)
        elif delivery.updated and delivery.remote_state is not None and not delivery.settled:
            self._settle(delivery)

    def _open_incoming(self, link: Link) -> None:
        """A client's sender: to `$cbs`, to a `$management` node, or to an entity."""
        address = _path(link.remote_target.address)
        if address == CBS_NODE or address.endswith(MANAGEMENT_SUFFIX):
            link.sb_role = "request"
            link.sb_path = address[: -len(MANAGEMENT_SUFFIX)] if address != CBS_NODE else CBS_NODE
            if not self._entity_refused(link, link.sb_path):
                _open(link)
                link.flow(_SENDER_CREDIT)
            return
        link.sb_role, link.sb_path = "send", address
        if self._entity_refused(link, address):
            return
        link.max_message_size = self.broker.entities[EntityPath.parse(address).queue].max_message_bytes
        _open(link)
        link.flow(_SENDER_CREDIT)

    def _open_outgoing(self, link: Link) -> None:
        """A client's receiver: replies from `$cbs` or `$management`, or an entity's messages."""
        address = _path(link.remote_source.address)
        link.snd_settle_mode = link.remote_snd_settle_mode
        if address == CBS_NODE or address.endswith(MANAGEMENT_SUFFIX):
            link.sb_path = None
            link.connection.sb_replies[link.remote_target.address] = link
            _open(link)
            return
        if self._entity_refused(link, address):
            return
        link.sb_path = address
        link.sb_mode = (
            ReceiveMode.RECEIVE_AND_DELETE if link.remote_snd_settle_mode == Link.SND_SETTLED else ReceiveMode.PEEK_LOCK
        )
        link.sb_session = None
        filters = _filters(link)
        if isinstance(filters, dict) and SESSION_FILTER in filters:
            wanted = filters[SESSION_FILTER]
            timeout_ms = (link.remote_properties or {}).get(OPERATION_TIMEOUT, 0)
            link.sb_wanted = None if wanted is None else str(wanted)
            self._waiting.append((link, time.monotonic() + int(timeout_ms) / 1000))
            self._retry_waiting_sessions()
            return
        _open(link)
        self._receivers.append(link)

    def _entity_refused(self, link: Link, address: str) -> bool:
        """Close `link` (attach, then detach with the condition) if the entity is unknown or not authorized."""
        if address == CBS_NODE:
            return False
        queue = EntityPath.parse(address).queue
        if queue not in self.broker.entities:
            _refuse(link, "amqp:not-found", f"the messaging entity {address!r} could not be found")
            return True
        if not any(address.lower().startswith(scope) for scope in link.connection.sb_scopes):
            _refuse(link, "amqp:unauthorized-access", f"no accepted put-token on this connection covers {address!r}")
            return True
        return False

    def _retry_waiting_sessions(self) -> None:
        for entry in list(self._waiting):
            link, deadline = entry
            queue = EntityPath.parse(link.sb_path).queue
            try:
                lock = self.broker.accept_session(queue, link.sb_wanted)
            except SessionCannotBeLocked as exc:
                if link.sb_wanted is not None or time.monotonic() >= deadline:
                    self._waiting.remove(entry)
                    condition = "com.microsoft:timeout" if link.sb_wanted is None else error_condition(exc)[1]
                    _refuse_session(link, condition, str(exc))
                continue
            except ServiceBusError as exc:
                self._waiting.remove(entry)
                _refuse_session(link, error_condition(exc)[1], str(exc))
                continue
            self._waiting.remove(entry)
            self._hold_session(link, lock)

    def _hold_session(self, link: Link, lock: SessionLock) -> None:
        link.sb_session = lock
        self._sessions.hold(lock)
        link.source.copy(link.remote_source)
        link.target.copy(link.remote_target)
        link.source.filter.clear()
        link.source.filter.put_dict({SESSION_FILTER: lock.session_id})
        link.properties = {LOCKED_UNTIL_UTC: _dotnet_ticks(lock.locked_until)}
        link.open()
        self._receivers.append(link)

    # Transfers in

    def _take_transfer(self, delivery: Delivery) -> None:
        link = delivery.link
        raw = link.recv(delivery.pending)
        link.advance()
        if link.sb_role == "send":
            self._store(delivery, link.sb_path, raw)
        elif link.sb_path == CBS_NODE:
            self._reply(link, self._put_token(link, decode_transfer(raw)[0]))
            _settle_locally(delivery, Disposition.ACCEPTED)
        else:
            self._reply(link, self._management.answer(link.sb_path, decode_transfer(raw)[0]))
            _settle_locally(delivery, Disposition.ACCEPTED)
        if link.credit < _SENDER_CREDIT // 2:
            link.flow(_SENDER_CREDIT - link.credit)

    def _store(self, delivery: Delivery, path: str, raw: bytes) -> None:
        try:
            self.broker.send_batch(path, [to_message(message) for message in decode_transfer(raw)])
        except ServiceBusError as exc:
            _settle_locally(delivery, Disposition.REJECTED, error_condition(exc)[1], str(exc))
            return
        _settle_locally(delivery, Disposition.ACCEPTED)
        for link in list(self._receivers):
            if EntityPath.parse(link.sb_path).queue == EntityPath.parse(path).queue:
                self._deliver(link)

    def _put_token(self, link: Link, request: AmqpMessage) -> AmqpMessage:
        """CBS put-token: a SAS token for the audience `name`, checked against its key, then the entity looked up.

        Service Bus authorizes before it looks the entity up (Azure/azure-sdk-for-net#44734), and answers
        an unknown one with 404 "could not be found" (Azure/azure-service-bus#304), which the Python
        SDK raises as ServiceBusAuthenticationError.
        """
        properties = request.properties or {}
        audience, token_type = str(properties.get("name", "")), str(properties.get("type", ""))
        problem = (
            f"the token type {token_type!r} is not one of {sorted(TOKEN_TYPES)}" if token_type not in TOKEN_TYPES
            else self.credentials.problem(str(request.body), [audience], time.time())
        )
        scope = _path(audience)
        entity = scope[: -len(MANAGEMENT_SUFFIX)] if scope.endswith(MANAGEMENT_SUFFIX) else scope
        if problem:
            status, description = 401, problem
        elif entity and EntityPath.parse(entity).queue not in self.broker.entities:
            status, description = 404, f"The messaging entity {audience!r} could not be found."
        else:
            link.connection.sb_scopes.append(scope.lower())
            status, description = 202, "Accepted"
        response = AmqpMessage(body=None, properties={"status-code": status, "status-description": description})
        response.correlation_id = request.id
        return response

    def _reply(self, link: Link, response: AmqpMessage) -> None:
        """Send `response` on the link the requester receives replies on (its reply-to address)."""
        replies = link.connection.sb_replies
        reply_link = replies.get(response.address) or next(iter(replies.values()), None)
        if reply_link is None or reply_link.state & Endpoint.LOCAL_CLOSED:
            return  # the requester has no reply link left: it gave up waiting, and its timeout reports it
        reply_link.send(response)

    # Deliveries out

    def _deliver(self, link: Link) -> None:
        """Hand the link as many messages as it has credit for."""
        if link.state & Endpoint.LOCAL_CLOSED or link.credit <= 0:
            if link.drain_mode and link.credit > 0:
                link.drained()
            return
        try:
            messages = self._take(link, link.credit)
        except ServiceBusError as exc:
            self._forget_link(link)
            _refuse(link, error_condition(exc)[1], str(exc))
            return
        for message in messages:
            self._send(link, message)
        if link.drain_mode and link.credit > 0:
            link.drained()

    def _take(self, link: Link, count: int) -> list[ReceivedMessage]:
        if link.sb_session is not None:
            return self.broker.receive_from_session(link.sb_session, max_messages=count, mode=link.sb_mode)
        return self.broker.receive(link.sb_path, max_messages=count, mode=link.sb_mode)

    def _send(self, link: Link, message: ReceivedMessage) -> None:
        tag = lock_token_tag(message.lock_token) if message.lock_token else message.message_id.encode()[:32]
        delivery = link.delivery(tag)
        delivery.sb_lock_token = message.lock_token  # proton reads tags back as UTF-8 text, so keep the token
        link.send(encode_received(message))
        link.advance()
        if message.lock_token is None:
            delivery.settle()

    def _settle(self, delivery: Delivery) -> None:
        """The client's outcome for a delivery, applied to the broker; the answer echoes it or says why not."""
        try:
            self._apply_outcome(delivery.link.sb_path, delivery.sb_lock_token, delivery.remote_state, delivery.remote)
        except ServiceBusError as exc:
            _settle_locally(delivery, Disposition.REJECTED, error_condition(exc)[1], str(exc))
            return
        _settle_locally(delivery, delivery.remote_state)

    def _apply_outcome(self, path: str, lock_token: str, state: int, remote: Disposition) -> None:
        """accepted: complete; rejected: dead-letter; modified: defer (undeliverable here) or abandon; released."""
        if state == Disposition.ACCEPTED:
            self.broker.complete(path, lock_token)
        elif state == Disposition.REJECTED:
            info = _info(remote.condition)
            self.broker.dead_letter(
                path, lock_token, reason=info.get("DeadLetterReason"), description=info.get("DeadLetterErrorDescription")
            )
        elif state == Disposition.MODIFIED and remote.undeliverable:
            self.broker.defer(path, lock_token, _annotations(remote))
        elif state == Disposition.MODIFIED:
            self.broker.abandon(path, lock_token, _annotations(remote))
        else:
            self.broker.release(path, lock_token)

    # Cleaning up

    def _forget_link(self, link: Link) -> None:
        """A closed link: its session lock goes back (unsettled messages return uncounted)."""
        if link in self._receivers:
            self._receivers.remove(link)
        self._waiting = [(waiting, deadline) for waiting, deadline in self._waiting if waiting != link]
        session = getattr(link, "sb_session", None)
        if session is not None:
            link.sb_session = None
            self._sessions.drop(session)
            try:
                self.broker.release_session(session)
            except ServiceBusError:
                pass  # the broker closed: the lock is lost with it and expires on restart, as Azure's would

    def _forget_connection(self, connection: Any) -> None:
        for link in [*self._receivers, *(waiting for waiting, _ in self._waiting)]:
            if link.connection == connection:
                self._forget_link(link)
        if connection in self._connections:
            self._connections.remove(connection)

    def _shut_down(self, container: Any) -> None:
        for connection in list(self._connections):
            self._forget_connection(connection)
            connection.close()
        if self._acceptor is not None:
            self._acceptor.close()
        container.stop()


def _path(address: str | None) -> str:
    """The entity path of a link address such as `amqps://host:port/queue` (or a bare path)."""
    text = address or ""
    if "://" in text:
        text = text.split("://", 1)[1]
        text = text.split("/", 1)[1] if "/" in text else ""
    return text.strip("/")


def _open(link: Link) -> None:
    """Attach with the client's source and target."""
    link.source.copy(link.remote_source)
    link.target.copy(link.remote_target)
    link.open()


def _refuse(link: Link, condition: str, description: str) -> None:
    """Attach, then detach at once with `condition`: the SDK raises the error the condition maps to.

    (pyamqp drops an attach without source or target as an invalid link, so both are echoed.)
    """
    if link.state & Endpoint.LOCAL_UNINIT:
        _open(link)
    link.condition = Condition(condition, description)
    link.close()


def _refuse_session(link: Link, condition: str, description: str) -> None:
    """`_refuse` for a session receiver's link: its attach still carries a session filter and a lock time.

    The SDK's attach callback reads both from any attach of a session link before it sees the detach
    (azure-servicebus `_transport/_pyamqp_transport.py` `on_attach`); without them it logs an
    AttributeError for every session it could not get.
    """
    if link.state & Endpoint.LOCAL_UNINIT:
        link.source.copy(link.remote_source)
        link.target.copy(link.remote_target)
        link.source.filter.clear()
        link.source.filter.put_dict({SESSION_FILTER: link.sb_wanted or ""})
        link.properties = {LOCKED_UNTIL_UTC: 0}
        link.open()
    _refuse(link, condition, description)


def _settle_locally(delivery: Delivery, state: int, condition: str | None = None, description: str | None = None) -> None:
    if condition is not None:
        # With info, as Service Bus sends a tracking id: pyamqp reads the rejected error as a three-item list
        # and fails on a shorter one (proton leaves out an empty info map).
        delivery.local.condition = Condition(condition, description, {TRACKING_ID: str(uuid.uuid4())})
    delivery.update(state)
    delivery.settle()


def _info(condition: Condition | None) -> dict[str, str]:
    if condition is None or not condition.info:
        return {}
    return {str(key): str(value) for key, value in dict(condition.info).items() if value is not None}


def _annotations(remote: Any) -> dict[str, Any] | None:
    annotations = remote.annotations
    return None if not annotations else {str(key): value for key, value in annotations.items()}


def _filters(link: Link) -> Any:
    """The client's source filter map (None if it sent none)."""
    data = link.remote_source.filter
    data.rewind()
    return data.get_object() if data.next() is not None else None


def _dotnet_ticks(moment: datetime) -> int:
    return int(moment.timestamp() * 10_000_000) + _DOTNET_EPOCH_TICKS
