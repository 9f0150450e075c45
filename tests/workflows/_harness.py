"""Running the two Logic App workflows in the engine: what differs per pipeline, a fake Service Bus
REST endpoint, a scripted source API on virtual time, and the transport that routes between them.

The fake Service Bus follows the documented REST contract
(https://learn.microsoft.com/rest/api/servicebus/send-message-to-queue and
https://learn.microsoft.com/rest/api/servicebus/message-headers-and-properties): 201 on success,
BrokerProperties as one JSON header (unknown names are ignored by Service Bus, so the fake refuses
them to catch typos), custom properties one header each with string values in double quotes
(Azure/azure-sdk-for-php#406: an unquoted string value is a 400; a double quote inside the value
ends it early, so the fake refuses that too), MessageId and SessionId of at most 128 characters
(https://learn.microsoft.com/dotnet/api/azure.messaging.servicebus.servicebusmessage.messageid,
https://learn.microsoft.com/dotnet/api/azure.messaging.servicebus.servicebusmessage.sessionid), and
duplicate detection on MessageId. Header values must be printable ASCII: CR or LF would end the
header early (https://www.rfc-editor.org/rfc/rfc9110#section-5.5), and other bytes are not portable
(RFC 9110 keeps them only as obsolete text), so the fake refuses both.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from orderbridge.fake_apis import FakeEcp, FakeErp
from orderbridge.fake_apis._server import FakeApiServer
from orderbridge.wdl import (
    HttpRequest,
    HttpResponse,
    RunResult,
    Transport,
    TransportTimeout,
    TriggerInput,
    VirtualClock,
    run,
)
from infra.workflow_definitions import load_definition
from topology import ECP_TO_ERP, ERP_TO_ECP, PipelineSpec

SERVICE_BUS_HOST = "sb-orderbridge-test.servicebus.windows.net"
SERVICE_BUS_AUDIENCE = "https://servicebus.azure.net"
# Distinctive values, so the secret scan cannot miss them by accident.
API_KEY = "key-5c1e0b7d-never-in-run-history"
PAYLOAD_MARKER = "payload-9f2a-customer@example.com"
EVENT_GRID_TIMEOUT_SECONDS = 30.0
SCRIPTED_SOURCE_URL = "https://source.example"
JSON_CONTENT = {"Content-Type": "application/json; charset=utf-8"}
VALIDATION_EVENT_TYPE = "Microsoft.EventGrid.SubscriptionValidationEvent"
# Ids that probe the contracts' pattern: dot segments, separators, encodings, look-alikes, controls.
TRICKY_IDS = [".", "..", "...", "a/b", "%2e", "%2e%2e", "a b", "a\n", "\na", "ä", "ＡＢ", "\u212a", "١", "-a", "_a",
              ".a", "a.", "a..", "a-_.b", "0", "Z9", "ord-100045", "ORD-100045", "SO-104233", "a?b", "a#b", "a'b",
              'a"b', "a\\b", "", "a\u0000"]

# https://learn.microsoft.com/rest/api/servicebus/message-headers-and-properties
DOCUMENTED_BROKER_PROPERTIES = frozenset({
    "CorrelationId", "ForcePersistence", "Label", "MessageId", "PartitionKey", "ReplyTo", "ReplyToSessionId",
    "ScheduledEnqueueTimeUtc", "SessionId", "TimeToLive", "To", "ViaPartitionKey",
})
BROKER_ID_MAX_LENGTH = 128  # MessageId, SessionId
NOT_CUSTOM_PROPERTIES = frozenset({"brokerproperties", "content-type", "authorization", "accept"})


@dataclass(frozen=True)
class WorkflowUnderTest:
    """One workflow and what its events, source API and messages look like; its names come from
    the pipeline's declaration (topology)."""

    pipeline: PipelineSpec
    fetch_action: str
    send_action: str
    make_data: Callable[[int], dict[str, Any]]
    fetch_path: Callable[[dict[str, Any]], str]
    broker_properties: Callable[[dict[str, Any]], dict[str, str]]
    source_class: type[FakeApiServer]
    resource: Callable[[dict[str, Any]], dict[str, Any]]  # what a correct source answers for the event
    store: Callable[[FakeApiServer, dict[str, Any], dict[str, Any]], None]  # (server, event, resource)
    data_contract: str  # the schema in schemas/ that the event's `data` follows

    @property
    def parked_by(self) -> str:
        return self.workflow

    def event(self, n: int = 1, **changes: Any) -> dict[str, Any]:
        """Event number `n` in Event Grid schema; `changes` replace top-level fields (data too)."""
        event = {
            "id": f"evt-{self.workflow}-{n}",
            "topic": f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.EventGrid/topics/{self.workflow}",
            "subject": f"{self.workflow}/{n}",
            "eventType": self.event_type,
            "eventTime": "2026-11-27T09:14:03Z",
            "dataVersion": "1.0",
            "metadataVersion": "1",
            "data": self.make_data(n),
        }
        event.update(changes)
        return event

    def seed(self, server: FakeApiServer, event: dict[str, Any]) -> dict[str, Any]:
        """Make the loopback source answer the event's fetch with its resource; returns the resource."""
        resource = self.resource(event)
        self.store(server, event, resource)
        return resource

    def found(self, *events: dict[str, Any]) -> Callable[[HttpRequest], HttpResponse]:
        """A scripted reply: 200 with the JSON resource of whichever of `events` (by default `event(n)`
        for n up to 25) the request fetches."""
        by_path = {}
        for event in events or [self.event(n) for n in range(1, 26)]:
            with suppress(KeyError, TypeError, AttributeError):  # an event without usable ids is never fetched
                by_path[self.fetch_path(event)] = self.resource(event)
        return lambda request: HttpResponse(200, dict(JSON_CONTENT), by_path[urlsplit(request.url).path])

    def parameters(self, source_base_url: str) -> dict[str, str]:
        return {
            "sourceBaseUrl": source_base_url,
            "sourceApiKey": API_KEY,
            "serviceBusHost": SERVICE_BUS_HOST,
            "queueName": self.queue,
            "parkingQueueName": self.parking_queue,
        }

    @property
    def workflow(self) -> str:
        return self.pipeline.workflow_name

    @property
    def event_type(self) -> str:
        return self.pipeline.event_type

    @property
    def queue(self) -> str:
        return self.pipeline.queue_name

    @property
    def parking_queue(self) -> str:
        return self.pipeline.parking_queue_name


def _ecp_order(event: dict[str, Any]) -> dict[str, Any]:
    order_id = event["data"]["orderId"]
    return {"id": order_id, "number": f"WEB-{order_id}", "customer": {"email": PAYLOAD_MARKER}, "total": 42.5}


def _store_ecp(server: FakeApiServer, event: dict[str, Any], order: dict[str, Any]) -> None:
    assert isinstance(server, FakeEcp)
    server.put_order(order)


def _erp_state(event: dict[str, Any]) -> dict[str, Any]:
    """The fields schemas/erp-sales-order-state.schema.json requires, as the ERP's state of the event's order."""
    data = event["data"]
    return {
        "id": data["salesOrderId"], "number": "SO104233", "externalDocumentNumber": data["ecpOrderId"],
        "status": "Shipped", "changeVersion": data["changeVersion"], "currencyCode": "EUR",
        "invoices": [{"number": "PSI1001", "remainingAmount": 0, "reference": PAYLOAD_MARKER}],
    }


def _store_erp(server: FakeApiServer, event: dict[str, Any], state: dict[str, Any]) -> None:
    assert isinstance(server, FakeErp)
    server.set_state(event["data"]["salesOrderId"], state)


ORDER_EVENTS = WorkflowUnderTest(
    pipeline=ECP_TO_ERP,
    fetch_action="Get_order_from_ECP",
    send_action="Send_order_to_queue",
    make_data=lambda n: {"orderId": f"ord-{100000 + n}", "orderNumber": f"WEB-{100000 + n}"},
    fetch_path=lambda event: f"/orders/{event['data']['orderId']}",
    broker_properties=lambda event: {"MessageId": event["data"]["orderId"], "CorrelationId": event["id"]},
    source_class=FakeEcp,
    resource=_ecp_order,
    store=_store_ecp,
    data_contract="ecp-order-created-event",
)

ERP_EVENTS = WorkflowUnderTest(
    pipeline=ERP_TO_ECP,
    fetch_action="Get_sales_order_from_ERP",
    send_action="Send_order_update_to_queue",
    make_data=lambda n: {"salesOrderId": f"SO-{104000 + n}", "ecpOrderId": f"ord-{100000 + n}",
                         "changeVersion": 3, "changeType": "Shipped"},
    fetch_path=lambda event: f"/salesOrders/{event['data']['salesOrderId']}/state",
    broker_properties=lambda event: {
        "MessageId": f"{event['data']['salesOrderId']}-{event['data']['changeVersion']}",
        "SessionId": event["data"]["ecpOrderId"].upper(),
        "CorrelationId": event["id"],
    },
    source_class=FakeErp,
    resource=_erp_state,
    store=_store_erp,
    data_contract="erp-sales-order-updated-event",
)

PIPELINES = (ORDER_EVENTS, ERP_EVENTS)


@dataclass(frozen=True)
class QueuedMessage:
    """A message as Service Bus stored it."""

    body: Any
    broker_properties: dict[str, Any]
    properties: dict[str, str]
    content_type: str | None


@dataclass
class FakeServiceBus:
    """The Service Bus REST send endpoint of one namespace, on virtual time."""

    clock: VirtualClock
    host: str = SERVICE_BUS_HOST
    latency: float = 0.0
    requests: list[HttpRequest] = field(default_factory=list)
    queues: dict[str, list[QueuedMessage]] = field(default_factory=dict)
    _faults: list[int] = field(default_factory=list)

    def fail_next(self, *statuses: int) -> None:
        """Answer the next sends with these statuses (e.g. 401 while a role assignment propagates)."""
        self._faults.extend(statuses)

    def messages(self, queue: str) -> list[QueuedMessage]:
        return self.queues.get(queue, [])

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        if request.timeout is not None and self.latency > request.timeout:
            self.clock.sleep(request.timeout)
            raise TransportTimeout(f"{request.url}: Service Bus did not answer within {request.timeout} s")
        self.clock.sleep(self.latency)
        if self._faults:
            return HttpResponse(self._faults.pop(0), {}, {"error": "injected"})
        problem = _send_problem(request, self.host)
        if problem:
            return HttpResponse(400, {}, {"error": problem})
        queue = urlsplit(request.url).path.split("/")[1]
        message = _as_stored(request)
        stored = self.queues.setdefault(queue, [])
        duplicate = any(m.broker_properties.get("MessageId") == message.broker_properties.get("MessageId")
                        for m in stored)
        if not duplicate:  # duplicate detection: accepted, not enqueued again
            stored.append(message)
        return HttpResponse(201, {}, None)


def _send_problem(request: HttpRequest, host: str) -> str | None:
    parts = urlsplit(request.url)
    if request.method != "POST" or parts.scheme != "https" or parts.hostname != host:
        return f"expected POST https://{host}/<queue>/messages, got {request.method} {request.url}"
    if len(parts.path.split("/")) != 3 or not parts.path.endswith("/messages"):
        return f"expected the path /<queue>/messages, got {parts.path}"
    auth = request.authentication or {}
    if auth.get("type") != "ManagedServiceIdentity" or auth.get("audience") != SERVICE_BUS_AUDIENCE:
        return f"expected managed identity authentication for {SERVICE_BUS_AUDIENCE}, got {auth}"
    try:
        broker = json.loads(request.headers.get("BrokerProperties", ""))
    except json.JSONDecodeError:
        return f"BrokerProperties is not JSON: {request.headers.get('BrokerProperties')!r}"
    unknown = set(broker) - DOCUMENTED_BROKER_PROPERTIES
    if unknown:
        return f"BrokerProperties has undocumented names {sorted(unknown)} (Service Bus would ignore them)"
    too_long = {k: len(str(broker[k])) for k in ("MessageId", "SessionId")
                if k in broker and len(str(broker[k])) > BROKER_ID_MAX_LENGTH}
    if too_long:
        return f"BrokerProperties longer than {BROKER_ID_MAX_LENGTH} characters: {too_long}"
    unsafe = {k: v for k, v in request.headers.items() if not all(" " <= c <= "~" for c in v)}
    if unsafe:
        return f"header values must be printable ASCII: {unsafe}"
    unquoted = {k: v for k, v in _custom_headers(request).items()
                if not (len(v) >= 2 and v[0] == v[-1] == '"' and '"' not in v[1:-1])}
    if unquoted:
        return f"custom property values must be quoted strings without inner quotes: {unquoted}"
    return None


def _custom_headers(request: HttpRequest) -> dict[str, str]:
    return {k: v for k, v in request.headers.items() if k.lower() not in NOT_CUSTOM_PROPERTIES}


def _as_stored(request: HttpRequest) -> QueuedMessage:
    content_type = next((v for k, v in request.headers.items() if k.lower() == "content-type"), None)
    return QueuedMessage(
        body=request.body,
        broker_properties=json.loads(request.headers["BrokerProperties"]),
        properties={k: v[1:-1] for k, v in _custom_headers(request).items()},
        content_type=content_type,
    )


Reply = HttpResponse | Exception | Callable[[HttpRequest], HttpResponse]


@dataclass
class ScriptedSource:
    """A source API on virtual time: each request takes `latency` s and gets the next scripted reply
    (the last one repeats; a callable answers the request). A request whose allowance is shorter than
    the latency times out."""

    clock: VirtualClock
    replies: list[Reply]
    latency: float = 0.0
    requests: list[HttpRequest] = field(default_factory=list)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        if request.timeout is not None and self.latency > request.timeout:
            self.clock.sleep(request.timeout)
            raise TransportTimeout(f"{request.url}: no answer within {request.timeout} s")
        self.clock.sleep(self.latency)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        return reply if isinstance(reply, HttpResponse) else reply(request)


def routed(source: Transport, service_bus: FakeServiceBus) -> Transport:
    """Requests to the Service Bus namespace go to the fake Service Bus, all others to the source."""

    def send(request: HttpRequest) -> HttpResponse:
        if urlsplit(request.url).hostname == service_bus.host:
            return service_bus(request)
        return source(request)

    return send


def run_pipeline(
    pipeline: WorkflowUnderTest,
    events: Iterable[dict[str, Any]],
    *,
    source_base_url: str,
    source: Transport,
    service_bus: FakeServiceBus,
    body: Any = None,
    limit_timeout_reading: str = "action",
    guid: Callable[[], str] | None = None,
    delivery: str = "Notification",
) -> RunResult:
    """One delivery of `events` by Event Grid to the workflow as Azure receives it (or of `body`), with
    the header `aeg-event-type: <delivery>` (`SubscriptionValidation` for the handshake);
    `limit_timeout_reading` is how the engine applies the actions' limit.timeout (see orderbridge.wdl._retry);
    `guid` supplies the workflow's guid() values (random when None)."""
    definition = load_definition(pipeline.workflow, trigger_concurrency=5, maximum_waiting_runs=15)
    return run(
        definition,
        trigger=TriggerInput(body=list(events) if body is None else body,
                             headers={"aeg-event-type": delivery}),
        parameters=pipeline.parameters(source_base_url),
        http=routed(source, service_bus),
        clock=service_bus.clock,
        limit_timeout_reading=limit_timeout_reading,
        guid=guid,
    )


def deliver_scripted(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus, events: list[dict[str, Any]], *replies: Reply,
    delivery: str = "Notification",
) -> tuple[RunResult, ScriptedSource]:
    """One delivery of `events` with a scripted source answering `replies` (by default each event's
    resource); returns the run and the source, whose `requests` show what was fetched."""
    source = ScriptedSource(service_bus.clock, list(replies) or [pipeline.found(*events)])
    result = run_pipeline(pipeline, events, source_base_url=SCRIPTED_SOURCE_URL, source=source,
                          service_bus=service_bus, delivery=delivery)
    return result, source


def statuses(result: RunResult, name: str) -> list[str]:
    """The status of every execution of action `name`, in iteration order."""
    return [record.status for record in result.records(name)]


def response_seconds(result: RunResult) -> float:
    """Virtual seconds from the trigger until the Response action answered the caller."""
    answered = [r for r in result.all_records
                if r.type == "Response" and r.status == "Succeeded"]
    assert len(answered) == 1, f"expected exactly one Response to run, got {[r.name for r in answered]}"
    return (answered[0].end - result.started).total_seconds()
