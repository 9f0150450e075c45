"""HTTP transport used by Http actions: a plain callable, so tests can pass a function.

The default transport sends real requests with httpx. Errors are translated at this boundary
into `TransportError` / `TransportTimeout`, which the Http action retries.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from ._errors import TransportError, TransportTimeout
from ._functions._common import CONTENT, CONTENT_TYPE, is_envelope


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
    """Serialise an evaluated body as Azure does: strings as is, content envelopes as their bytes
    with their content type, other JSON values as JSON."""
    if body is None:
        return None, headers
    if isinstance(body, (bytes, bytearray)):
        return bytes(body), headers
    if isinstance(body, str):
        return body.encode("utf-8"), headers
    if is_envelope(body):
        content_type = str(body.get(CONTENT_TYPE, "application/octet-stream"))
        return base64.b64decode(body[CONTENT]), _with_default_type(headers, content_type)
    return json.dumps(body, separators=(",", ":")).encode("utf-8"), _with_default_type(headers, "application/json")


def _with_default_type(headers: dict[str, str], content_type: str) -> dict[str, str]:
    if any(name.lower() == "content-type" for name in headers):
        return headers
    return {**headers, "Content-Type": content_type}


def decode_body(content: bytes, content_type: str | None) -> Any:
    """JSON bodies become JSON values (as `body('X')` returns them), text stays text, and anything
    else becomes a content envelope {"$content-type", "$content": base64}, as in Logic Apps
    (https://learn.microsoft.com/azure/logic-apps/logic-apps-content-type)."""
    if not content:
        return None
    kind = (content_type or "").lower()
    if "json" in kind:
        try:
            return json.loads(content)
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass
    if not kind or kind.startswith("text/") or "xml" in kind or "json" in kind or "urlencoded" in kind:
        return content.decode("utf-8", errors="replace")
    return {CONTENT_TYPE: content_type, CONTENT: base64.b64encode(content).decode("ascii")}


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
