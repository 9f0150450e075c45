"""The REST send front: Service Bus's `POST /{queue}/messages` as an ASGI app (starlette, for uvicorn).

It only translates: the request becomes a `Message` for the broker core, the core's refusal
becomes Azure's answer. The contract (https://learn.microsoft.com/rest/api/servicebus/send-message-to-queue,
https://learn.microsoft.com/rest/api/servicebus/message-headers-and-properties):
- the body is the message body; `Content-Type` is its content type;
- `BrokerProperties` is one JSON object header; names other than the documented ones are ignored;
- every other header is a custom property: `"text"` in double quotes is a string, an unquoted value
  is a number, `true`/`false` or an RFC 1123 date, anything else is refused with 400 (as Service Bus
  answers "The value world of the HTTP header Hello is invalid", Azure/azure-sdk-for-php#406).
  Standard HTTP headers and `x-ms-*` are not properties. ASGI servers hand header names over
  lower-cased, so the spellings in `property_names` (e.g. `dataVersion`) are restored; other
  names stay lower-case.
- answers: 201 stored (or dropped as a duplicate), 400 bad request, 401 authorization, 404 no
  such entity, 413 too large, 503 broker closed. Microsoft's page lists 403 for "message too
  large" and 410 for a missing entity; the local front answers 413 and 404 as the local stack's
  issue specifies, which the workflows treat the same way (any answer but 201 fails the send).
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from xml.sax.saxutils import escape

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orderbridge.local.servicebus._auth import Credentials
from orderbridge.local.servicebus._broker import Broker
from orderbridge.local.servicebus._errors import BrokerClosed, EntityNotFound, InvalidMessage, MessageSizeExceeded
from orderbridge.local.servicebus._messages import Message, PropertyValue

# Headers that are part of HTTP or of the request itself, never custom properties.
_NOT_PROPERTIES = frozenset({
    "accept", "accept-charset", "accept-encoding", "accept-language", "authorization", "brokerproperties",
    "cache-control", "connection", "content-encoding", "content-length", "content-type", "cookie", "date",
    "expect", "host", "keep-alive", "pragma", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "via",
})
_STRING_PROPERTIES = {
    "MessageId": "message_id", "CorrelationId": "correlation_id", "SessionId": "session_id", "Label": "subject",
    "ReplyTo": "reply_to", "ReplyToSessionId": "reply_to_session_id", "To": "to", "PartitionKey": "partition_key",
}
_INTEGER = re.compile(r"[+-]?\d{1,18}")
_DECIMAL = re.compile(r"[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?")


def rest_app(
    broker: Broker,
    credentials: Credentials,
    *,
    property_names: Iterable[str] = (),
    namespace_host: str | None = None,
) -> Starlette:
    """The ASGI app of the send endpoint.

    `property_names`: custom property spellings to restore; `namespace_host`: the Azure host name a
    SAS token may be signed for (e.g. `sb-orderbridge-dev.servicebus.windows.net`) besides the local one.
    """
    spelling = {name.lower(): name for name in property_names}

    async def send_message(request: Request) -> Response:
        entity = request.path_params["entity"]
        hosts = [request.url.netloc, *([namespace_host] if namespace_host else [])]
        resources = [f"{host}/{entity}" for host in hosts]
        problem = credentials.problem(request.headers.get("authorization"), resources, time.time())
        if problem:
            return _error(401, problem)
        try:
            message = _message(entity, await request.body(), request, spelling)
            await run_in_threadpool(broker.send, entity, message)
        except EntityNotFound as exc:
            return _error(404, str(exc))
        except MessageSizeExceeded as exc:
            return _error(413, str(exc))
        except InvalidMessage as exc:
            return _error(400, str(exc))
        except BrokerClosed as exc:
            return _error(503, str(exc))
        return Response(status_code=201)

    return Starlette(routes=[Route("/{entity:path}/messages", send_message, methods=["POST"])])


def _message(entity: str, body: bytes, request: Request, spelling: dict[str, str]) -> Message:
    """The request as a broker message; InvalidMessage (400) if its headers break the REST contract."""
    try:
        fields: dict[str, Any] = _broker_properties(request.headers.get("brokerproperties"))
        properties = {
            spelling.get(name, name): _property_value(name, value)
            for name, value in request.headers.items()
            if name not in _NOT_PROPERTIES and not name.startswith("x-ms-")
        }
    except ValueError as exc:
        raise InvalidMessage(entity=entity, problem=str(exc)) from None
    return Message(
        body=body, content_type=request.headers.get("content-type"), application_properties=properties, **fields
    )


def _broker_properties(header: str | None) -> dict[str, Any]:
    """Message fields from the BrokerProperties JSON (ValueError if it is not valid); undocumented names are
    ignored, as Azure does."""
    if header is None:
        return {}
    try:
        given = json.loads(header)
    except json.JSONDecodeError:
        raise ValueError(f"The value of the HTTP header 'BrokerProperties' is not JSON: {header[:200]!r}") from None
    if not isinstance(given, dict):
        raise ValueError("The value of the HTTP header 'BrokerProperties' must be a JSON object")
    fields: dict[str, Any] = {}
    for name, field_name in _STRING_PROPERTIES.items():
        value = given.get(name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"BrokerProperties.{name} must be a string, got {type(value).__name__}")
        if value is not None:
            fields[field_name] = value
    if given.get("TimeToLive") is not None:
        fields["time_to_live"] = _time_to_live(given["TimeToLive"])
    if given.get("ScheduledEnqueueTimeUtc") is not None:
        fields["scheduled_enqueue_time"] = _rfc1123(
            given["ScheduledEnqueueTimeUtc"], "BrokerProperties.ScheduledEnqueueTimeUtc"
        )
    return fields


def _time_to_live(value: Any) -> timedelta:
    """TimeToLive: seconds, a positive number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"BrokerProperties.TimeToLive must be a positive number of seconds, got {value!r}")
    return timedelta(seconds=value)


def _rfc1123(value: Any, where: str) -> datetime:
    """An RFC 1123 date such as 'Sun, 06 Nov 1994 08:49:37 GMT', as the REST API writes times."""
    try:
        moment = parsedate_to_datetime(value) if isinstance(value, str) else None
    except (TypeError, ValueError):
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(f"{where} must be an RFC 1123 date such as 'Sun, 06 Nov 1994 08:49:37 GMT', got {value!r}")
    return moment


def _property_value(name: str, raw: str) -> PropertyValue:
    """A custom property header's typed value: quoted string, number, boolean or RFC 1123 date."""
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return raw[1:-1]
    if _INTEGER.fullmatch(raw):
        return int(raw)
    if _DECIMAL.fullmatch(raw):
        return float(raw)
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    try:
        return _rfc1123(raw, name)
    except ValueError:
        raise ValueError(
            f"The value {raw[:200]!r} of the HTTP header {name!r} is invalid: put a string value in double quotes"
        ) from None


def _error(status: int, detail: str) -> Response:
    """An error in Service Bus's REST shape: <Error><Code/><Detail/></Error>."""
    body = f"<Error><Code>{status}</Code><Detail>{escape(detail)}</Detail></Error>"
    return Response(body, status_code=status, media_type="application/xml; charset=utf-8")
