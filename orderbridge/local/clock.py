"""Simulated time for the local stack: `--time-scale K` runs every timer K times faster.

Every part reads time from one `SimClock`, so Event Grid's retry schedule, scheduled enqueue times,
the integrators' backoff and the ERP's lifecycle all move together. Timers that bound *work* (lock
durations, Event Grid's 30 s answer timeout) must not shrink below what CPU work at wall speed
needs, so `wall_seconds` and `sleep` take a `floor` in wall seconds.
"""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

# Floors, in wall seconds, for timers that bound work: a healthy call must never outlive them.
LOCK_FLOOR_SECONDS = 5.0
# How long the Functions host keeps renewing a running call's lock (`maxAutoLockRenewalDuration`):
# a healthy call on a loaded machine can take seconds, and losing its lock redelivers it mid-call.
RENEWAL_FLOOR_SECONDS = 30.0
ANSWER_TIMEOUT_FLOOR_SECONDS = 5.0


class SimClock:
    """Simulated UTC time that runs `time_scale` times faster than the wall clock.

    `start` is the simulated instant at construction; a resumed stack passes the instant its
    previous run had reached (kept in the state dir), so simulated time never goes backwards.
    """

    def __init__(self, time_scale: float = 1.0, *, start: datetime | None = None) -> None:
        if not time_scale > 0:
            raise ValueError(f"time scale must be positive, got {time_scale!r}")
        self.time_scale = float(time_scale)
        self._start = (start or datetime.now(timezone.utc)).astimezone(timezone.utc)
        self._wall_start = time.monotonic()

    def now(self) -> datetime:
        """The simulated time, timezone-aware (UTC)."""
        return self._start + timedelta(seconds=self.elapsed())

    def elapsed(self) -> float:
        """Simulated seconds since this clock started."""
        return (time.monotonic() - self._wall_start) * self.time_scale

    def wall_seconds(self, simulated: float, *, floor: float = 0.0) -> float:
        """Wall seconds that `simulated` seconds take, never less than `floor`."""
        return max(simulated / self.time_scale, floor, 0.0)

    def simulated_seconds(self, wall: float) -> float:
        """Simulated seconds that pass in `wall` wall seconds."""
        return wall * self.time_scale

    def wall_until(self, when: datetime) -> float:
        """Wall seconds from now until simulated instant `when` (0 if it has passed)."""
        return self.wall_seconds((when - self.now()).total_seconds())

    async def sleep(self, simulated: float, *, floor: float = 0.0) -> None:
        """Sleep `simulated` seconds of simulated time (at least `floor` wall seconds)."""
        await asyncio.sleep(self.wall_seconds(simulated, floor=floor))

    def sleep_blocking(self, simulated: float, *, floor: float = 0.0) -> None:
        """`sleep` for threads (the integrators run on worker threads)."""
        time.sleep(self.wall_seconds(simulated, floor=floor))
