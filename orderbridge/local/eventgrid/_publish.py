"""What a topic accepts: the access key, the Event Grid schema and the size limits of a publish.

Azure's rules, each answered with the status Azure gives and a message naming the problem:
- auth: the topic key as `aeg-sas-key` (header or query), or a SAS token signed with it as
  `aeg-sas-token` or `Authorization: SharedAccessSignature <token>`; anything else is 401
  (https://learn.microsoft.com/azure/event-grid/security-authenticate-publishing-clients);
- the body is a JSON array of events; each has the string properties `id`, `subject`,
  `eventType`, `eventTime` (ISO 8601), `dataVersion` and a `data` value, the required set of the
  data-plane REST specification (azure-rest-api-specs, EventGrid.json `EventGridEvent`); `topic`,
  if given, must equal the topic's ARM id and `metadataVersion`, if given, must be "1", and both
  are stamped otherwise (https://learn.microsoft.com/azure/event-grid/event-schema); anything else is 400;
- a request over 1 MB, or one event over 1 MB, is 413 (same page).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

MAX_REQUEST_BYTES = 1024 * 1024
MAX_EVENT_BYTES = 1024 * 1024
METADATA_VERSION = "1"
REQUIRED_STRINGS = ("id", "subject", "eventType", "eventTime", "dataVersion")

from orderbridge.local.errors import LocalStackError


@dataclass(frozen=True)
class PublishRejected(LocalStackError):
    """A publish Azure would refuse: the HTTP status, an error code and a message naming the problem.

    The topic answers it to the publisher; it never stops the stack."""

    status: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def check_access(headers: dict[str, str], query: dict[str, str], *, key: str, topic_path: str, now: datetime) -> None:
    """Raise 401 unless the request carries the topic key or a valid SAS token signed with it."""
    given_key = headers.get("aeg-sas-key") or query.get("aeg-sas-key")
    if given_key is not None:
        if hmac.compare_digest(given_key.encode(), key.encode()):
            return
        raise PublishRejected(401, "Unauthorized", "the aeg-sas-key does not match this topic's key")
    token = headers.get("aeg-sas-token") or _authorization_token(headers.get("authorization", ""))
    if token is None:
        raise PublishRejected(
            401, "Unauthorized", "no credential: send the topic key as aeg-sas-key, or a SAS token as aeg-sas-token"
        )
    _check_sas_token(token, key=key, topic_path=topic_path, now=now)


def _authorization_token(authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme == "SharedAccessSignature" and token.strip() else None


def _check_sas_token(token: str, *, key: str, topic_path: str, now: datetime) -> None:
    # Token format r={resource}&e={expiration}&s={signature}; the signature is HMAC-SHA256 over
    # "r=...&e=..." (as sent, still URL-encoded) with the base64-decoded key.
    unsigned, _, signature = token.rpartition("&s=")
    parts = dict(parse_qsl(unsigned))
    if not unsigned or "r" not in parts or "e" not in parts:
        raise PublishRejected(401, "Unauthorized", "the SAS token is not of the form r=...&e=...&s=...")
    expected = base64.b64encode(hmac.new(base64.b64decode(key), unsigned.encode("ascii"), hashlib.sha256).digest())
    if not hmac.compare_digest(unquote(signature).encode(), expected):
        raise PublishRejected(401, "Unauthorized", "the SAS token's signature does not match this topic's key")
    if urlsplit(parts["r"]).path.rstrip("/").lower() != topic_path.rstrip("/").lower():
        raise PublishRejected(401, "Unauthorized", f"the SAS token is for {parts['r']!r}, not for this topic")
    expires = _parse_expiry(parts["e"])
    if expires is None or expires <= now:
        raise PublishRejected(401, "Unauthorized", f"the SAS token has expired or has no valid expiry ({parts['e']!r})")


def _parse_expiry(text: str) -> datetime | None:
    # azure-eventgrid writes str(datetime); Microsoft's C# sample writes "M/d/yyyy h:mm:ss tt".
    for parse in (datetime.fromisoformat, lambda t: datetime.strptime(t, "%m/%d/%Y %I:%M:%S %p")):
        try:
            parsed = parse(text)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None


def parse_events(body: bytes, *, topic_resource_id: str) -> list[dict[str, Any]]:
    """The events of one publish, stamped with `topic` and `metadataVersion`, or `PublishRejected`."""
    if len(body) > MAX_REQUEST_BYTES:
        raise PublishRejected(
            413, "PayloadTooLarge", f"the request has {len(body)} bytes; a publish may have at most {MAX_REQUEST_BYTES}"
        )
    try:
        events = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PublishRejected(400, "BadRequest", f"the body is not JSON: {exc}") from exc
    if not isinstance(events, list) or not events:
        raise PublishRejected(400, "BadRequest", "the body must be a non-empty JSON array of events")
    return [_checked_event(index, event, topic_resource_id) for index, event in enumerate(events)]


def _checked_event(index: int, event: Any, topic_resource_id: str) -> dict[str, Any]:
    where = f"event [{index}]"
    if not isinstance(event, dict):
        raise PublishRejected(400, "BadRequest", f"{where} is not a JSON object")
    size = len(json.dumps(event, separators=(",", ":")).encode())
    if size > MAX_EVENT_BYTES:
        raise PublishRejected(413, "PayloadTooLarge", f"{where} has {size} bytes; an event may have at most {MAX_EVENT_BYTES}")
    for name in REQUIRED_STRINGS:
        if not isinstance(event.get(name), str):
            raise PublishRejected(400, "BadRequest", f"{where}: required string property '{name}' is missing or not a string")
    if not event["id"] or not event["eventType"]:
        raise PublishRejected(400, "BadRequest", f"{where}: 'id' and 'eventType' must not be empty")
    if "data" not in event:
        raise PublishRejected(400, "BadRequest", f"{where}: required property 'data' is missing")
    if not _is_date_time(event["eventTime"]):
        raise PublishRejected(400, "BadRequest", f"{where}: 'eventTime' {event['eventTime']!r} is not an ISO 8601 date-time")
    return _stamped(where, event, topic_resource_id)


def _is_date_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return "T" in text.upper()  # a date alone is not a date-time


def _stamped(where: str, event: dict[str, Any], topic_resource_id: str) -> dict[str, Any]:
    topic = event.get("topic")
    if topic not in (None, "") and topic.lower() != topic_resource_id.lower():
        raise PublishRejected(400, "BadRequest", f"{where}: 'topic' {topic!r} is not this topic ({topic_resource_id})")
    if event.get("metadataVersion") not in (None, METADATA_VERSION):
        raise PublishRejected(
            400, "BadRequest", f"{where}: 'metadataVersion' must be {METADATA_VERSION!r}, got {event['metadataVersion']!r}"
        )
    return {**event, "topic": topic_resource_id, "metadataVersion": METADATA_VERSION}
