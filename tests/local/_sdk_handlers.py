"""azure-servicebus senders and receivers opened in parallel and closed off a test's critical path.

Each SDK handler owns a connection. Its open polls the handshake with a 50 ms sleep per AMQP frame
(about 0.45 s), and its close joins a keep-alive thread that sleeps in 1 s steps (up to 1 s); both are
client-side waits (azure-sdk-for-python, sdk/servicebus/azure-servicebus/azure/servicebus/_pyamqp/client.py,
`_keep_alive` and `close`). The SDK's handlers are not safe to use from two threads at once
(https://learn.microsoft.com/python/api/overview/azure/servicebus-readme#thread-safety): a handler here
is used by one thread at a time, and a future's result hands it from one to the next.
"""
from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, TypeVar

from azure.servicebus import ServiceBusReceiver, ServiceBusSender

AnyHandler = ServiceBusSender | ServiceBusReceiver
Handler = TypeVar("Handler", ServiceBusSender, ServiceBusReceiver)
# Connections opened at once: Qpid Proton listens with a backlog of 10 (proton/_io.py), and a connect the
# backlog drops is retried by TCP after 1 s, past the SDK's 1 s connect timeout.
_OPENING_AT_ONCE = 8
# Closes open nothing, and their threads only sleep.
_CLOSING_AT_ONCE = 64


class Handlers:
    """Opens handlers in the background or for a with-block, and closes them in the background; `close`
    waits for all of it and raises the first failure."""

    def __init__(self) -> None:
        self._openers = ThreadPoolExecutor(max_workers=_OPENING_AT_ONCE, thread_name_prefix="servicebus-open")
        self._closers = ThreadPoolExecutor(max_workers=_CLOSING_AT_ONCE, thread_name_prefix="servicebus-close")
        self._opening: list[tuple[AnyHandler, Future[Any]]] = []
        self._closing: list[Future[None]] = []

    def open_later(self, handler: Handler) -> Future[Handler]:
        """Start opening `handler`; its result is the open handler (or the open's error). `close` closes it."""
        opening = self._openers.submit(handler.__enter__)
        self._opening.append((handler, opening))
        return opening

    @contextmanager
    def opened(self, handler: Handler) -> Iterator[Handler]:
        """Open `handler` for a with-block and close it in the background after it.

        For a handler whose close the test does not observe: a test about what closing does (released
        messages, a returned session lock) closes synchronously with the SDK's own `with`.
        """
        handler.__enter__()  # the SDK's open; the background close stands for its __exit__
        try:
            yield handler
        finally:
            self.close_later(handler)

    def close_later(self, handler: AnyHandler) -> None:
        """Close `handler` in a background thread (closing a closed handler is a no-op in the SDK)."""
        self._closing.append(self._closers.submit(handler.close))

    def close(self) -> None:
        """Close what `open_later` opened, wait for every close, and raise the first failure of any of it."""
        wait([opening for _, opening in self._opening])
        for handler, _ in self._opening:
            self.close_later(handler)
        wait(self._closing)
        self._openers.shutdown()
        self._closers.shutdown()
        for future in [*(opening for _, opening in self._opening), *self._closing]:
            future.result()
