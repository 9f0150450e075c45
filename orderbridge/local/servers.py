"""Serving an ASGI app under uvicorn on a loopback port, from a background thread.

Every HTTP front of the local stack (topics, trigger URLs, the Service Bus REST endpoint) is an ASGI
app; this is the one place that runs them. Port 0 picks a free port, so parallel stacks and test
sessions never collide; `url` tells the port the kernel chose.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Self

import uvicorn

from orderbridge.local.errors import LocalStackError

STARTUP_TIMEOUT_SECONDS = 15.0


class AsgiServer:
    """One uvicorn server for `app` on 127.0.0.1, started and stopped from the caller's thread."""

    def __init__(self, app: Any, *, name: str, port: int = 0) -> None:
        self.name = name
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Start serving; returns once the socket accepts connections."""
        self._thread = threading.Thread(target=self._server.run, name=f"{self.name}-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise LocalStackError(
                    f"the {self.name} endpoint did not start listening on 127.0.0.1 within "
                    f"{STARTUP_TIMEOUT_SECONDS:.0f} s; is the port in use?"
                )
            time.sleep(0.01)
        return self

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if not self._server.started:
            raise LocalStackError(f"the {self.name} endpoint is not started")
        return int(self._server.servers[0].sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop accepting, finish the requests in flight, and wait for the thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
