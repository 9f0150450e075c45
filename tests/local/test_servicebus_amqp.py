"""The AMQP front under the real azure-servicebus SDK: what an application does with Service Bus, it can do
against the local broker unchanged, and it sees Azure's values and Azure's errors.

One broker and one front serve the module; each test uses its own queue. The SDK spends about 0.45 s
opening each sender or receiver and up to 1 s closing it (tests/local/_sdk_handlers.py says where), so
the module shares one sender per queue and the plain receivers, opened together, and closes the handlers
a test opens in the background, unless the test is about what closing does.
"""
from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from azure.servicebus import (
    NEXT_AVAILABLE_SESSION,
    ServiceBusClient,
    ServiceBusMessage,
    ServiceBusMessageState,
    ServiceBusReceiveMode,
    ServiceBusReceiver,
    ServiceBusSender,
    ServiceBusSubQueue,
)
from azure.servicebus.exceptions import (
    MessageSizeExceededError,
    ServiceBusAuthenticationError,
    SessionCannotBeLockedError,
)

from orderbridge.local.servicebus import (
    MAX_DELIVERY_DESCRIPTION,
    MAX_DELIVERY_REASON,
    AmqpFront,
    Broker,
    Credentials,
    EntitySettings,
    rest_app,
)
from tests.local._sdk_handlers import Handler, Handlers
from tests.local.conftest import serving

KEY_NAME, KEY = "RootManageSharedAccessKey", "bG9jYWwtc2VydmljZWJ1cy1rZXk="
QUEUES = [
    EntitySettings(name, max_delivery_count=3, lock_duration=timedelta(seconds=30))
    for name in ("fields", "batch", "abandon", "dlq", "defer", "delete", "expiry", "renew", "schedule", "peek",
                 "prefetch", "durable", "release", "rest")
] + [EntitySettings("sessions", requires_session=True, lock_duration=timedelta(seconds=30)),
      EntitySettings("dedup", requires_duplicate_detection=True)]
# The handlers the tests share (see Links); a test whose handler has options of its own opens it itself.
SENDING = ("fields", "batch", "abandon", "dlq", "defer", "delete", "expiry", "renew", "schedule", "peek", "prefetch",
           "release", "sessions", "dedup")
RECEIVING = ("fields", "batch", "abandon", "dlq", "defer", "expiry", "renew", "peek", "rest")
DEAD_LETTERS = ("abandon", "dlq")


class OffsetClock:
    """Wall time plus an offset a test moves forward: the SDK compares locks with its own clock."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)

    def wall_seconds(self, simulated: float, *, floor: float = 0.0) -> float:
        return max(simulated, floor, 0.0)

    def simulated_seconds(self, wall: float) -> float:
        return wall

    def wall_until(self, when: datetime) -> float:
        return self.wall_seconds((when - self.now()).total_seconds())


class Namespace:
    """A broker and its front, restartable on the same file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = OffsetClock()
        self.credentials = Credentials(sas_keys={KEY_NAME: KEY})
        self.broker, self.front = self._open()

    def _open(self) -> tuple[Broker, AmqpFront]:
        broker = Broker(self.path, QUEUES, self.clock, lock_floor=0.0)
        return broker, AmqpFront(broker, self.credentials).start()

    def restart(self) -> None:
        self.front.close()
        self.broker.close()
        self.broker, self.front = self._open()

    def client(self, key: str = KEY) -> ServiceBusClient:
        text = self.front.connection_string(KEY_NAME).replace(KEY, key)
        return ServiceBusClient.from_connection_string(text, retry_total=0)

    def close(self) -> None:
        self.front.close()
        self.broker.close()


@pytest.fixture(scope="module")
def namespace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Namespace]:
    opened = Namespace(tmp_path_factory.mktemp("amqp") / "servicebus.db")
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def client(namespace: Namespace) -> Iterator[ServiceBusClient]:
    with namespace.client() as opened:
        yield opened


class Links(Handlers):
    """One sender per queue of SENDING and a plain peek-lock receiver per queue of RECEIVING and DEAD_LETTERS,
    held for the whole module as a long-running application holds them. They open in the background, in the
    tests' order, so a test waits only for its own."""

    def __init__(self, client: ServiceBusClient) -> None:
        super().__init__()
        self._senders: dict[str, Future[ServiceBusSender]] = {}
        self._receivers: dict[str, Future[ServiceBusReceiver]] = {}
        self._dead_letters: dict[str, Future[ServiceBusReceiver]] = {}
        for queue in (entity.name for entity in QUEUES):
            if queue in SENDING:
                self._senders[queue] = self.open_later(client.get_queue_sender(queue))
            if queue in RECEIVING:
                self._receivers[queue] = self.open_later(client.get_queue_receiver(queue))
            if queue in DEAD_LETTERS:
                self._dead_letters[queue] = self.open_later(
                    client.get_queue_receiver(queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER))

    def sender(self, queue: str) -> ServiceBusSender:
        return _shared(self._senders, queue, "SENDING")

    def receiver(self, queue: str) -> ServiceBusReceiver:
        return _shared(self._receivers, queue, "RECEIVING")

    def dead_letters(self, queue: str) -> ServiceBusReceiver:
        return _shared(self._dead_letters, queue, "DEAD_LETTERS")


def _shared(handlers: dict[str, Future[Handler]], queue: str, table: str) -> Handler:
    """The open handler for `queue`, once its open is done."""
    if queue not in handlers:
        raise LookupError(f"no shared handler for queue {queue!r}: add it to {table}")
    return handlers[queue].result()


@pytest.fixture(scope="module")
def links(client: ServiceBusClient) -> Iterator[Links]:
    """The shared handlers; torn down before `client`, so every close is done before the client's."""
    shared = Links(client)
    yield shared
    shared.close()


def test_a_sent_message_arrives_with_its_fields_and_azures_delivery_count(links: Links, namespace: Namespace) -> None:
    links.sender("fields").send_messages(ServiceBusMessage(
        b'{"id": "ord-1"}', message_id="ord-1", correlation_id="evt-1", content_type="application/json",
        subject="ECP.Order.Created", application_properties={"eventType": "ECP.Order.Created", "attempt": 2},
        time_to_live=timedelta(hours=1),
    ))
    (stored,) = namespace.broker.peek("fields")
    assert stored.delivery_count == 1  # the core's DeliveryCount is Azure's, 1-based
    receiver = links.receiver("fields")
    (message,) = receiver.receive_messages(max_wait_time=2)
    assert (message.message_id, message.correlation_id, message.content_type, message.subject) == (
        "ord-1", "evt-1", "application/json", "ECP.Order.Created")
    assert b"".join(message.body) == b'{"id": "ord-1"}'
    assert message.application_properties == {b"eventType": b"ECP.Order.Created", b"attempt": 2}
    assert message.time_to_live == timedelta(hours=1)
    assert message.sequence_number == stored.sequence_number
    assert abs(message.enqueued_time_utc - stored.enqueued_time) < timedelta(milliseconds=1)
    # On the wire the header carries DeliveryCount - 1, and the Python SDK shows it raw.
    assert message.delivery_count == 0
    receiver.complete_message(message)
    assert namespace.broker.message_counts("fields").active == 0


def test_a_batch_is_stored_in_one_go_and_received_in_order(links: Links, namespace: Namespace) -> None:
    links.sender("batch").send_messages([ServiceBusMessage(f"m{index}", message_id=f"m{index}") for index in range(5)])
    assert namespace.broker.message_counts("batch").active == 5
    receiver = links.receiver("batch")
    received = receiver.receive_messages(max_message_count=5, max_wait_time=2)
    assert [message.message_id for message in received] == [f"m{index}" for index in range(5)]
    for message in received:
        receiver.complete_message(message)


def test_a_wrong_key_raises_the_sdks_authentication_error(namespace: Namespace) -> None:
    with namespace.client(key="d3Jvbmcta2V5") as wrong:
        with pytest.raises(ServiceBusAuthenticationError):
            with wrong.get_queue_sender("fields") as sender:
                sender.send_messages(ServiceBusMessage(b"x"))


def test_an_unknown_entity_is_refused_as_azure_refuses_its_token(client: ServiceBusClient) -> None:
    # Service Bus answers the put-token for an unknown entity with 404, which the Python SDK raises as an
    # authentication error (Azure/azure-service-bus#304).
    with pytest.raises(ServiceBusAuthenticationError):
        with client.get_queue_sender("no-such-queue") as sender:
            sender.send_messages(ServiceBusMessage(b"x"))


def test_the_sender_link_advertises_256_kb_and_the_sdk_enforces_it(links: Links) -> None:
    sender = links.sender("fields")
    assert sender.create_message_batch().max_size_in_bytes == 256 * 1024
    with pytest.raises(MessageSizeExceededError):
        sender.send_messages(ServiceBusMessage(b"x" * (257 * 1024)))


def test_ids_longer_than_128_characters_are_refused_by_the_sdk() -> None:
    with pytest.raises(ValueError):
        ServiceBusMessage(b"x", message_id="i" * 129)


def test_abandon_counts_a_delivery_and_the_limit_dead_letters(links: Links) -> None:
    sender, receiver = links.sender("abandon"), links.receiver("abandon")
    sender.send_messages(ServiceBusMessage(b"poison", message_id="p-1"))
    counts = []
    for _ in range(3):
        (message,) = receiver.receive_messages(max_wait_time=2)
        counts.append(message.delivery_count)
        receiver.abandon_message(message)
    assert counts == [0, 1, 2]
    assert_gone_from_the_queue(sender, receiver, "p-1")
    dlq = links.dead_letters("abandon")
    (dead,) = dlq.receive_messages(max_wait_time=2)
    assert (dead.message_id, dead.dead_letter_reason, dead.dead_letter_error_description) == (
        "p-1", MAX_DELIVERY_REASON, MAX_DELIVERY_DESCRIPTION)
    dlq.complete_message(dead)


def assert_gone_from_the_queue(sender: ServiceBusSender, receiver: ServiceBusReceiver, message_id: str) -> None:
    """`message_id` is no longer received: a message sent after it arrives first (the queue is FIFO, and a
    message back on the queue keeps its place), with no wait for something that should not come."""
    sender.send_messages(ServiceBusMessage(b"marker", message_id=f"after-{message_id}"))
    (first,) = receiver.receive_messages(max_wait_time=2)
    assert first.message_id == f"after-{message_id}"
    receiver.complete_message(first)


def test_dead_letter_keeps_the_receivers_reason_and_description(links: Links) -> None:
    links.sender("dlq").send_messages(ServiceBusMessage(b"bad", message_id="b-1"))
    receiver = links.receiver("dlq")
    (message,) = receiver.receive_messages(max_wait_time=2)
    receiver.dead_letter_message(message, reason="SchemaInvalid", error_description="no orderId")
    dlq = links.dead_letters("dlq")
    (dead,) = dlq.receive_messages(max_wait_time=2)
    assert (dead.dead_letter_reason, dead.dead_letter_error_description) == ("SchemaInvalid", "no orderId")
    dlq.complete_message(dead)


def test_a_deferred_message_comes_back_only_by_its_sequence_number(links: Links, namespace: Namespace) -> None:
    sender, receiver = links.sender("defer"), links.receiver("defer")
    sender.send_messages(ServiceBusMessage(b"later", message_id="d-1"))
    (message,) = receiver.receive_messages(max_wait_time=2)
    receiver.defer_message(message)
    assert_gone_from_the_queue(sender, receiver, "d-1")
    (deferred,) = receiver.receive_deferred_messages([message.sequence_number])
    assert (deferred.message_id, deferred.state) == ("d-1", ServiceBusMessageState.DEFERRED)
    receiver.complete_message(deferred)
    assert namespace.broker.peek("defer") == []


def test_receive_and_delete_removes_the_message_on_delivery(
    client: ServiceBusClient, links: Links, namespace: Namespace
) -> None:
    links.sender("delete").send_messages(ServiceBusMessage(b"once", message_id="r-1"))
    with links.opened(client.get_queue_receiver(
        "delete", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE, max_wait_time=2
    )) as receiver:
        (message,) = receiver.receive_messages(max_wait_time=2)
        assert message.message_id == "r-1"
    assert namespace.broker.peek("delete") == []


def test_a_lost_lock_redelivers_with_one_more_delivery(links: Links, namespace: Namespace) -> None:
    links.sender("expiry").send_messages(ServiceBusMessage(b"slow", message_id="e-1"))
    receiver = links.receiver("expiry")
    (first,) = receiver.receive_messages(max_wait_time=2)
    namespace.clock.advance(31)  # past the 30 s lock
    (again,) = receiver.receive_messages(max_wait_time=2)
    assert (again.message_id, again.delivery_count) == ("e-1", 1)
    receiver.complete_message(again)


def test_renew_lock_extends_the_lock(links: Links) -> None:
    links.sender("renew").send_messages(ServiceBusMessage(b"long", message_id="l-1"))
    receiver = links.receiver("renew")
    (message,) = receiver.receive_messages(max_wait_time=2)
    before = message.locked_until_utc
    renewed = receiver.renew_message_lock(message)
    assert renewed > before - timedelta(milliseconds=1)
    receiver.complete_message(message)


def test_schedule_then_cancel(links: Links, namespace: Namespace) -> None:
    at = datetime.now(timezone.utc) + timedelta(hours=1)
    sender = links.sender("schedule")
    (number,) = sender.schedule_messages(ServiceBusMessage(b"retry", message_id="s-1"), at)
    (peeked,) = namespace.broker.peek("schedule")
    assert (peeked.sequence_number, peeked.message_id) == (number, "s-1")
    assert abs(peeked.enqueued_time - at) < timedelta(milliseconds=1)
    sender.cancel_scheduled_messages(number)
    assert namespace.broker.peek("schedule") == []


def test_scheduling_a_duplicate_answers_a_sequence_number_and_keeps_one_message(
    links: Links, namespace: Namespace
) -> None:
    # As Service Bus does (Azure/azure-service-bus#265): the SDK expects one number per message, and an
    # answer with none left it unable to decode the reply (an IndexError in pyamqp).
    at = datetime.now(timezone.utc) + timedelta(hours=1)
    sender = links.sender("dedup")
    (first,) = sender.schedule_messages(ServiceBusMessage(b"retry", message_id="ord-9+retry1"), at)
    (second,) = sender.schedule_messages(ServiceBusMessage(b"retry", message_id="ord-9+retry1"), at)
    assert second != first
    assert [(m.sequence_number, m.message_id) for m in namespace.broker.peek("dedup")] == [(first, "ord-9+retry1")]
    (third,) = sender.schedule_messages(ServiceBusMessage(b"retry", message_id="ord-9+retry2"), at)
    assert third > second  # the counter goes on


def test_peek_shows_messages_without_locking_them(links: Links) -> None:
    links.sender("peek").send_messages(
        [ServiceBusMessage(b"a", message_id="k-1"), ServiceBusMessage(b"b", message_id="k-2")])
    receiver = links.receiver("peek")
    peeked = receiver.peek_messages(max_message_count=5)
    assert [message.message_id for message in peeked] == ["k-1", "k-2"]
    received = receiver.receive_messages(max_message_count=2, max_wait_time=2)
    assert len(received) == 2
    for message in received:
        receiver.complete_message(message)


def test_prefetch_delivers_within_the_credit(client: ServiceBusClient, links: Links) -> None:
    links.sender("prefetch").send_messages(
        [ServiceBusMessage(f"p{index}", message_id=f"p{index}") for index in range(30)])
    seen: list[str] = []
    with links.opened(client.get_queue_receiver("prefetch", prefetch_count=10, max_wait_time=2)) as receiver:
        while len(seen) < 30:
            batch = receiver.receive_messages(max_message_count=10, max_wait_time=2)
            assert batch, f"only {len(seen)} of 30 arrived"
            for message in batch:
                seen.append(message.message_id)
                receiver.complete_message(message)
    assert seen == [f"p{index}" for index in range(30)]


def test_closing_a_receiver_releases_its_prefetched_messages_uncounted(
    client: ServiceBusClient, links: Links, namespace: Namespace
) -> None:
    links.sender("release").send_messages([ServiceBusMessage(f"r{index}") for index in range(3)])
    # The SDK's own with-block: the test is about what its close does.
    with client.get_queue_receiver("release", prefetch_count=3, max_wait_time=2) as receiver:
        receiver.receive_messages(max_message_count=1, max_wait_time=2)
    peeked = namespace.broker.peek("release", max_messages=3)
    assert [message.delivery_count for message in peeked][1:] == [1, 1]


def test_sessions_next_available_fifo_one_receiver_and_state(client: ServiceBusClient, links: Links) -> None:
    links.sender("sessions").send_messages([ServiceBusMessage(f"{session}-{index}", session_id=session)
                                            for session in ("ord-A", "ord-B") for index in range(2)])
    with links.opened(client.get_queue_receiver(
        "sessions", session_id=NEXT_AVAILABLE_SESSION, max_wait_time=2
    )) as receiver:
        assert receiver.session.session_id == "ord-A"
        # Another receiver takes ord-B meanwhile: each session has its own receiver.
        ord_b = links.open_later(client.get_queue_receiver("sessions", session_id="ord-B", max_wait_time=2))
        received = receiver.receive_messages(max_message_count=2, max_wait_time=2)
        assert [str(message) for message in received] == ["ord-A-0", "ord-A-1"]
        for message in received:
            receiver.complete_message(message)
        with pytest.raises(SessionCannotBeLockedError):
            with client.get_queue_receiver("sessions", session_id="ord-A", max_wait_time=1) as other:
                other.receive_messages(max_wait_time=1)
        receiver.session.set_state(b"step-2")
        assert receiver.session.get_state() == b"step-2"
        before = receiver.session.locked_until_utc
        assert receiver.session.renew_lock() >= before
    receiver = ord_b.result()
    for message in receiver.receive_messages(max_message_count=2, max_wait_time=2):
        receiver.complete_message(message)


def test_a_workflows_rest_send_reaches_an_amqp_receiver(links: Links, namespace: Namespace) -> None:
    token = "local-managed-identity-token"
    app = rest_app(namespace.broker, Credentials(bearer_token=token), property_names=["eventType"])
    with serving(app) as base_url:
        answer = httpx.post(f"{base_url}/rest/messages", content=b'{"id": "ord-9"}', headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json",
            "BrokerProperties": '{"MessageId": "ord-9"}', "eventType": '"ECP.Order.Created"'})
    assert answer.status_code == 201, answer.text
    receiver = links.receiver("rest")
    (message,) = receiver.receive_messages(max_wait_time=2)
    assert (message.message_id, message.content_type) == ("ord-9", "application/json")
    assert message.application_properties == {b"eventType": b"ECP.Order.Created"}
    receiver.complete_message(message)


def test_messages_survive_a_broker_restart(tmp_path: Path) -> None:
    # Its own broker and front, so the restart leaves the module's connections alone.
    namespace = Namespace(tmp_path / "servicebus.db")
    try:
        with namespace.client() as client, client.get_queue_sender("durable") as sender:
            sender.send_messages(ServiceBusMessage(b"kept", message_id="k-1"))
        namespace.restart()
        with namespace.client() as client, client.get_queue_receiver("durable", max_wait_time=2) as receiver:
            (message,) = receiver.receive_messages(max_wait_time=2)
            assert message.message_id == "k-1"
            receiver.complete_message(message)
    finally:
        namespace.close()
