"""The topics' HTTP front: `POST /{topic}/api/events`, as Azure's `https://<topic>.<region>-1.eventgrid.azure.net/api/events`.

Thin on purpose: it checks the credential and the body (`_publish`), routes each event to the
subscriptions whose `includedEventTypes` take it, stores them (`_store`), and answers 200 only
after the store's commit. Errors are Azure-shaped: `{"error": {"code", "message"}}`.
"""
from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orderbridge.local.clock import SimClock
from orderbridge.local.eventgrid._publish import MAX_REQUEST_BYTES, PublishRejected, check_access, parse_events
from orderbridge.local.eventgrid._store import EventStore
from orderbridge.local.eventgrid._topology import EventGridTopology


def topics_app(
    topology: EventGridTopology, store: EventStore, clock: SimClock, on_accepted: Callable[[str], None]
) -> Starlette:
    """The ASGI app serving every topic of `topology`; `on_accepted(topic)` runs after each stored publish."""

    async def publish(request: Request) -> Response:
        name = request.path_params["topic"]
        topic = topology.topic(name)
        if topic is None:
            return _error(PublishRejected(404, "NotFound", f"no topic '{name}' in this stack"))
        try:
            check_access(
                {k.lower(): v for k, v in request.headers.items()},
                dict(request.query_params),
                key=store.topic_key(name),
                topic_path=request.url.path,
                now=clock.now(),
            )
            body = await _read_limited(request)
            events = parse_events(body, topic_resource_id=topic.resource_id)
        except PublishRejected as rejected:
            return _error(rejected)
        subscriptions = topology.subscriptions_of(name)
        routed = [(event, [s.name for s in subscriptions if s.wants(event["eventType"])]) for event in events]
        store.accept(name, routed, clock.now().timestamp())
        on_accepted(name)
        return Response(status_code=200)

    return Starlette(routes=[Route("/{topic}/api/events", publish, methods=["POST"])])


async def _read_limited(request: Request) -> bytes:
    """The body, refused with 413 as soon as it passes the limit (the rest is not read)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise PublishRejected(413, "PayloadTooLarge", f"the request has {declared} bytes; a publish may have at most {MAX_REQUEST_BYTES}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_REQUEST_BYTES:
            raise PublishRejected(413, "PayloadTooLarge", f"the request has more than {MAX_REQUEST_BYTES} bytes")
    return bytes(body)


def _error(rejected: PublishRejected) -> JSONResponse:
    return JSONResponse({"error": {"code": rejected.code, "message": rejected.message}}, status_code=rejected.status)
