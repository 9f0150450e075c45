"""The local Service Bus core: each Service Bus rule it reproduces, on the dev stack's queues where they
have the rule, on small made-up queues where a test needs other settings. Time is a ManualClock."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from orderbridge.local.servicebus import (
    MAX_DELIVERY_DESCRIPTION,
    MAX_DELIVERY_REASON,
    TTL_EXPIRED_DESCRIPTION,
    TTL_EXPIRED_REASON,
    Broker,
    EntityNotFound,
    EntitySettings,
    InvalidMessage,
    InvalidOperation,
    Message,
    MessageLockLost,
    MessageNotFound,
    MessageSizeExceeded,
    MessageState,
    ReceivedMessage,
    ReceiveMode,
    SessionCannotBeLocked,
    SessionLockLost,
)
from orderbridge.local.clock import SimClock
from tests.local.conftest import BrokerFactory, ManualClock
from topology import ECP_TO_ERP, ERP_TO_ECP

ORDERS = ECP_TO_ERP.queue_name  # no sessions, duplicate detection, DLQ on expiry
UPDATES = ERP_TO_ECP.queue_name  # sessions
ORDERS_DLQ = f"{ORDERS}/$deadletterqueue"
PLAIN = EntitySettings(name="plain", max_delivery_count=3)


@pytest.fixture()
def broker(open_broker: BrokerFactory, dev_entities: list[EntitySettings]) -> Broker:
    return open_broker([*dev_entities, PLAIN])


def order(order_id: str, **fields: Any) -> Message:
    body = f'{{"id": "{order_id}"}}'.encode()
    return Message(body=body, message_id=order_id, content_type="application/json", **fields)


def token(message: ReceivedMessage) -> str:
    """The lock token of a peek-locked message."""
    assert message.lock_token is not None
    return message.lock_token


def update(session_id: str, n: int) -> Message:
    return Message(body=f"{session_id}-{n}".encode(), message_id=f"{session_id}-{n}", session_id=session_id)


def test_the_entities_are_the_stacks_queues(dev_entities: list[EntitySettings]) -> None:
    by_name = {entity.name: entity for entity in dev_entities}
    assert set(by_name) == {ORDERS, ECP_TO_ERP.parking_queue_name, UPDATES, ERP_TO_ECP.parking_queue_name}
    updates = by_name[UPDATES]
    assert updates.requires_session and not by_name[ORDERS].requires_session
    assert updates.lock_duration == timedelta(minutes=1)
    assert updates.max_delivery_count == 5
    assert updates.requires_duplicate_detection and updates.duplicate_detection_window == timedelta(days=1)
    assert updates.default_message_ttl == timedelta(days=2) and updates.dead_lettering_on_expiration
    assert updates.max_message_bytes == 256 * 1024  # Standard tier


def test_a_peek_locked_message_is_delivered_once_with_delivery_count_1_and_complete_removes_it(broker: Broker) -> None:
    broker.send(ORDERS, order("ord-1", correlation_id="evt-1", application_properties={"dataVersion": "1.0"}))
    (message,) = broker.receive(ORDERS)
    assert (message.message_id, message.delivery_count, message.correlation_id) == ("ord-1", 1, "evt-1")
    assert message.application_properties == {"dataVersion": "1.0"} and message.lock_token
    assert broker.receive(ORDERS) == [], "a locked message must not be delivered to a second receiver"
    broker.complete(ORDERS, token(message))
    assert broker.peek(ORDERS) == []


def test_a_lock_that_expires_redelivers_the_message_with_a_higher_delivery_count(
    broker: Broker, clock: ManualClock,
) -> None:
    broker.send(ORDERS, order("ord-1"))
    (first,) = broker.receive(ORDERS)
    clock.advance(59)
    assert broker.receive(ORDERS) == [], "still locked one second before the lock duration"
    clock.advance(1)
    (again,) = broker.receive(ORDERS)
    assert (again.sequence_number, again.delivery_count) == (first.sequence_number, 2)
    with pytest.raises(MessageLockLost):
        broker.complete(ORDERS, token(first))


def test_renewing_a_lock_keeps_the_message_from_other_receivers(broker: Broker, clock: ManualClock) -> None:
    broker.send(ORDERS, order("ord-1"))
    (message,) = broker.receive(ORDERS)
    clock.advance(50)
    renewed_until = broker.renew_lock(ORDERS, token(message))
    assert renewed_until == clock.now() + timedelta(minutes=1)
    clock.advance(50)
    assert broker.receive(ORDERS) == []
    broker.complete(ORDERS, token(message))


def test_the_lock_floor_holds_a_lock_for_wall_seconds_however_fast_the_clock_runs(open_broker: BrokerFactory) -> None:
    fast = ManualClock(time_scale=600.0)  # the 1 min lock would last 0.1 wall seconds
    broker = open_broker([PLAIN], clock_=fast, lock_floor=5.0)
    broker.send(PLAIN.name, Message(b"x"))
    (message,) = broker.receive(PLAIN.name)
    assert message.locked_until == fast.now() + timedelta(seconds=5.0 * 600)


def test_abandon_counts_a_delivery_and_max_delivery_count_moves_the_message_to_the_dead_letter_queue(
    broker: Broker,
) -> None:
    broker.send(ORDERS, order("ord-1"))
    for attempt in range(1, 6):
        (message,) = broker.receive(ORDERS)
        assert message.delivery_count == attempt
        broker.abandon(ORDERS, token(message))
    assert broker.receive(ORDERS) == [], "after maxDeliveryCount (5) deliveries the message must leave the queue"
    (dead,) = broker.receive(ORDERS_DLQ)
    assert (dead.message_id, dead.dead_letter_reason, dead.dead_letter_error_description) == (
        "ord-1", MAX_DELIVERY_REASON, MAX_DELIVERY_DESCRIPTION)
    broker.complete(ORDERS_DLQ, token(dead))
    assert broker.message_counts(ORDERS).dead_lettered == 0


def test_lock_expiry_counts_towards_max_delivery_count(broker: Broker, clock: ManualClock) -> None:
    broker.send(PLAIN.name, Message(b"x"))
    for _ in range(PLAIN.max_delivery_count):
        assert broker.receive(PLAIN.name)
        clock.advance(61)
    assert broker.receive(PLAIN.name) == []
    assert broker.receive(f"{PLAIN.name}/$DeadLetterQueue")[0].dead_letter_reason == MAX_DELIVERY_REASON


def test_a_released_message_comes_back_without_counting_a_delivery(broker: Broker) -> None:
    broker.send(ORDERS, order("ord-1"))
    broker.release(ORDERS, token(broker.receive(ORDERS)[0]))
    assert broker.receive(ORDERS)[0].delivery_count == 1


def test_abandon_may_modify_application_properties(broker: Broker) -> None:
    broker.send(ORDERS, order("ord-1", application_properties={"a": "1"}))
    (message,) = broker.receive(ORDERS)
    broker.abandon(ORDERS, token(message), {"b": 2})
    assert broker.receive(ORDERS)[0].application_properties == {"a": "1", "b": 2}


def test_dead_letter_keeps_the_receivers_reason_and_description(broker: Broker) -> None:
    broker.send(ORDERS, order("ord-1"))
    (message,) = broker.receive(ORDERS)
    broker.dead_letter(ORDERS, token(message), reason="ContractViolation", description="$.lines is empty")
    (dead,) = broker.peek(ORDERS_DLQ)
    assert (dead.dead_letter_reason, dead.dead_letter_error_description) == ("ContractViolation", "$.lines is empty")
    (locked,) = broker.receive(ORDERS_DLQ)
    with pytest.raises(InvalidOperation):
        broker.dead_letter(ORDERS_DLQ, token(locked), reason="again")


def test_a_deferred_message_comes_back_only_by_its_sequence_number(broker: Broker) -> None:
    sequence_number = broker.send(ORDERS, order("ord-1"))
    (message,) = broker.receive(ORDERS)
    broker.defer(ORDERS, token(message))
    assert broker.receive(ORDERS) == []
    assert broker.peek(ORDERS)[0].state is MessageState.DEFERRED
    (deferred,) = broker.receive_deferred(ORDERS, [sequence_number])  # type: ignore[list-item]
    assert deferred.message_id == "ord-1" and deferred.state is MessageState.DEFERRED
    with pytest.raises(MessageNotFound):
        broker.receive_deferred(ORDERS, [sequence_number + 1])  # type: ignore[operator]
    broker.complete(ORDERS, token(deferred))
    assert broker.peek(ORDERS) == []


def test_duplicate_detection_drops_a_message_id_seen_within_the_window_without_an_error(
    broker: Broker, clock: ManualClock,
) -> None:
    assert broker.send(ORDERS, order("ord-1")) is not None
    clock.advance(timedelta(hours=23).total_seconds())
    assert broker.send(ORDERS, replace(order("ord-1"), body=b"second")) is None
    clock.advance(timedelta(hours=1).total_seconds())
    assert broker.send(ORDERS, replace(order("ord-1"), body=b"third")) is not None, "the one-day window has passed"
    assert [m.body for m in broker.peek(ORDERS, max_messages=10)] == [b'{"id": "ord-1"}', b"third"]


def test_a_queue_without_duplicate_detection_keeps_every_copy(broker: Broker) -> None:
    broker.send(PLAIN.name, Message(b"1", message_id="same"))
    broker.send(PLAIN.name, Message(b"2", message_id="same"))
    assert len(broker.peek(PLAIN.name, max_messages=10)) == 2


def test_a_scheduled_message_becomes_visible_at_its_time_and_reports_it_as_enqueued_time(
    broker: Broker, clock: ManualClock,
) -> None:
    enqueue_at = clock.now() + timedelta(minutes=15)
    sequence_number = broker.schedule(ORDERS, order("ord-1+retry1"), enqueue_at)
    assert broker.receive(ORDERS) == []
    assert broker.peek(ORDERS)[0].state is MessageState.SCHEDULED
    clock.advance(15 * 60)
    (message,) = broker.receive(ORDERS)
    assert (message.sequence_number, message.enqueued_time, message.scheduled_enqueue_time) == (
        sequence_number, enqueue_at, enqueue_at)


def test_a_scheduled_message_can_be_cancelled_until_it_is_visible(broker: Broker, clock: ManualClock) -> None:
    first = broker.schedule(ORDERS, order("a"), clock.now() + timedelta(minutes=5))
    second = broker.schedule(ORDERS, order("b"), clock.now() + timedelta(minutes=5))
    broker.cancel_scheduled(ORDERS, [first])  # type: ignore[list-item]
    clock.advance(5 * 60)
    with pytest.raises(MessageNotFound):
        broker.cancel_scheduled(ORDERS, [second])  # type: ignore[list-item]
    assert [m.message_id for m in broker.receive(ORDERS, max_messages=5)] == ["b"]


def test_an_expired_message_is_dead_lettered_with_azures_reason_where_the_queue_says_so(
    broker: Broker, clock: ManualClock,
) -> None:
    broker.send(ORDERS, order("ord-1", time_to_live=timedelta(minutes=10)))
    clock.advance(10 * 60)
    assert broker.receive(ORDERS) == []
    (dead,) = broker.receive(ORDERS_DLQ)
    assert (dead.dead_letter_reason, dead.dead_letter_error_description) == (
        TTL_EXPIRED_REASON, TTL_EXPIRED_DESCRIPTION)


def test_an_expired_message_is_dropped_where_the_queue_does_not_dead_letter_on_expiry(
    broker: Broker, clock: ManualClock,
) -> None:
    broker.send(PLAIN.name, Message(b"x", time_to_live=timedelta(seconds=30)))
    clock.advance(30)
    assert broker.receive(PLAIN.name) == [] and broker.peek(f"{PLAIN.name}/$deadletterqueue") == []


def test_the_queues_default_time_to_live_caps_a_longer_message_ttl(broker: Broker, clock: ManualClock) -> None:
    broker.send(ORDERS, order("ord-1", time_to_live=timedelta(days=30)))
    assert broker.peek(ORDERS)[0].expires_at == clock.now() + timedelta(days=2)


def test_receive_and_delete_removes_the_message_as_it_is_delivered(broker: Broker) -> None:
    broker.send(ORDERS, order("ord-1"))
    (message,) = broker.receive(ORDERS, mode=ReceiveMode.RECEIVE_AND_DELETE)
    assert message.lock_token is None and message.delivery_count == 1
    assert broker.peek(ORDERS) == []


def test_messages_are_received_in_sequence_order_and_peek_pages_by_sequence_number(broker: Broker) -> None:
    numbers = [broker.send(PLAIN.name, Message(str(i).encode())) for i in range(5)]
    peeked = broker.peek(PLAIN.name, from_sequence_number=numbers[2], max_messages=10)  # type: ignore[arg-type]
    assert [m.sequence_number for m in peeked] == numbers[2:]
    assert [m.body for m in broker.receive(PLAIN.name, max_messages=3)] == [b"0", b"1", b"2"]


def test_a_session_is_delivered_in_order_to_one_receiver_at_a_time(broker: Broker) -> None:
    for n in range(3):
        broker.send(UPDATES, update("ORD-1", n))
    broker.send(UPDATES, update("ORD-2", 0))
    session = broker.accept_session(UPDATES)
    assert session.session_id == "ORD-1", "the next available session is the one of the oldest message"
    with pytest.raises(SessionCannotBeLocked):
        broker.accept_session(UPDATES, "ORD-1")
    other = broker.accept_session(UPDATES)
    assert other.session_id == "ORD-2"
    with pytest.raises(SessionCannotBeLocked):
        broker.accept_session(UPDATES)  # every session with messages is held
    received = [m.body for m in broker.receive_from_session(session, max_messages=10)]
    assert received == [b"ORD-1-0", b"ORD-1-1", b"ORD-1-2"]


def test_an_abandoned_session_message_comes_back_first(broker: Broker) -> None:
    broker.send(UPDATES, update("ORD-1", 1))
    broker.send(UPDATES, update("ORD-1", 2))
    session = broker.accept_session(UPDATES, "ORD-1")
    (first,) = broker.receive_from_session(session)
    broker.abandon(UPDATES, token(first))
    (again,) = broker.receive_from_session(session)
    assert (again.message_id, again.delivery_count) == ("ORD-1-1", 2)


def test_a_lost_session_lock_frees_the_session_and_counts_a_delivery_of_its_locked_messages(
    broker: Broker, clock: ManualClock,
) -> None:
    broker.send(UPDATES, update("ORD-1", 1))
    session = broker.accept_session(UPDATES)
    (message,) = broker.receive_from_session(session)
    clock.advance(61)
    with pytest.raises(SessionLockLost):
        broker.receive_from_session(session)
    with pytest.raises(MessageLockLost):
        broker.complete(UPDATES, token(message))
    successor = broker.accept_session(UPDATES)
    assert broker.receive_from_session(successor)[0].delivery_count == 2


def test_renewing_the_session_lock_keeps_the_session(broker: Broker, clock: ManualClock) -> None:
    broker.send(UPDATES, update("ORD-1", 1))
    session = broker.accept_session(UPDATES)
    (message,) = broker.receive_from_session(session)
    clock.advance(50)
    session = broker.renew_session_lock(session)
    clock.advance(50)
    with pytest.raises(SessionCannotBeLocked):
        broker.accept_session(UPDATES, "ORD-1")
    broker.complete(UPDATES, token(message))


def test_a_released_session_returns_its_unsettled_messages_without_counting_a_delivery(broker: Broker) -> None:
    broker.send(UPDATES, update("ORD-1", 1))
    session = broker.accept_session(UPDATES)
    broker.receive_from_session(session)
    broker.release_session(session)
    assert broker.receive_from_session(broker.accept_session(UPDATES))[0].delivery_count == 1


def test_session_state_is_kept_with_the_session(broker: Broker) -> None:
    session = broker.accept_session(UPDATES, "ORD-9")  # a named session may be empty
    assert broker.get_session_state(session) is None
    broker.set_session_state(session, b"changeVersion=3")
    broker.release_session(session)
    assert broker.get_session_state(broker.accept_session(UPDATES, "ORD-9")) == b"changeVersion=3"


def test_a_session_queue_needs_a_session_id_and_a_session_receiver(broker: Broker) -> None:
    with pytest.raises(InvalidMessage, match="SessionId"):
        broker.send(UPDATES, Message(b"x", message_id="m"))
    with pytest.raises(InvalidOperation):
        broker.receive(UPDATES)


@pytest.mark.parametrize("field", ["message_id", "session_id", "partition_key"])
def test_ids_over_128_characters_are_refused(broker: Broker, field: str) -> None:
    with pytest.raises(InvalidMessage, match="128"):
        broker.send(UPDATES, replace(update("ORD-1", 1), **{field: "x" * 129}))
    broker.send(UPDATES, replace(update("ORD-1", 1), **{field: "x" * 128}))


def test_a_message_over_256_kb_is_refused_on_the_standard_tier(broker: Broker) -> None:
    with pytest.raises(MessageSizeExceeded):
        broker.send(ORDERS, Message(b"x" * (256 * 1024 + 1)))
    assert broker.peek(ORDERS) == []


def test_an_unknown_entity_is_not_found(broker: Broker) -> None:
    with pytest.raises(EntityNotFound, match="no-such-queue"):
        broker.send("no-such-queue", Message(b"x"))
    with pytest.raises(EntityNotFound):
        broker.receive("no-such-queue/$deadletterqueue")


def test_a_batch_is_stored_whole_or_not_at_all(broker: Broker) -> None:
    with pytest.raises(InvalidMessage):
        broker.send_batch(ORDERS, [order("a"), order("b" * 200)])
    assert broker.peek(ORDERS) == []


def test_everything_survives_a_restart_of_the_broker(
    open_broker: BrokerFactory, dev_entities: list[EntitySettings], clock: ManualClock,
) -> None:
    before = open_broker(dev_entities)
    kept = before.send(ORDERS, order("ord-1"))
    before.send(ORDERS, order("ord-2"))
    (locked,) = before.receive(ORDERS)
    before.schedule(ORDERS, order("ord-3"), clock.now() + timedelta(minutes=5))
    session = before.accept_session(UPDATES, "ORD-1")
    before.set_session_state(session, b"state")
    before.release_session(session)
    before.close()

    after = open_broker(dev_entities)
    assert after.send(ORDERS, order("ord-2")) is None, "the duplicate-detection history survives"
    assert [m.message_id for m in after.peek(ORDERS, max_messages=10)] == ["ord-1", "ord-2", "ord-3"]
    assert after.receive(ORDERS)[0].message_id == "ord-2", "ord-1 is still locked by the receiver of the first run"
    clock.advance(60)
    redelivered = after.receive(ORDERS)[0]
    assert (redelivered.sequence_number, redelivered.delivery_count) == (kept, 2)
    assert after.send(ORDERS, order("ord-4")) > kept  # type: ignore[operator]
    assert after.get_session_state(after.accept_session(UPDATES, "ORD-1")) == b"state"


def test_an_acknowledged_send_survives_a_process_that_dies_without_closing_the_broker(
    tmp_path: Path, open_broker: BrokerFactory,
) -> None:
    crash = (
        "import os, sys\n"
        "from orderbridge.local.servicebus import Broker, EntitySettings, Message\n"
        "from orderbridge.local.clock import SimClock\n"
        "broker = Broker(sys.argv[1], [EntitySettings(name='plain')], SimClock())\n"
        "broker.send('plain', Message(b'acknowledged', message_id='m-1'))\n"
        "os._exit(0)  # no close, no checkpoint: only what COMMIT wrote\n"
    )
    subprocess.run([sys.executable, "-c", crash, str(tmp_path / "servicebus.db")], check=True, timeout=60,
                   env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert [m.body for m in open_broker([PLAIN]).peek(PLAIN.name)] == [b"acknowledged"]


def test_a_blocked_receiver_wakes_when_a_message_is_sent(broker: Broker) -> None:
    got: list[str] = []
    receiver = threading.Thread(target=lambda: got.extend(m.message_id for m in broker.receive(ORDERS, timeout=10)))
    receiver.start()
    broker.send(ORDERS, order("ord-1"))
    receiver.join(timeout=10)
    assert got == ["ord-1"]


def test_a_blocked_receiver_wakes_when_a_scheduled_message_is_due(
    open_broker: BrokerFactory, dev_entities: list[EntitySettings],
) -> None:
    clock = SimClock(time_scale=600.0)
    broker = open_broker(dev_entities, clock_=clock)
    broker.schedule(ORDERS, order("ord-1"), clock.now() + timedelta(seconds=30))  # 0.05 wall seconds
    assert [m.message_id for m in broker.receive(ORDERS, timeout=10)] == ["ord-1"]


def test_concurrent_receivers_get_each_message_exactly_once(broker: Broker) -> None:
    sent = {broker.send(PLAIN.name, Message(str(i).encode())) for i in range(60)}
    seen: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        while messages := broker.receive(PLAIN.name, max_messages=5):
            for message in messages:
                broker.complete(PLAIN.name, token(message))
                with lock:
                    seen.append(message.sequence_number)

    workers = [threading.Thread(target=work) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(seen) == sorted(sent)  # type: ignore[type-var]
