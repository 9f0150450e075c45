"""The state dir: everything a local stack keeps, so `--resume` continues where a run ended.

Layout (each part owns its own file or folder under the state dir):
    stack.json      which stack, the time scale, and the simulated time the run had reached
    pids/           pid files of child processes (see processes)
    endpoints.json  every endpoint, written once all of them accept connections
plus the parts' own stores (queues, Event Grid store, run history, fakes' data, Azurite's files).

Simulated time is checkpointed every `CHECKPOINT_SECONDS` of wall time, and last after every part
has stopped; a resumed run starts one checkpoint interval (at the old time scale) after the last
checkpoint, so it never goes backwards, even after a kill.
"""
from __future__ import annotations

import json
import os
import shutil
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from orderbridge.local.clock import SimClock
from orderbridge.local.errors import LocalStackError

MANIFEST = "stack.json"
ENDPOINTS = "endpoints.json"
CHECKPOINT_SECONDS = 1.0


@dataclass(frozen=True)
class Manifest:
    """What a run records about itself for the next `--resume`."""

    stack: str
    time_scale: float
    simulated_now: str  # ISO 8601, UTC
    started_at: str  # simulated time of the first run: when the local queues were created
    kept: tuple[str, ...] = ()  # what the folder held before it became a state dir: never removed


def prepare(state_dir: Path, *, stack: str, time_scale: float, resume: bool) -> tuple[SimClock, datetime]:
    """Make `state_dir` ready for a run; return its clock and when the state dir was first started.

    A fresh run (`resume=False`) empties the state dir first; a resumed one requires the manifest of
    a run of the same stack and continues its simulated time (at the new time scale).
    """
    if time_scale < 1:
        raise LocalStackError(
            f"time scale {time_scale:g} is below 1: the SDKs check locks against the wall clock, so simulated"
            " time must never run behind it"
        )
    path = state_dir / MANIFEST
    if not resume:
        kept = _empty(state_dir)
        clock = SimClock(time_scale)
        # At once: a start that fails later still leaves a state dir the next start recognises.
        Checkpointer(state_dir, stack=stack, clock=clock, started_at=clock.now(), kept=kept).checkpoint()
        return clock, clock.now()
    try:
        manifest = _read_manifest(path)
        start = datetime.fromisoformat(manifest.simulated_now)
        started_at = datetime.fromisoformat(manifest.started_at)
    except FileNotFoundError:
        raise LocalStackError(f"--resume: {state_dir} holds no earlier run (no {MANIFEST}); start without --resume") from None
    except (ValueError, TypeError) as exc:
        raise LocalStackError(f"--resume: {path} is unreadable ({exc}); start without --resume to begin afresh") from None
    if manifest.stack != stack:
        raise LocalStackError(
            f"--resume: {state_dir} holds a run of stack {manifest.stack!r}, not {stack!r}; "
            f"pass --stack {manifest.stack} or another --state-dir"
        )
    # A killed run went on for up to one checkpoint interval after its last checkpoint. Simulated
    # time never runs behind the wall clock either: azure-servicebus checks a message's lock against
    # the wall clock, so a lock in a simulated past would be refused before it reached the broker.
    start += timedelta(seconds=CHECKPOINT_SECONDS * manifest.time_scale)
    return SimClock(time_scale, start=max(start, datetime.now(timezone.utc))), started_at


def _empty(state_dir: Path) -> tuple[str, ...]:
    """Remove an earlier run's state; return the entries that are not the stack's, which stay.

    What a folder held before it first became a state dir (and the synthesis cache beside it) is
    never removed: a `--state-dir` that names somebody's folder must not cost them a file.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    manifest = state_dir / MANIFEST
    entries = [entry for entry in state_dir.iterdir() if entry.name != "cache"]
    if not manifest.exists():
        return tuple(sorted(entry.name for entry in entries))
    kept = _read_manifest(manifest).kept
    for entry in entries:
        if entry.name not in kept:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    return kept


def _read_manifest(path: Path) -> Manifest:
    record = json.loads(path.read_text(encoding="utf-8"))
    return Manifest(**{**record, "kept": tuple(record.get("kept", ()))})


def write_json(path: Path, value: object) -> None:
    """Write `value` as JSON atomically (a reader never sees half a file)."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(value, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(temporary, path)


class Checkpointer:
    """Records the simulated time in the manifest every `CHECKPOINT_SECONDS` until stopped."""

    def __init__(
        self, state_dir: Path, *, stack: str, clock: SimClock, started_at: datetime, kept: tuple[str, ...] | None = None
    ) -> None:
        """`kept`: the folder's own entries; by default those the manifest already names."""
        self._path = state_dir / MANIFEST
        if kept is None:
            kept = _read_manifest(self._path).kept if self._path.exists() else ()
        self._kept = kept
        self._stack = stack
        self._clock = clock
        self._started_at = started_at.isoformat()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="checkpoint", daemon=True)

    def start(self) -> "Checkpointer":
        self.checkpoint()
        self._thread.start()
        return self

    def checkpoint(self) -> None:
        """Record the simulated time now."""
        manifest = Manifest(
            self._stack, self._clock.time_scale, self._clock.now().isoformat(), self._started_at, self._kept
        )
        write_json(self._path, asdict(manifest))

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()
        self.checkpoint()

    def _run(self) -> None:
        while not self._stopped.wait(CHECKPOINT_SECONDS):
            self.checkpoint()
