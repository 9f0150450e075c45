"""The Event Grid store: every accepted event and its delivery state per subscription, in SQLite.

WAL mode. A publish commits with `synchronous=FULL`: it is answered 200 only once its events are
on disk, and survive a kill or a power cut. Delivery bookkeeping commits with `NORMAL` (about
5 ms less per commit; it survives a kill, and what a power cut loses is redelivered, never
lost). Deliveries in flight when the process died are back to `pending` at the next open
(at-least-once, as Azure). Times are simulated UTC epoch seconds.
"""
from __future__ import annotations

import base64
import json
import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PENDING = "pending"
DELIVERING = "delivering"
DELIVERED = "delivered"
DEAD_LETTER_DUE = "dead_letter_due"  # waiting out Azure's delay before the blob is written
DEAD_LETTERED = "dead_lettered"
DROPPED = "dropped"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topic_keys (topic TEXT PRIMARY KEY, key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    body TEXT NOT NULL,
    size INTEGER NOT NULL,
    published_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    subscription TEXT NOT NULL,
    seq INTEGER NOT NULL REFERENCES events(seq),
    state TEXT NOT NULL,
    due_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_outcome TEXT,
    last_status INTEGER,
    last_attempt_at REAL,
    dead_letter_reason TEXT,
    dead_letter_since REAL,  -- when the first write of its dead letter was due (Azure drops it after 4 h of failures)
    blob_name TEXT,
    PRIMARY KEY (subscription, seq)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (subscription, state, due_at);
CREATE TABLE IF NOT EXISTS validated_endpoints (subscription TEXT PRIMARY KEY, endpoint_hash TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Delivery:
    """One event on its way to one subscription."""

    seq: int
    event: dict[str, Any]
    size: int
    published_at: float
    attempts: int
    last_outcome: str | None
    last_status: int | None
    last_attempt_at: float | None
    dead_letter_reason: str | None = None
    dead_letter_since: float | None = None


@dataclass(frozen=True)
class Outcome:
    """What to record for one delivery after an attempt (or a TTL check)."""

    seq: int
    state: str
    due_at: float
    attempts: int
    last_outcome: str | None
    last_status: int | None
    last_attempt_at: float | None
    dead_letter_reason: str | None = None


class EventStore:
    """SQLite-backed events and deliveries; one instance per process, used from one thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._db.execute("UPDATE deliveries SET state = ? WHERE state = ?", (PENDING, DELIVERING))

    def close(self) -> None:
        self._db.close()

    def topic_key(self, topic: str) -> str:
        """The topic's access key: made once per state dir, so publishers keep working after a restart."""
        row = self._db.execute("SELECT key FROM topic_keys WHERE topic = ?", (topic,)).fetchone()
        if row:
            return row[0]
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        with self._transaction(durable=True):
            self._db.execute("INSERT INTO topic_keys (topic, key) VALUES (?, ?)", (topic, key))
        return key

    def accept(self, topic: str, routed: Sequence[tuple[dict[str, Any], Sequence[str]]], now: float) -> None:
        """Store each event with a pending delivery for each subscription it is routed to, in one transaction."""
        with self._transaction(durable=True):
            for event, subscriptions in routed:
                body = json.dumps(event, separators=(",", ":"))
                seq = self._db.execute(
                    "INSERT INTO events (topic, body, size, published_at) VALUES (?, ?, ?, ?)",
                    (topic, body, len(body.encode()), now),
                ).lastrowid
                self._db.executemany(
                    "INSERT INTO deliveries (subscription, seq, state, due_at) VALUES (?, ?, ?, ?)",
                    [(name, seq, PENDING, now) for name in subscriptions],
                )

    def claim_due(self, subscription: str, now: float, limit: int) -> list[Delivery]:
        """Up to `limit` due deliveries, oldest first, marked in flight."""
        with self._transaction():
            rows = self._select(
                "d.subscription = ? AND d.state = ? AND d.due_at <= ? ORDER BY d.due_at, d.seq LIMIT ?",
                (subscription, PENDING, now, limit),
            )
            self._set_state(subscription, DELIVERING, [r.seq for r in rows])
        return rows

    def release(self, subscription: str, seqs: Iterable[int]) -> None:
        """Put claimed deliveries back, unattempted (they did not fit in the batch)."""
        with self._transaction():
            self._set_state(subscription, PENDING, list(seqs))

    def record(self, subscription: str, outcomes: Sequence[Outcome]) -> None:
        """Record the outcome of an attempt for each delivery, in one transaction."""
        with self._transaction():
            self._db.executemany(
                """UPDATE deliveries SET state = ?, due_at = ?, attempts = ?, last_outcome = ?, last_status = ?,
                       last_attempt_at = ?, dead_letter_reason = ?,
                       dead_letter_since = CASE WHEN ? = ? THEN ? ELSE NULL END
                   WHERE subscription = ? AND seq = ?""",
                [
                    (o.state, o.due_at, o.attempts, o.last_outcome, o.last_status, o.last_attempt_at,
                     o.dead_letter_reason, o.state, DEAD_LETTER_DUE, o.due_at, subscription, o.seq)
                    for o in outcomes
                ],
            )

    def due_dead_letters(self, subscription: str, now: float) -> list[Delivery]:
        """Dead letters whose delay has passed, ready to be written to the container."""
        return self._select(
            "d.subscription = ? AND d.state = ? AND d.due_at <= ? ORDER BY d.seq", (subscription, DEAD_LETTER_DUE, now)
        )

    def mark_dead_lettered(self, subscription: str, seqs: Sequence[int], blob_name: str) -> None:
        """The blob holding these dead letters is written."""
        with self._transaction():
            self._db.executemany(
                "UPDATE deliveries SET state = ?, blob_name = ? WHERE subscription = ? AND seq = ?",
                [(DEAD_LETTERED, blob_name, subscription, seq) for seq in seqs],
            )

    def postpone_dead_letters(self, subscription: str, seqs: Sequence[int], due_at: float) -> None:
        """The container was unavailable: try these dead letters again at `due_at`."""
        with self._transaction():
            self._db.executemany(
                "UPDATE deliveries SET due_at = ? WHERE subscription = ? AND seq = ?",
                [(due_at, subscription, seq) for seq in seqs],
            )

    def drop(self, subscription: str, seqs: Sequence[int], reason: str) -> None:
        """Give these deliveries up, keeping why (Azure drops them; the reason stays visible here)."""
        with self._transaction():
            self._db.executemany(
                "UPDATE deliveries SET state = ?, dead_letter_reason = ? WHERE subscription = ? AND seq = ?",
                [(DROPPED, reason, subscription, seq) for seq in seqs],
            )

    def next_due(self, subscription: str) -> float | None:
        """When the next pending delivery or dead letter of `subscription` is due."""
        row = self._db.execute(
            "SELECT MIN(due_at) FROM deliveries WHERE subscription = ? AND state IN (?, ?)",
            (subscription, PENDING, DEAD_LETTER_DUE),
        ).fetchone()
        return row[0]

    def states(self, subscription: str) -> dict[str, int]:
        """How many deliveries of `subscription` are in each state."""
        rows = self._db.execute(
            "SELECT state, COUNT(*) FROM deliveries WHERE subscription = ? GROUP BY state", (subscription,)
        )
        return dict(rows.fetchall())

    def deliveries(self, subscription: str) -> list[dict[str, Any]]:
        """Every delivery of `subscription` with its event id and state, oldest first (for summaries)."""
        rows = self._db.execute(
            """SELECT e.body, d.state, d.attempts, d.last_outcome, d.dead_letter_reason, d.blob_name
               FROM deliveries d JOIN events e ON e.seq = d.seq WHERE d.subscription = ? ORDER BY d.seq""",
            (subscription,),
        )
        return [
            {"id": json.loads(body)["id"], "state": state, "attempts": attempts, "lastDeliveryOutcome": outcome,
             "deadLetterReason": reason, "blob": blob}
            for body, state, attempts, outcome, reason, blob in rows
        ]

    def validated_endpoint(self, subscription: str) -> str | None:
        """The hash of the webhook URL that last passed the handshake (the URL itself is a secret)."""
        row = self._db.execute(
            "SELECT endpoint_hash FROM validated_endpoints WHERE subscription = ?", (subscription,)
        ).fetchone()
        return row[0] if row else None

    def set_validated_endpoint(self, subscription: str, endpoint_hash: str) -> None:
        self._db.execute(
            "INSERT INTO validated_endpoints (subscription, endpoint_hash) VALUES (?, ?) "
            "ON CONFLICT (subscription) DO UPDATE SET endpoint_hash = excluded.endpoint_hash",
            (subscription, endpoint_hash),
        )

    def _select(self, where: str, params: tuple[Any, ...]) -> list[Delivery]:
        rows = self._db.execute(
            f"""SELECT d.seq, e.body, e.size, e.published_at, d.attempts, d.last_outcome, d.last_status,
                       d.last_attempt_at, d.dead_letter_reason, d.dead_letter_since
                FROM deliveries d JOIN events e ON e.seq = d.seq WHERE {where}""",
            params,
        )
        return [
            Delivery(seq, json.loads(body), size, published, attempts, outcome, status, attempted, reason, since)
            for seq, body, size, published, attempts, outcome, status, attempted, reason, since in rows
        ]

    def _set_state(self, subscription: str, state: str, seqs: list[int]) -> None:
        self._db.executemany(
            "UPDATE deliveries SET state = ? WHERE subscription = ? AND seq = ?",
            [(state, subscription, seq) for seq in seqs],
        )

    def _transaction(self, *, durable: bool = False) -> _Transaction:
        return _Transaction(self._db, durable)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (with `synchronous=FULL` when durable), or ROLLBACK on an exception."""

    def __init__(self, db: sqlite3.Connection, durable: bool) -> None:
        self._db = db
        self._durable = durable

    def __enter__(self) -> None:
        if self._durable:
            self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        try:
            self._db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            if self._durable:
                self._db.execute("PRAGMA synchronous=NORMAL")
