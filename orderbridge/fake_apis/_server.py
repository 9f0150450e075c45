"""A small threaded HTTP server on 127.0.0.1 with API-key checks, fault injection and a request log."""
from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Self
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Fault:
    """How to misbehave on one request.

    `status` answers that HTTP status (with `retry_after` as the Retry-After header, any other
    `headers`, and `body` as JSON, or as is when it is bytes); `delay` sleeps first, so a delay above the client's read
    timeout is a timeout; `disconnect` closes the connection without any answer. With `applied`,
    the request is carried out first and only its answer fails: the "created, but the client
    never heard" case.
    """

    status: int = 503
    retry_after: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0
    disconnect: bool = False
    applied: bool = False


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it: `body` parsed as JSON when it is JSON, `raw_body` as sent."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    raw_body: bytes
    received_at: float
    target: str = ""  # the request target exactly as sent, e.g. "/salesOrders?%24filter=..."


@dataclass(frozen=True)
class Reply:
    """What a route answers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def error_reply(status: int, code: str, message: str) -> Reply:
    """An error in the Business Central / OData shape: {"error": {"code", "message"}}."""
    return Reply(status, {"error": {"code": code, "message": message}})


Latency = float | Callable[[RecordedRequest], float]


class FakeApiServer:
    """Base of the fake ERP and ECP: subclasses implement `route`; use as a context manager.

    `latency` is seconds from a request's arrival until its answer leaves, the way a client sees a
    slow server: the server's own work happens inside them. It applies to every request, or is a
    function of the request (e.g. only POSTs), which may also block to hold a request back.
    """

    name = "fake-api"

    def __init__(self, *, api_key: str, latency: Latency = 0.0) -> None:
        self.api_key = api_key
        self.latency = latency
        self._lock = threading.RLock()
        self._requests: list[RecordedRequest] = []
        self._queued: deque[tuple[Fault, str | None]] = deque()
        self._conditional: list[tuple[Callable[[], bool], Fault, str | None]] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._connections = 0

    def start(self) -> Self:
        """Listen on a free loopback port in a background thread."""
        self._httpd = _LoopbackServer(("127.0.0.1", 0), _make_handler(self))
        threading.Thread(
            # A short poll interval makes stop() quick; serve_forever polls for shutdown at this rate.
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name=f"{self.name}-server", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        """Stop listening; requests still sleeping in a fault are abandoned."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`, without a trailing slash."""
        if self._httpd is None:
            raise RuntimeError(f"{self.name} is not started: call start() or use it in a with block")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def connections_opened(self) -> int:
        """TCP connections accepted so far (1 for any number of requests means pooling works)."""
        with self._lock:
            return self._connections

    def fail_next(self, *faults: Fault | int, method: str | None = None) -> None:
        """Answer the next len(faults) requests (of `method`, if given) with these faults in order."""
        with self._lock:
            for fault in faults:
                self._queued.append((Fault(status=fault) if isinstance(fault, int) else fault, method))

    def fail_while(self, condition: Callable[[], bool], fault: Fault, *, method: str | None = None) -> None:
        """Answer every request (of `method`, if given) with `fault` while `condition()` is true.

        `condition` is asked once per request, so it can be an outage window or a seeded coin
        (`lambda: rng.random() < rate`) for a fault rate.
        """
        with self._lock:
            self._conditional.append((condition, fault, method))

    def clear_faults(self) -> None:
        """Forget all queued and conditional faults."""
        with self._lock:
            self._queued.clear()
            self._conditional.clear()

    def route(self, request: RecordedRequest) -> Reply:
        """Answer a request that passed the key check and fault injection."""
        raise NotImplementedError

    def _fault_for(self, request: RecordedRequest) -> Fault | None:
        with self._lock:
            for index, (fault, method) in enumerate(self._queued):
                if method is None or method == request.method:
                    del self._queued[index]
                    return fault
            return next(
                (
                    fault
                    for condition, fault, method in self._conditional
                    if (method is None or method == request.method) and condition()
                ),
                None,
            )

    def _handle(self, request: RecordedRequest) -> tuple[Reply | None, float]:
        """The reply (None: drop the connection), and the monotonic time before which it may not leave."""
        with self._lock:
            self._requests.append(request)
        delay = self.latency(request) if callable(self.latency) else self.latency
        answer_at = request.received_at + delay
        fault = self._fault_for(request)
        if fault is not None:
            if fault.applied:
                with self._lock:
                    self.route(request)
            if fault.delay:
                time.sleep(fault.delay)
            if fault.disconnect:
                return None, answer_at
            headers = {**fault.headers, **({"Retry-After": fault.retry_after} if fault.retry_after else {})}
            body = fault.body if fault.body is not None else {
                "error": {"code": f"Injected{fault.status}", "message": f"{self.name}: injected fault"}
            }
            return Reply(fault.status, body, headers), answer_at
        if request.headers.get("x-api-key") != self.api_key:
            return error_reply(401, "Unauthorized", "missing or wrong X-Api-Key header"), answer_at
        with self._lock:
            return self.route(request), answer_at


class _LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops the SYNs of 16 clients connecting at once, which
    # then retry after 1 s: a connect timeout in a test, not a property of the fake ERP.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out or hung up before the (delayed) answer is expected here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _make_handler(server: FakeApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1 keeps connections open, so the clients' connection pooling is exercised.
        protocol_version = "HTTP/1.1"
        # Buffer the answer so status, headers and body leave in one send (flushed by http.server
        # after each request); unbuffered, the body would wait for the client's delayed ACK
        # (~40 ms) behind Nagle, and each send is one more system call to measure.
        wbufsize = 64 * 1024
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            with server._lock:
                server._connections += 1

        def _serve(self) -> None:
            received_at = time.monotonic()
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = RecordedRequest(
                method=self.command,
                path=parts.path,
                query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                headers={key.lower(): value for key, value in self.headers.items()},
                body=_parse(raw),
                raw_body=raw,
                received_at=received_at,
                target=self.path,
            )
            reply, answer_at = server._handle(request)
            payload, content_type = _payload(reply)
            pause = answer_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            if reply is None:
                self.close_connection = True
                return
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            if payload:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: the request log is `server.requests`."""

    return Handler


def _payload(reply: Reply | None) -> tuple[bytes, str]:
    """The body to send and its content type; bytes go as they are, like a gateway's HTML page."""
    if reply is None or reply.body is None:
        return b"", ""
    if isinstance(reply.body, bytes):
        return reply.body, "text/html"
    return json.dumps(reply.body).encode(), "application/json; charset=utf-8"


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
