"""The default transport sends real HTTP (here to a server on 127.0.0.1)."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from orderbridge.wdl import TriggerInput, run

from tests.wdl.helpers import definition


class _Handler(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        length = int(self.headers.get("Content-Length", 0))
        _Handler.received.append({"path": self.path, "key": self.headers.get("X-Api-Key"),
                                  "type": self.headers.get("Content-Type"),
                                  "body": json.loads(self.rfile.read(length))})
        payload = json.dumps({"accepted": True}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_http_action_reaches_a_local_server_through_the_default_transport(server: str) -> None:
    _Handler.received.clear()
    result = run(definition({"Post": {"type": "Http", "runAfter": {}, "inputs": {
        "method": "POST", "uri": f"{server}/orders", "queries": {"v": "1 2"}, "headers": {"X-Api-Key": "k"},
        "body": {"id": "@triggerBody()['id']"}}}}), trigger=TriggerInput(body={"id": "O-1"}))
    post = result.action("Post")
    assert post.status == "Succeeded"
    assert post.outputs["statusCode"] == 201 and post.outputs["body"] == {"accepted": True}
    assert post.outputs["headers"]["Content-Type"] == "application/json"
    assert _Handler.received == [{"path": "/orders?v=1%202", "key": "k", "type": "application/json",
                                  "body": {"id": "O-1"}}]


def test_a_refused_connection_is_retried_then_fails() -> None:
    # Port 9 on loopback is closed here: every attempt is refused at once.
    result = run(definition({"Post": {"type": "Http", "runAfter": {}, "inputs": {
        "method": "GET", "uri": "http://127.0.0.1:9/x", "retryPolicy": {"type": "none"}}}}), trigger=TriggerInput())
    post = result.action("Post")
    assert post.status == "Failed" and post.error_code == "ServiceUnavailable"
    assert "is the server running?" in post.attempts[0].error


def test_bodies_are_encoded_and_decoded_like_logic_apps() -> None:
    from orderbridge.wdl._transport import decode_body, encode_body

    assert encode_body({"a": 1}, {}) == (b'{"a":1}', {"Content-Type": "application/json"})
    assert encode_body("plain", {"Content-Type": "text/csv"}) == (b"plain", {"Content-Type": "text/csv"})
    envelope = {"$content-type": "application/pdf", "$content": "JVBERg=="}
    assert encode_body(envelope, {}) == (b"%PDF", {"Content-Type": "application/pdf"})
    assert decode_body(b'{"a": 1}', "application/json; charset=utf-8") == {"a": 1}
    assert decode_body(b"<a/>", "application/xml") == "<a/>"
    assert decode_body(b"%PDF", "application/pdf") == envelope
    assert decode_body(b"", "application/json") is None
