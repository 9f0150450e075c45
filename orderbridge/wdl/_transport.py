"""HTTP transport used by Http actions: a plain callable, so tests can pass a function.

The default transport sends real requests with httpx. Errors are translated at this boundary
into `TransportError` / `TransportTimeout`, which the Http action retries.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from ._errors import TransportError, TransportTimeout


@dataclass(frozen=True)
class HttpRequest:
    """One outgoing attempt of an Http action, after expression evaluation."""

    method: str
    url: str
    headers: dict[str, str]
    body: Any = None
    authentication: dict[str, Any] | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class HttpResponse:
    """What the server answered."""

    status_code: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


Transport = Callable[[HttpRequest], HttpResponse]


def encode_body(body: Any, headers: dict[str, str]) -> tuple[bytes | None, dict[str, str]]:
    """Serialise an evaluated body as Azure does: strings as is, other JSON values as JSON."""
    if body is None:
        return None, headers
    if isinstance(body, (bytes, bytearray)):
        return bytes(body), headers
    if isinstance(body, str):
        return body.encode("utf-8"), headers
    if not any(name.lower() == "content-type" for name in headers):
        headers = {**headers, "Content-Type": "application/json"}
    return json.dumps(body, separators=(",", ":")).encode("utf-8"), headers


def decode_body(content: bytes, content_type: str | None) -> Any:
    """JSON bodies become JSON values (as `body('X')` returns them); anything else stays text."""
    if not content:
        return None
    text = content.decode("utf-8", errors="replace")
    if content_type and "json" in content_type.lower():
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text


class HttpxTransport:
    """Sends requests for real. Authentication is recorded by the engine, never performed."""

    def __init__(self, client: httpx.Client | None = None) -> None:
        self._client = client or httpx.Client()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        content, headers = encode_body(request.body, request.headers)
        try:
            answer = self._client.request(
                request.method, request.url, headers=headers, content=content, timeout=request.timeout
            )
        except httpx.TimeoutException as exc:
            raise TransportTimeout(f"{request.method} {request.url} took longer than {request.timeout} s") from exc
        except httpx.HTTPError as exc:
            raise TransportError(
                f"{request.method} {request.url} failed before an answer: {exc}; is the server running?"
            ) from exc
        return HttpResponse(
            status_code=answer.status_code,
            # Header names as the server wrote them (httpx's mapping view lower-cases them).
            headers={name.decode("latin-1"): value.decode("latin-1") for name, value in answer.headers.raw},
            body=decode_body(answer.content, answer.headers.get("content-type")),
        )
