"""Run history in the state dir: one SQLite row per run, its actions as the engine recorded them.

The engine has already hidden what `secureData`, credentials and the trigger's `sig` must not
show (orderbridge/wdl/README.md, "secureData"); this store writes the records as they are, so it
never holds more than Azure's run history would.
"""
from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from orderbridge.local.errors import LocalStackError
from orderbridge.wdl import ActionRecord, RunResult

SUCCEEDED = "Succeeded"
STATE_FOLDER = "logicapps"  # under the state dir
HISTORY_FILE = "runs.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    status TEXT NOT NULL,
    started TEXT NOT NULL,
    ended TEXT NOT NULL,
    answered INTEGER NOT NULL,
    billable INTEGER NOT NULL,
    error_code TEXT,
    error_message TEXT,
    actions TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_workflow ON runs (workflow, started);
"""
_COLUMNS = "run_id, workflow, status, started, ended, answered, billable, error_code, error_message"


@dataclass(frozen=True)
class RunSummary:
    """One run as the run list shows it; `answered` is the HTTP status its caller received."""

    run_id: str
    workflow: str
    status: str
    started: datetime
    ended: datetime
    answered: int
    billable: int
    error_code: str | None
    error_message: str | None

    @property
    def seconds(self) -> float:
        return (self.ended - self.started).total_seconds()


@dataclass(frozen=True)
class StoredRun:
    """A run with its trigger and action records (dicts with the fields of `wdl.ActionRecord`)."""

    summary: RunSummary
    actions: list[dict[str, Any]]


class RunHistory:
    """The run history of every hosted workflow, durable in one SQLite file (WAL)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise LocalStackError(f"cannot open the run history {path}: {exc}; is the state dir writable?") from exc

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> RunHistory:
        """The run history kept in `state_dir` (what `orderbridge local runs` reads)."""
        return cls(state_dir / STATE_FOLDER / HISTORY_FILE)

    def record(self, workflow: str, result: RunResult, answered: int) -> None:
        """Store one finished run; it is on disk when this returns."""
        actions = json.dumps([_record(result.trigger), *map(_record, result.all_records)], default=_encode)
        row = (result.run_id, workflow, result.status, _instant(result.started), _instant(result.ended),
               answered, result.billing.total, result.error_code, result.error_message, actions)
        with self._lock:
            self._db.execute(f"INSERT INTO runs ({_COLUMNS}, actions) VALUES (?,?,?,?,?,?,?,?,?,?)", row)

    def runs(self, *, workflow: str | None = None, failed: bool = False) -> list[RunSummary]:
        """Runs oldest first, of one workflow or all; `failed` keeps those that did not succeed."""
        query, arguments = f"SELECT {_COLUMNS} FROM runs WHERE 1=1", []
        if workflow is not None:
            query, arguments = query + " AND workflow = ?", [workflow]
        if failed:
            query, arguments = query + " AND status != ?", [*arguments, SUCCEEDED]
        with self._lock:
            rows = self._db.execute(query + " ORDER BY started, run_id", arguments).fetchall()
        return [_summary(row) for row in rows]

    def run(self, run_id: str) -> StoredRun:
        """One run with its records; LocalStackError naming the id when there is no such run."""
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS}, actions FROM runs WHERE run_id = ?", [run_id]).fetchone()
        if row is None:
            raise LocalStackError(f"no run {run_id!r} in the run history; `orderbridge local runs` lists them")
        return StoredRun(_summary(row[:-1]), json.loads(row[-1]))

    def billable_executions(self) -> dict[str, int]:
        """Billable executions per workflow, summed over every recorded run."""
        with self._lock:
            rows = self._db.execute("SELECT workflow, SUM(billable) FROM runs GROUP BY workflow").fetchall()
        return {workflow: int(total) for workflow, total in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _record(record: ActionRecord) -> dict[str, Any]:
    return dataclasses.asdict(record)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return _instant(value)
    raise TypeError(f"run history cannot store a {type(value).__name__}")


def _instant(moment: datetime) -> str:
    """ISO 8601 with microseconds always, so the text sorts as the time does."""
    return moment.isoformat(timespec="microseconds")


def _summary(row: tuple[Any, ...]) -> RunSummary:
    run_id, workflow, status, started, ended, answered, billable, code, message = row
    return RunSummary(run_id, workflow, status, datetime.fromisoformat(started), datetime.fromisoformat(ended),
                      answered, billable, code, message)
