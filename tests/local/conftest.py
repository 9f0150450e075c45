"""Fixtures the local-stack tests share: a clock tests move by hand, brokers on a temporary store, and
ASGI apps served by a real uvicorn."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import uvicorn

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


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run the ASGI `app` under uvicorn on a free 127.0.0.1 port in a thread; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start within 10 s")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
