"""The broker's SQLite file: schema, durable settings, and rows turned into messages.

WAL mode with `synchronous=FULL`: a transaction is on disk once COMMIT returns, so a send is
acknowledged only after its message survives a crash (https://www.sqlite.org/pragma.html#pragma_synchronous,
https://www.sqlite.org/wal.html). Times are simulated UTC instants stored as POSIX seconds.
"""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

from orderbridge.local.errors import LocalStackError
from orderbridge.local.servicebus._messages import MessageState, ReceivedMessage, decode_properties

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    dead_lettered INTEGER NOT NULL DEFAULT 0,
    deferred INTEGER NOT NULL DEFAULT 0,
    scheduled INTEGER NOT NULL DEFAULT 0,
    visible_at REAL NOT NULL,
    expires_at REAL,
    message_id TEXT NOT NULL,
    session_id TEXT,
    failed_deliveries INTEGER NOT NULL DEFAULT 0,
    lock_token TEXT UNIQUE,
    locked_until REAL,
    session_lock TEXT,
    correlation_id TEXT,
    content_type TEXT,
    subject TEXT,
    reply_to TEXT,
    reply_to_session_id TEXT,
    to_address TEXT,
    partition_key TEXT,
    ttl_seconds REAL,
    dead_letter_reason TEXT,
    dead_letter_description TEXT,
    properties TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_in_order ON messages (queue, dead_lettered, seq);
CREATE INDEX IF NOT EXISTS messages_in_session_order ON messages (queue, dead_lettered, session_id, seq);
CREATE INDEX IF NOT EXISTS messages_by_visibility ON messages (queue, visible_at);
CREATE INDEX IF NOT EXISTS messages_locked ON messages (queue, locked_until) WHERE lock_token IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_by_session_lock ON messages (session_lock);
CREATE TABLE IF NOT EXISTS sessions (
    queue TEXT NOT NULL,
    session_id TEXT NOT NULL,
    state BLOB,
    lock_token TEXT UNIQUE,
    locked_until REAL,
    PRIMARY KEY (queue, session_id)
);
CREATE TABLE IF NOT EXISTS duplicates (
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    seen_at REAL NOT NULL,
    PRIMARY KEY (queue, message_id)
);
"""


def open_store(path: Path | str) -> sqlite3.Connection:
    """The broker's database at `path`, created if new, in WAL mode with full sync."""
    try:
        db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        db.row_factory = sqlite3.Row
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(f"BEGIN;\n{SCHEMA}\nCOMMIT;")  # one transaction: one sync, not one per table
    except sqlite3.Error as exc:
        raise LocalStackError(
            f"cannot open the local Service Bus store {path}: {exc}; check that the state dir is writable"
            " and that no other process holds it"
        ) from exc
    if str(mode).lower() != "wal":
        db.close()
        raise LocalStackError(
            f"the local Service Bus store {path} cannot use WAL mode (got {mode!r}); put the state dir on a local disk"
        )
    return db


def to_timestamp(moment: datetime) -> float:
    """POSIX seconds of an aware (or UTC-naive) datetime."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return aware.timestamp()


def to_datetime(seconds: float | None) -> datetime | None:
    """The aware UTC datetime of stored POSIX seconds."""
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=timezone.utc)


def received(
    row: sqlite3.Row, *, now: float, lock_token: str | None = None, locked_until: float | None = None
) -> ReceivedMessage:
    """A stored row as a receiver sees it; DeliveryCount is the failed deliveries plus this one."""
    if row["deferred"]:
        state = MessageState.DEFERRED
    elif row["visible_at"] > now:
        state = MessageState.SCHEDULED
    else:
        state = MessageState.ACTIVE
    ttl = row["ttl_seconds"]
    return ReceivedMessage(
        body=bytes(row["body"]),
        sequence_number=row["seq"],
        message_id=row["message_id"],
        delivery_count=row["failed_deliveries"] + 1,
        # A scheduled message is enqueued when it becomes visible, which is what Azure reports.
        enqueued_time=to_datetime(row["visible_at"]),  # type: ignore[arg-type]
        state=state,
        correlation_id=row["correlation_id"],
        session_id=row["session_id"],
        content_type=row["content_type"],
        subject=row["subject"],
        reply_to=row["reply_to"],
        reply_to_session_id=row["reply_to_session_id"],
        to=row["to_address"],
        partition_key=row["partition_key"],
        time_to_live=None if ttl is None else timedelta(seconds=ttl),
        expires_at=to_datetime(row["expires_at"]),
        scheduled_enqueue_time=to_datetime(row["visible_at"]) if row["scheduled"] else None,
        application_properties=decode_properties(row["properties"]),
        lock_token=lock_token,
        locked_until=to_datetime(locked_until),
        dead_letter_reason=row["dead_letter_reason"],
        dead_letter_error_description=row["dead_letter_description"],
    )
