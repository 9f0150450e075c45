"""Clocks for the engine: real time, or virtual time that tests advance without sleeping.

Parallel work (Foreach iterations, parallel branches) is simulated on a `VirtualClock` with
*timelines*: each branch runs with its own cursor that starts where the branch starts, so two
iterations that each wait 5 s in parallel end 5 s after they started, not 10 s.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

DEFAULT_VIRTUAL_START = datetime(2026, 1, 1, tzinfo=timezone.utc)


@runtime_checkable
class Clock(Protocol):
    """What the engine needs from a clock: the time and a way to wait."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` (real or virtual)."""


class SystemClock:
    """Wall-clock time; `sleep` really sleeps."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class VirtualClock:
    """Virtual time: `sleep` only moves the current timeline forward, instantly."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or DEFAULT_VIRTUAL_START
        if start.tzinfo is None:
            raise ValueError("VirtualClock start must be timezone-aware; pass e.g. datetime(..., tzinfo=timezone.utc)")
        self._shared = start.astimezone(timezone.utc)
        self._cursor: ContextVar[datetime | None] = ContextVar(f"virtual_clock_{id(self)}", default=None)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        cursor = self._cursor.get()
        return self._shared if cursor is None else cursor

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot sleep a negative time ({seconds} s)")
        later = self.now() + timedelta(seconds=seconds)
        if self._cursor.get() is None:
            self.advance_to(later)
        else:
            self._cursor.set(later)

    def advance_to(self, moment: datetime) -> None:
        """Move the shared time forward to `moment` (never backwards)."""
        with self._lock:
            if moment > self._shared:
                self._shared = moment

    @contextmanager
    def timeline(self, start: datetime) -> Iterator[None]:
        """Run the body on its own timeline beginning at `start` (used for parallel branches)."""
        token = self._cursor.set(start)
        try:
            yield
        finally:
            self._cursor.reset(token)


def timeline(clock: Clock, start: datetime) -> AbstractContextManager[None]:
    """A timeline on `clock` if it simulates time, else a no-op (real time runs really in parallel)."""
    if isinstance(clock, VirtualClock):
        return clock.timeline(start)
    return _no_timeline()


@contextmanager
def _no_timeline() -> Iterator[None]:
    yield


def simulates_time(clock: Clock) -> bool:
    """Whether parallel branches are simulated on timelines rather than run on threads."""
    return isinstance(clock, VirtualClock)
