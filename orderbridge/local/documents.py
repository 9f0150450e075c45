"""A small durable document store (SQLite, WAL) for the fakes' data and their outboxes in the state dir.

The fake ECP and ERP keep their data in memory for tests; the local stack writes every change
through to this store, in one transaction with the events that announce it (publisher), before
the change is answered, so a killed stack resumes with the data it had acknowledged.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence


class DocumentStore:
    """JSON documents by kind and key, plus an append-only journal per kind."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS documents (kind TEXT, key TEXT, body TEXT, PRIMARY KEY (kind, key))"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT, key TEXT, body TEXT)"
        )
        self._lock = threading.RLock()
        self._depth = 0

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything written inside is committed together or not at all (nested blocks join the outer one).

        A change and the event that announces it are written in one transaction, so a killed stack
        never keeps one without the other.
        """
        with self._lock:
            self._depth += 1
            if self._depth == 1:
                self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if self._depth == 1:
                    self._db.execute("ROLLBACK")
                raise
            else:
                if self._depth == 1:
                    self._db.execute("COMMIT")
            finally:
                self._depth -= 1

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        """One statement, in the current transaction if there is one (for tables of other parts, e.g. an outbox)."""
        with self._lock:
            return self._db.execute(sql, parameters)

    def rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, parameters).fetchall()

    def put(self, kind: str, key: str, body: Any) -> None:
        """Store (or replace) one document."""
        self.execute("INSERT OR REPLACE INTO documents (kind, key, body) VALUES (?, ?, ?)", (kind, key, json.dumps(body)))

    def delete(self, kind: str, key: str) -> None:
        self.execute("DELETE FROM documents WHERE kind = ? AND key = ?", (kind, key))

    def all(self, kind: str) -> Iterator[tuple[str, Any]]:
        """Every document of `kind`, in key order."""
        rows = self.rows("SELECT key, body FROM documents WHERE kind = ? ORDER BY key", (kind,))
        return ((key, json.loads(body)) for key, body in rows)

    def append(self, kind: str, key: str, body: Any) -> None:
        """Add an entry to the journal of `kind` (e.g. every version an order was given)."""
        self.execute("INSERT INTO journal (kind, key, body) VALUES (?, ?, ?)", (kind, key, json.dumps(body)))

    def journal(self, kind: str) -> list[tuple[str, Any]]:
        """The journal of `kind`, in the order it was written."""
        rows = self.rows("SELECT key, body FROM journal WHERE kind = ? ORDER BY seq", (kind,))
        return [(key, json.loads(body)) for key, body in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
