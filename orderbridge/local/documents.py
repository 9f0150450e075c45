"""A small durable document store (SQLite, WAL) for the fakes' data in the state dir.

The fake ECP and ERP keep their data in memory for tests; the local stack writes every change
through to this store before the change is answered, so a killed stack resumes with the data it
had acknowledged.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterator


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
        self._lock = threading.Lock()

    def put(self, kind: str, key: str, body: Any) -> None:
        """Store (or replace) one document."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO documents (kind, key, body) VALUES (?, ?, ?)", (kind, key, json.dumps(body))
            )

    def delete(self, kind: str, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM documents WHERE kind = ? AND key = ?", (kind, key))

    def all(self, kind: str) -> Iterator[tuple[str, Any]]:
        """Every document of `kind`, in key order."""
        with self._lock:
            rows = self._db.execute("SELECT key, body FROM documents WHERE kind = ? ORDER BY key", (kind,)).fetchall()
        return ((key, json.loads(body)) for key, body in rows)

    def append(self, kind: str, key: str, body: Any) -> None:
        """Add an entry to the journal of `kind` (e.g. every version an order was given)."""
        with self._lock:
            self._db.execute("INSERT INTO journal (kind, key, body) VALUES (?, ?, ?)", (kind, key, json.dumps(body)))

    def journal(self, kind: str) -> list[tuple[str, Any]]:
        """The journal of `kind`, in the order it was written."""
        with self._lock:
            rows = self._db.execute("SELECT key, body FROM journal WHERE kind = ? ORDER BY seq", (kind,)).fetchall()
        return [(key, json.loads(body)) for key, body in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
