"""The broker core: every Service Bus rule the local stack honours, and nothing about protocols.

All state is in one SQLite file (`_store`); one lock serialises the operations, and a condition on
that lock wakes blocked receivers when a transaction changed something, or when the next timed
event (a scheduled message, a lock expiry) is due. See the package docstring for the semantics.
"""
from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar

from orderbridge.local.clock import LOCK_FLOOR_SECONDS
from orderbridge.local.servicebus._entities import EntityPath, EntitySettings
from orderbridge.local.servicebus._errors import (
    BrokerClosed,
    EntityNotFound,
    InvalidMessage,
    InvalidOperation,
    MessageLockLost,
    MessageNotFound,
    MessageSizeExceeded,
    SessionCannotBeLocked,
    SessionLockLost,
)
from orderbridge.local.servicebus._messages import (
    Message,
    PropertyValue,
    ReceivedMessage,
    ReceiveMode,
    SessionLock,
    decode_properties,
    encode_properties,
    message_size,
    property_type_problem,
)
from orderbridge.local.servicebus._store import open_store, received, to_datetime, to_timestamp

# MessageId, SessionId and PartitionKey: at most 128 characters
# (https://learn.microsoft.com/azure/service-bus-messaging/service-bus-quotas).
MAX_ID_LENGTH = 128
# Reasons and descriptions Service Bus itself writes
# (https://learn.microsoft.com/azure/service-bus-messaging/service-bus-dead-letter-queues#moving-messages-to-the-dlq).
MAX_DELIVERY_REASON = "MaxDeliveryCountExceeded"
MAX_DELIVERY_DESCRIPTION = "Message couldn't be consumed after maximum delivery attempts."
TTL_EXPIRED_REASON = "TTLExpiredException"
TTL_EXPIRED_DESCRIPTION = "The message expired and was dead lettered."
# A blocked receiver re-checks at least this often (wall seconds), in case the clock jumps.
_MAX_WAIT_SLICE = 1.0
_PRUNE_EVERY = 256  # sends between sweeps of expired duplicate-detection history
T = TypeVar("T")


class Clock(Protocol):
    """What the broker and the Functions host need of `orderbridge.local.clock.SimClock`."""

    def now(self) -> datetime: ...

    def wall_seconds(self, simulated: float, *, floor: float = 0.0) -> float: ...

    def simulated_seconds(self, wall: float) -> float: ...

    def wall_until(self, when: datetime) -> float: ...


@dataclass(frozen=True)
class MessageCounts:
    """How many messages a queue holds, by where they stand."""

    active: int
    scheduled: int
    deferred: int
    locked: int
    dead_lettered: int


class Broker:
    """A durable local Service Bus namespace: thread-safe; timeouts are wall seconds, all else simulated time.

    `lock_floor` (wall seconds) is the least a message or session lock lasts, however fast the
    clock runs: a healthy call must not lose its lock to the time scale.
    """

    def __init__(
        self,
        path: Path | str,
        entities: Iterable[EntitySettings],
        clock: Clock,
        *,
        lock_floor: float = LOCK_FLOOR_SECONDS,
    ) -> None:
        self._entities = {entity.name: entity for entity in entities}
        self._clock = clock
        self._lock_floor = lock_floor
        self._mutex = threading.RLock()
        self._changed = threading.Condition(self._mutex)
        self._db: sqlite3.Connection = open_store(path)
        self._closed = False
        self._sends = 0

    @property
    def entities(self) -> Mapping[str, EntitySettings]:
        """The queues of this namespace by name."""
        return dict(self._entities)

    def close(self) -> None:
        """Close the database; blocked receivers wake and get BrokerClosed."""
        with self._mutex:
            if not self._closed:
                self._closed = True
                self._db.close()
            self._changed.notify_all()

    # Sending

    def send(self, queue: str, message: Message) -> int | None:
        """Enqueue `message` (scheduled if it says so); its sequence number, or None if dropped as a duplicate."""
        return self.send_batch(queue, [message])[0]

    def schedule(self, queue: str, message: Message, enqueue_at: datetime) -> int | None:
        """Enqueue `message` to become visible at `enqueue_at`; the sequence number cancel takes."""
        return self.send(queue, replace(message, scheduled_enqueue_time=enqueue_at))

    def send_batch(self, queue: str, messages: list[Message]) -> list[int | None]:
        """Enqueue all of `messages` in one transaction, or none of them if one breaks a rule."""
        entity = self._entity(queue)
        for message in messages:
            _check_message(entity, message)
        with self._transaction() as db:
            now = self._now()
            return [self._insert(db, entity, message, now) for message in messages]

    def unused_sequence_number(self) -> int:
        """A sequence number no message has, from the namespace's counter.

        Service Bus answers a schedule request with one sequence number per message, also for one that
        duplicate detection drops (Azure/azure-service-bus#265), and azure-servicebus cannot decode an
        answer that has fewer.
        """
        with self._transaction() as db:
            row = db.execute("UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'messages' RETURNING seq").fetchone()
            if row is None:  # no message was ever stored: the counter starts here
                db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('messages', 1)")
                return 1
            return int(row[0])

    def cancel_scheduled(self, queue: str, sequence_numbers: list[int]) -> None:
        """Remove scheduled messages that are not visible yet; MessageNotFound names any that are not."""
        self._entity(queue)
        with self._transaction() as db:
            now = self._now()
            marks = _marks(sequence_numbers)
            found = {row["seq"] for row in db.execute(
                "SELECT seq FROM messages WHERE queue = ? AND scheduled = 1 AND visible_at > ?"
                f" AND dead_lettered = 0 AND lock_token IS NULL AND seq IN ({marks})",
                (queue, now, *sequence_numbers),
            )}
            missing = sorted(set(sequence_numbers) - found)
            if missing:
                raise MessageNotFound(entity=queue, what="scheduled", sequence_numbers=missing)
            db.execute(f"DELETE FROM messages WHERE seq IN ({marks})", sequence_numbers)

    # Receiving

    def receive(
        self,
        entity_path: str,
        *,
        max_messages: int = 1,
        timeout: float = 0.0,
        mode: ReceiveMode = ReceiveMode.PEEK_LOCK,
    ) -> list[ReceivedMessage]:
        """Up to `max_messages` visible messages in sequence order, waiting up to `timeout` for the first."""
        path, entity = self._path(entity_path)
        if entity.requires_session and not path.dead_letter:
            raise InvalidOperation(entity=str(path), problem="the queue requires sessions: accept a session first")
        return self._wait(
            path.queue, timeout, lambda db, now: self._take(db, entity, path, None, max_messages, mode, now)
        )

    def receive_deferred(
        self,
        entity_path: str,
        sequence_numbers: list[int],
        *,
        session: SessionLock | None = None,
        mode: ReceiveMode = ReceiveMode.PEEK_LOCK,
    ) -> list[ReceivedMessage]:
        """The deferred messages with these sequence numbers; expired ones go to the DLQ instead, as in Azure
        (https://learn.microsoft.com/azure/service-bus-messaging/message-deferral)."""
        path, entity = self._path(entity_path)
        with self._transaction() as db:
            now = self._now()
            self._expire_locks(db, path.queue, now)
            locked_until = self._held_session(db, session, now) if session else None
            rows = db.execute(
                f"SELECT * FROM messages WHERE queue = ? AND dead_lettered = ? AND deferred = 1 AND lock_token IS NULL"
                f" AND seq IN ({_marks(sequence_numbers)}) ORDER BY seq",
                (path.queue, int(path.dead_letter), *sequence_numbers),
            ).fetchall()
            if session is not None:
                rows = [row for row in rows if row["session_id"] == session.session_id]
            missing = sorted(set(sequence_numbers) - {row["seq"] for row in rows})
            if missing:
                raise MessageNotFound(entity=str(path), what="unlocked deferred", sequence_numbers=missing)
            return [
                message for row in rows
                if (message := self._deliver(db, entity, path, row, mode, now, session, locked_until)) is not None
            ]

    def peek(
        self,
        entity_path: str,
        *,
        from_sequence_number: int = 0,
        max_messages: int = 1,
        session_id: str | None = None,
    ) -> list[ReceivedMessage]:
        """Messages from `from_sequence_number` on, locked, deferred and scheduled ones included, without locking."""
        path, _ = self._path(entity_path)
        with self._transaction() as db:
            now = self._now()
            session_filter = "" if session_id is None else " AND session_id = ?"
            rows = db.execute(
                f"SELECT * FROM messages WHERE queue = ? AND dead_lettered = ? AND seq >= ?{session_filter}"
                " ORDER BY seq LIMIT ?",
                (path.queue, int(path.dead_letter), from_sequence_number,
                 *(() if session_id is None else (session_id,)), max_messages),
            ).fetchall()
            return [received(row, now=now) for row in rows]

    def message_counts(self, queue: str) -> MessageCounts:
        """What `queue` holds now (expired messages count until a receiver meets them, as in Azure)."""
        self._entity(queue)
        with self._transaction() as db:
            now = self._now()
            row = db.execute(
                "SELECT"
                " SUM(dead_lettered = 0 AND deferred = 0 AND visible_at <= ? AND lock_token IS NULL),"
                " SUM(dead_lettered = 0 AND deferred = 0 AND visible_at > ?),"
                " SUM(dead_lettered = 0 AND deferred = 1),"
                " SUM(lock_token IS NOT NULL),"
                " SUM(dead_lettered = 1)"
                " FROM messages WHERE queue = ?",
                (now, now, queue),
            ).fetchone()
            return MessageCounts(*(int(value or 0) for value in row))

    # Settling (peek-lock)

    def complete(self, entity_path: str, lock_token: str) -> None:
        """Delete the locked message."""
        with self._settling(entity_path, lock_token) as (db, _, row):
            db.execute("DELETE FROM messages WHERE seq = ?", (row["seq"],))

    def abandon(self, entity_path: str, lock_token: str, properties: Mapping[str, PropertyValue] | None = None) -> None:
        """Release the lock at once, counting a failed delivery (MaxDeliveryCountExceeded at the limit)."""
        with self._settling(entity_path, lock_token) as (db, entity, row):
            self._modify_properties(db, row, properties)
            self._count_failed_delivery(db, entity, row)

    def release(self, entity_path: str, lock_token: str) -> None:
        """Unlock without counting a delivery: an AMQP `released` outcome (Azure/amqpnetlite#342), not an abandon."""
        with self._settling(entity_path, lock_token) as (db, _, row):
            db.execute(
                "UPDATE messages SET lock_token = NULL, locked_until = NULL, session_lock = NULL WHERE seq = ?",
                (row["seq"],),
            )

    def defer(self, entity_path: str, lock_token: str, properties: Mapping[str, PropertyValue] | None = None) -> None:
        """Set the message aside: only `receive_deferred` with its sequence number gets it again."""
        with self._settling(entity_path, lock_token) as (db, _, row):
            self._modify_properties(db, row, properties)
            db.execute(
                "UPDATE messages SET deferred = 1, lock_token = NULL, locked_until = NULL, session_lock = NULL"
                " WHERE seq = ?",
                (row["seq"],),
            )

    def dead_letter(
        self,
        entity_path: str,
        lock_token: str,
        *,
        reason: str | None = None,
        description: str | None = None,
        properties: Mapping[str, PropertyValue] | None = None,
    ) -> None:
        """Move the locked message to the dead-letter sub-queue with the receiver's reason and description."""
        with self._settling(entity_path, lock_token) as (db, _, row):
            if row["dead_lettered"]:
                raise InvalidOperation(
                    entity=entity_path, problem="a message in a dead-letter queue cannot be dead-lettered again"
                )
            self._modify_properties(db, row, properties)
            _move_to_dead_letter(db, row["seq"], reason, description)

    def renew_lock(self, entity_path: str, lock_token: str) -> datetime:
        """Extend a message lock by the entity's lock duration; session messages renew the session lock instead."""
        with self._settling(entity_path, lock_token) as (db, entity, row):
            if row["session_lock"] is not None:
                raise InvalidOperation(
                    entity=entity_path, problem="a session message's lock is the session lock: renew that"
                )
            until = self._now() + self._lock_seconds(entity)
            db.execute("UPDATE messages SET locked_until = ? WHERE seq = ?", (until, row["seq"]))
            return to_datetime(until)  # type: ignore[return-value]

    # Sessions

    def accept_session(self, queue: str, session_id: str | None = None, *, timeout: float = 0.0) -> SessionLock:
        """Lock session `session_id`, or the session of the oldest visible message no one holds.

        Waits up to `timeout` wall seconds, then raises SessionCannotBeLocked.
        """
        entity = self._entity(queue)
        if not entity.requires_session:
            raise InvalidOperation(entity=queue, problem="the queue does not use sessions")
        locks = self._wait(queue, timeout, lambda db, now: self._lock_session(db, entity, session_id, now))
        if not locks:
            raise SessionCannotBeLocked(entity=queue, session_id=session_id)
        return locks[0]

    def receive_from_session(
        self,
        session: SessionLock,
        *,
        max_messages: int = 1,
        timeout: float = 0.0,
        mode: ReceiveMode = ReceiveMode.PEEK_LOCK,
    ) -> list[ReceivedMessage]:
        """The session's next messages in sequence order (FIFO), locked under the session lock."""
        path, entity = self._path(session.queue)

        def take(db: sqlite3.Connection, now: float) -> list[ReceivedMessage]:
            self._held_session(db, session, now)
            return self._take(db, entity, path, session, max_messages, mode, now)

        return self._wait(session.queue, timeout, take)

    def renew_session_lock(self, session: SessionLock) -> SessionLock:
        """Extend the session lock (and its messages' locks) by the entity's lock duration."""
        _, entity = self._path(session.queue)
        with self._transaction() as db:
            now = self._now()
            self._expire_locks(db, session.queue, now)
            self._held_session(db, session, now)
            until = now + self._lock_seconds(entity)
            db.execute("UPDATE sessions SET locked_until = ? WHERE lock_token = ?", (until, session.token))
            db.execute("UPDATE messages SET locked_until = ? WHERE session_lock = ?", (until, session.token))
            return replace(session, locked_until=to_datetime(until))

    def get_session_state(self, session: SessionLock) -> bytes | None:
        """The state the session's receivers stored, or None."""
        with self._transaction() as db:
            now = self._now()
            self._expire_locks(db, session.queue, now)
            self._held_session(db, session, now)
            row = db.execute("SELECT state FROM sessions WHERE lock_token = ?", (session.token,)).fetchone()
            return None if row["state"] is None else bytes(row["state"])

    def set_session_state(self, session: SessionLock, state: bytes | None) -> None:
        """Store `state` with the session (None clears it); it outlives the lock and restarts."""
        with self._transaction() as db:
            now = self._now()
            self._expire_locks(db, session.queue, now)
            self._held_session(db, session, now)
            db.execute("UPDATE sessions SET state = ? WHERE lock_token = ?", (state, session.token))

    def release_session(self, session: SessionLock) -> None:
        """Give the session up (a receiver closing): its unsettled messages return without a failed delivery."""
        with self._transaction() as db:
            db.execute(
                "UPDATE messages SET lock_token = NULL, locked_until = NULL, session_lock = NULL"
                " WHERE session_lock = ?",
                (session.token,),
            )
            _unlock_session(db, session.token)

    # Internals

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction under the broker lock; waiters are woken if it changed anything."""
        with self._mutex:
            if self._closed:
                raise BrokerClosed("the local Service Bus was closed; start it again on the same state dir to continue")
            before = self._db.total_changes
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            if self._db.total_changes != before:
                self._changed.notify_all()

    def _wait(
        self, queue: str, timeout: float, attempt: Callable[[sqlite3.Connection, float], list[T] | T | None]
    ) -> list[T]:
        """Run `attempt` until it yields something or `timeout` wall seconds pass, sleeping on the condition."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                with self._transaction() as db:
                    now = self._now()
                    self._expire_locks(db, queue, now)
                    result = attempt(db, now)
                    next_event = _next_event(db, queue, now)
                found = result if isinstance(result, list) else ([] if result is None else [result])
                remaining = deadline - time.monotonic()
                if found or remaining <= 0:
                    return found
                until_event = _MAX_WAIT_SLICE if next_event is None else self._clock.wall_seconds(next_event - now)
                self._changed.wait(min(remaining, until_event, _MAX_WAIT_SLICE))

    def _now(self) -> float:
        return to_timestamp(self._clock.now())

    def _lock_seconds(self, entity: EntitySettings) -> float:
        """Simulated seconds a lock lasts: the entity's lock duration, at least `lock_floor` wall seconds."""
        wall = self._clock.wall_seconds(entity.lock_duration.total_seconds(), floor=self._lock_floor)
        return self._clock.simulated_seconds(wall)

    def _entity(self, queue: str) -> EntitySettings:
        entity = self._entities.get(queue)
        if entity is None:
            raise EntityNotFound(entity=queue, known=list(self._entities))
        return entity

    def _path(self, entity_path: str) -> tuple[EntityPath, EntitySettings]:
        """The queue or dead-letter sub-queue `entity_path` names, with its queue's settings."""
        path = EntityPath.parse(entity_path)
        entity = self._entities.get(path.queue)
        if entity is None:
            raise EntityNotFound(entity=entity_path, known=list(self._entities))
        return path, entity

    def _insert(self, db: sqlite3.Connection, entity: EntitySettings, message: Message, now: float) -> int | None:
        message_id = message.message_id or uuid.uuid4().hex
        if entity.requires_duplicate_detection and self._seen_recently(db, entity, message_id, now):
            return None
        scheduled = message.scheduled_enqueue_time is not None
        visible = max(now, to_timestamp(message.scheduled_enqueue_time)) if scheduled else now  # type: ignore[arg-type]
        ttl = _effective_ttl(entity, message)
        cursor = db.execute(
            "INSERT INTO messages (queue, scheduled, visible_at, expires_at, message_id, session_id, correlation_id,"
            " content_type, subject, reply_to, reply_to_session_id, to_address, partition_key, ttl_seconds,"
            " properties, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entity.name, int(scheduled), visible, None if ttl is None else visible + ttl, message_id,
                message.session_id, message.correlation_id, message.content_type, message.subject, message.reply_to,
                message.reply_to_session_id, message.to, message.partition_key, ttl,
                encode_properties(message.application_properties), message.body,
            ),
        )
        return cursor.lastrowid

    def _seen_recently(self, db: sqlite3.Connection, entity: EntitySettings, message_id: str, now: float) -> bool:
        """Duplicate detection: True (drop it) if `message_id` was accepted within the window, else record it."""
        window = entity.duplicate_detection_window.total_seconds()
        self._sends += 1
        if self._sends % _PRUNE_EVERY == 0:
            db.execute("DELETE FROM duplicates WHERE queue = ? AND seen_at <= ?", (entity.name, now - window))
        row = db.execute(
            "SELECT seen_at FROM duplicates WHERE queue = ? AND message_id = ?", (entity.name, message_id)
        ).fetchone()
        if row is not None and now - row["seen_at"] < window:
            return True
        db.execute("INSERT OR REPLACE INTO duplicates VALUES (?, ?, ?)", (entity.name, message_id, now))
        return False

    def _take(
        self,
        db: sqlite3.Connection,
        entity: EntitySettings,
        path: EntityPath,
        session: SessionLock | None,
        max_messages: int,
        mode: ReceiveMode,
        now: float,
    ) -> list[ReceivedMessage]:
        """Lock (or delete) the next visible messages; expired ones met on the way are expired instead."""
        locked_until = self._held_session(db, session, now) if session else None
        session_filter = "" if session is None else " AND session_id = ?"
        taken: list[ReceivedMessage] = []
        while len(taken) < max_messages:
            rows = db.execute(
                "SELECT * FROM messages WHERE queue = ? AND dead_lettered = ? AND deferred = 0 AND lock_token IS NULL"
                f" AND visible_at <= ?{session_filter} ORDER BY seq LIMIT ?",
                (path.queue, int(path.dead_letter), now, *(() if session is None else (session.session_id,)),
                 max_messages - len(taken)),
            ).fetchall()
            if not rows:
                break
            taken.extend(
                message for row in rows
                if (message := self._deliver(db, entity, path, row, mode, now, session, locked_until)) is not None
            )
        return taken

    def _deliver(
        self,
        db: sqlite3.Connection,
        entity: EntitySettings,
        path: EntityPath,
        row: sqlite3.Row,
        mode: ReceiveMode,
        now: float,
        session: SessionLock | None,
        session_locked_until: float | None,
    ) -> ReceivedMessage | None:
        """Hand `row` to a receiver, or expire it if its time to live has passed (the DLQ does not expire)."""
        if not path.dead_letter and row["expires_at"] is not None and row["expires_at"] <= now:
            _expire(db, entity, row)
            return None
        if mode is ReceiveMode.RECEIVE_AND_DELETE:
            db.execute("DELETE FROM messages WHERE seq = ?", (row["seq"],))
            return received(row, now=now)
        token = str(uuid.uuid4())
        until = session_locked_until if session_locked_until is not None else now + self._lock_seconds(entity)
        db.execute(
            "UPDATE messages SET lock_token = ?, locked_until = ?, session_lock = ? WHERE seq = ?",
            (token, until, None if session is None else session.token, row["seq"]),
        )
        return received(row, now=now, lock_token=token, locked_until=until)

    @contextmanager
    def _settling(
        self, entity_path: str, lock_token: str
    ) -> Iterator[tuple[sqlite3.Connection, EntitySettings, sqlite3.Row]]:
        """The row `lock_token` locks now, inside a transaction; MessageLockLost if there is none."""
        path, entity = self._path(entity_path)
        with self._transaction() as db:
            self._expire_locks(db, path.queue, self._now())
            row = db.execute(
                "SELECT * FROM messages WHERE lock_token = ? AND queue = ? AND dead_lettered = ?",
                (lock_token, path.queue, int(path.dead_letter)),
            ).fetchone()
            if row is None:
                raise MessageLockLost(entity=str(path), lock_token=lock_token)
            yield db, entity, row

    def _expire_locks(self, db: sqlite3.Connection, queue: str, now: float) -> None:
        """Locks whose time is up: each of their messages counts a failed delivery, as Azure counts it."""
        entity = self._entities[queue]
        for session in db.execute(
            "SELECT lock_token FROM sessions WHERE queue = ? AND lock_token IS NOT NULL AND locked_until <= ?",
            (queue, now),
        ).fetchall():
            for row in db.execute("SELECT * FROM messages WHERE session_lock = ?", (session["lock_token"],)).fetchall():
                self._count_failed_delivery(db, entity, row)
            _unlock_session(db, session["lock_token"])
        for row in db.execute(
            "SELECT * FROM messages WHERE queue = ? AND lock_token IS NOT NULL AND session_lock IS NULL"
            " AND locked_until <= ?",
            (queue, now),
        ).fetchall():
            self._count_failed_delivery(db, entity, row)

    def _count_failed_delivery(self, db: sqlite3.Connection, entity: EntitySettings, row: sqlite3.Row) -> None:
        """Unlock after an abandon or a lost lock; at maxDeliveryCount the message moves to the DLQ."""
        failed = row["failed_deliveries"] + 1
        db.execute(
            "UPDATE messages SET failed_deliveries = ?, lock_token = NULL, locked_until = NULL, session_lock = NULL"
            " WHERE seq = ?",
            (failed, row["seq"]),
        )
        if not row["dead_lettered"] and failed >= entity.max_delivery_count:
            _move_to_dead_letter(db, row["seq"], MAX_DELIVERY_REASON, MAX_DELIVERY_DESCRIPTION)

    def _modify_properties(
        self, db: sqlite3.Connection, row: sqlite3.Row, properties: Mapping[str, PropertyValue] | None
    ) -> None:
        if not properties:
            return
        problem = property_type_problem(properties)
        if problem:
            raise InvalidMessage(entity=row["queue"], problem=problem)
        merged = {**decode_properties(row["properties"]), **properties}
        db.execute("UPDATE messages SET properties = ? WHERE seq = ?", (encode_properties(merged), row["seq"]))

    def _lock_session(
        self, db: sqlite3.Connection, entity: EntitySettings, session_id: str | None, now: float
    ) -> SessionLock | None:
        """Lock the named session if no one holds it, or the next available one; None if there is none."""
        if session_id is None:
            row = db.execute(
                "SELECT m.session_id FROM messages m WHERE m.queue = ? AND m.dead_lettered = 0 AND m.deferred = 0"
                " AND m.lock_token IS NULL AND m.visible_at <= ? AND m.session_id IS NOT NULL AND NOT EXISTS ("
                "  SELECT 1 FROM sessions s WHERE s.queue = m.queue AND s.session_id = m.session_id"
                "  AND s.lock_token IS NOT NULL) ORDER BY m.seq LIMIT 1",
                (entity.name, now),
            ).fetchone()
            if row is None:
                return None
            session_id = row["session_id"]
        else:
            held = db.execute(
                "SELECT 1 FROM sessions WHERE queue = ? AND session_id = ? AND lock_token IS NOT NULL",
                (entity.name, session_id),
            ).fetchone()
            if held is not None:
                return None
        token, until = str(uuid.uuid4()), now + self._lock_seconds(entity)
        db.execute(
            "INSERT INTO sessions (queue, session_id, lock_token, locked_until) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (queue, session_id) DO UPDATE SET lock_token = excluded.lock_token,"
            " locked_until = excluded.locked_until",
            (entity.name, session_id, token, until),
        )
        return SessionLock(entity.name, session_id, token, to_datetime(until))  # type: ignore[arg-type]

    def _held_session(self, db: sqlite3.Connection, session: SessionLock, now: float) -> float:
        """The session lock's expiry if `session` still holds it (expired locks were cleared before)."""
        row = db.execute(
            "SELECT locked_until FROM sessions WHERE lock_token = ? AND queue = ? AND session_id = ?",
            (session.token, session.queue, session.session_id),
        ).fetchone()
        if row is None or row["locked_until"] <= now:
            raise SessionLockLost(entity=session.queue, session_id=session.session_id)
        return float(row["locked_until"])


def _check_message(entity: EntitySettings, message: Message) -> None:
    """Refuse what Service Bus refuses at send time, before anything is stored."""
    problem = property_type_problem(message.application_properties)
    for name, value in (("MessageId", message.message_id), ("SessionId", message.session_id),
                        ("PartitionKey", message.partition_key)):
        if value is not None and len(value) > MAX_ID_LENGTH:
            problem = f"its {name} has {len(value)} characters, at most {MAX_ID_LENGTH} are allowed"
    if entity.requires_session and not message.session_id:
        problem = "the queue requires sessions and the message has no SessionId"
    if message.time_to_live is not None and message.time_to_live.total_seconds() <= 0:
        problem = "its TimeToLive must be positive"
    if problem:
        raise InvalidMessage(entity=entity.name, problem=problem)
    size = message_size(message)
    if size > entity.max_message_bytes:
        raise MessageSizeExceeded(entity=entity.name, size=size, limit=entity.max_message_bytes)


def _effective_ttl(entity: EntitySettings, message: Message) -> float | None:
    """Seconds to live: the message's own TTL, capped by the entity's default (Azure applies the smaller)."""
    candidates = [ttl.total_seconds() for ttl in (message.time_to_live, entity.default_message_ttl) if ttl is not None]
    return min(candidates) if candidates else None


def _expire(db: sqlite3.Connection, entity: EntitySettings, row: sqlite3.Row) -> None:
    """A message past its time to live: to the DLQ if the entity dead-letters on expiry, else gone."""
    if entity.dead_lettering_on_expiration:
        _move_to_dead_letter(db, row["seq"], TTL_EXPIRED_REASON, TTL_EXPIRED_DESCRIPTION)
    else:
        db.execute("DELETE FROM messages WHERE seq = ?", (row["seq"],))


def _move_to_dead_letter(db: sqlite3.Connection, seq: int, reason: str | None, description: str | None) -> None:
    db.execute(
        "UPDATE messages SET dead_lettered = 1, deferred = 0, lock_token = NULL, locked_until = NULL,"
        " session_lock = NULL, dead_letter_reason = ?, dead_letter_description = ? WHERE seq = ?",
        (reason, description, seq),
    )


def _unlock_session(db: sqlite3.Connection, token: str) -> None:
    db.execute("UPDATE sessions SET lock_token = NULL, locked_until = NULL WHERE lock_token = ?", (token,))


def _next_event(db: sqlite3.Connection, queue: str, now: float) -> float | None:
    """The next simulated instant at which something may become receivable: a scheduled message or a lock expiry."""
    row = db.execute(
        "SELECT MIN(t) FROM ("
        " SELECT MIN(visible_at) AS t FROM messages WHERE queue = ? AND dead_lettered = 0 AND visible_at > ?"
        " UNION ALL SELECT MIN(locked_until) FROM messages WHERE queue = ? AND locked_until > ?"
        " UNION ALL SELECT MIN(locked_until) FROM sessions WHERE queue = ? AND locked_until > ?)",
        (queue, now, queue, now, queue, now),
    ).fetchone()
    return None if row[0] is None else float(row[0])


def _marks(values: list[int]) -> str:
    """SQL placeholders for an IN list."""
    return ", ".join("?" for _ in values) or "NULL"
