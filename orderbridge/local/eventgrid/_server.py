"""An ASGI app under uvicorn on 127.0.0.1, inside the caller's event loop, on a port the OS picks.

The socket is bound before uvicorn starts, so the port is known at once; uvicorn's own signal
handling is off, because the stack that embeds the server owns Ctrl-C and ends it with `stop()`,
and `stop()` wakes uvicorn's main loop at once instead of at its next tick.
"""
from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp


class _EmbeddedServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.exit_requested = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        # uvicorn's loop, ticking every 0.1 s (its Date header), but ended by `exit_requested` at once.
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            try:
                await asyncio.wait_for(self.exit_requested.wait(), 0.1)
            except TimeoutError:
                continue
            return


class AsgiServer:
    """`await start()` serves `app`; `url` is its base URL; `await stop()` ends it."""

    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.url = f"http://{host}:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = _EmbeddedServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]), name=f"asgi {self.url}")
        while not self._server.started:
            if self._task.done():
                await self._task  # raises what stopped it
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        if self._task is not None:
            self._server.should_exit = True
            self._server.exit_requested.set()
            await self._task
            self._task = None
        self._socket.close()
