"""Fixtures the local-stack tests share: a clock tests move by hand, and brokers on a temporary store."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from orderbridge.local.servicebus import Broker, EntitySettings, entities_from_synthesis
from orderbridge.synth import Synthesis

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


class ManualClock:
    """Simulated time that moves only when a test says so; same interface as SimClock."""

    def __init__(self, start: datetime = T0, time_scale: float = 1.0) -> None:
        self.value = start
        self.time_scale = time_scale

    def now(self) -> datetime:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += timedelta(seconds=seconds)

    def wall_seconds(self, simulated: float, *, floor: float = 0.0) -> float:
        return max(simulated / self.time_scale, floor, 0.0)

    def simulated_seconds(self, wall: float) -> float:
        return wall * self.time_scale

    def wall_until(self, when: datetime) -> float:
        return self.wall_seconds((when - self.value).total_seconds())


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="session")
def dev_entities(dev: Synthesis) -> list[EntitySettings]:
    """The queues of the dev stack, as synthesized."""
    return entities_from_synthesis(dev)


BrokerFactory = Callable[..., Broker]


@pytest.fixture()
def open_broker(tmp_path: Path, clock: ManualClock) -> Iterator[BrokerFactory]:
    """Open brokers on `tmp_path/servicebus.db` (the same file each time, so a test can restart one)."""
    opened: list[Broker] = []

    def open_(entities: Iterable[EntitySettings], *, clock_: object = clock, lock_floor: float = 0.0) -> Broker:
        broker = Broker(tmp_path / "servicebus.db", entities, clock_, lock_floor=lock_floor)  # type: ignore[arg-type]
        opened.append(broker)
        return broker

    yield open_
    for broker in opened:
        broker.close()
