"""`orderbridge refetch` end to end: the real order-events-processor runs in the engine against a fake
ECP in maintenance, the order is parked, the ECP recovers, the re-fetch queues the order, and the
ERP integrator (called as the host calls it) creates exactly one ERP order in the fake ERP.

Service Bus is the integrator harness's in-memory one (with duplicate detection), seen by the
re-fetch through `SenderBackedBus`; the workflow's REST sends land in the workflow harness's fake
Service Bus, and the test carries them across as Service Bus would.
"""
from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from order_integration.servicebus import InMemorySender, OutboundMessage, SendFailed
from orderbridge.cli import main
from orderbridge.fake_apis import FakeEcp, Fault
from orderbridge.operations import (
    REFETCH_COUNT,
    AzureServiceBus,
    EcpOrders,
    OperationError,
    ParkedMessage,
    QueueMessage,
    RefetchReport,
    ServiceBusUnavailable,
    Verdict,
    refetch,
    source_for,
)
from orderbridge.operations import _command
from orderbridge.operations._bus import decoded_properties
from orderbridge.wdl import HttpxTransport, RunResult, VirtualClock
from topology import ECP_TO_ERP

from tests.integrator._runtime_support import (  # noqa: F401  (harness registers the fixture)
    Harness,
    example,
    harness,
    host_message,
    redelivered,
    user_function,
)
from tests.workflows._harness import API_KEY, ORDER_EVENTS, PAYLOAD_MARKER, FakeServiceBus, QueuedMessage, run_pipeline

SOURCE = source_for(ECP_TO_ERP.key)
QUEUE, PARKING = ECP_TO_ERP.queue_name, ECP_TO_ERP.parking_queue_name
MAINTENANCE_PAGE = Fault(status=200, body=b"<html><body>Down for maintenance</body></html>")
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=timezone.utc)
SAS_KEY = "c2FzLWtleS1uZXZlci1wcmludGVk"


@dataclass
class SenderBackedBus:
    """The re-fetch's Service Bus over the in-memory one the integrator parks in and reads from.

    Parked messages are drained from the sender's parking queue into sequence-numbered ones; sends go
    back to the sender, whose duplicate detection drops a repeated MessageId as Service Bus does.
    `fail_completes` makes that many completes fail, like a lock lost after the send.
    """

    sender: InMemorySender
    parked: list[ParkedMessage] = field(default_factory=list)
    fail_completes: int = 0
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def park(self, body: bytes, *, message_id: str, correlation_id: str | None, properties: dict[str, Any]) -> None:
        self.parked.append(ParkedMessage(next(self._numbers), message_id, body, correlation_id, dict(properties)))

    def peek(self, queue: str) -> list[ParkedMessage]:
        assert queue == PARKING
        for sent in self.sender.take_due(queue, FAR_FUTURE):
            m = sent.message
            self.park(m.body, message_id=m.message_id, correlation_id=m.correlation_id,
                      properties=dict(m.application_properties))
        return list(self.parked)

    @contextmanager
    def hold(self, queue: str, sequence_numbers: Any) -> Iterator["_Held"]:
        yield _Held(self, frozenset(sequence_numbers) & {p.sequence_number for p in self.parked})

    def send(self, queue: str, message: QueueMessage) -> None:
        try:
            self.sender.send(queue, OutboundMessage(
                body=message.body, message_id=message.message_id, correlation_id=message.correlation_id,
                content_type=message.content_type, application_properties=dict(message.application_properties),
            ))
        except SendFailed as exc:
            raise ServiceBusUnavailable(str(exc)) from exc

    def close(self) -> None:
        pass


@dataclass
class _Held:
    bus: SenderBackedBus
    held: frozenset[int]
    notes: list[str] = field(default_factory=list)

    def complete(self, sequence_number: int) -> None:
        if self.bus.fail_completes:
            self.bus.fail_completes -= 1
            raise ServiceBusUnavailable("could not complete a message of queue 'online-orders-rejected': lock lost")
        self.bus.parked = [p for p in self.bus.parked if p.sequence_number != sequence_number]


@pytest.fixture
def ecp() -> Iterator[FakeEcp]:
    """The ECP the workflow fetches from and the re-fetch fetches from, with the workflow's key."""
    with FakeEcp(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def bus(harness: Harness) -> SenderBackedBus:
    return SenderBackedBus(harness.bus)


@pytest.fixture
def service_bus() -> FakeServiceBus:
    return FakeServiceBus(VirtualClock())


def the_order() -> dict[str, Any]:
    return example("ecp-order")


def order_event(order: dict[str, Any]) -> dict[str, Any]:
    return ORDER_EVENTS.event(1, data={"orderId": order["id"], "orderNumber": order["number"]})


def run_workflow(ecp: FakeEcp, service_bus: FakeServiceBus, event: dict[str, Any]) -> RunResult:
    """One Event Grid delivery of `event` to the real order-events-processor, fetching from `ecp`."""
    with httpx.Client() as client:
        return run_pipeline(ORDER_EVENTS, [event], source_base_url=ecp.base_url, source=HttpxTransport(client),
                            service_bus=service_bus)


def carried(queued: QueuedMessage) -> dict[str, Any]:
    """A message the workflow sent over REST, as a receiver sees it (body bytes, ids, properties)."""
    body = queued.body if isinstance(queued.body, (bytes, str)) else json.dumps(queued.body)
    return {
        "body": body.encode() if isinstance(body, str) else body,
        "message_id": queued.broker_properties["MessageId"],
        "correlation_id": queued.broker_properties.get("CorrelationId"),
        "properties": dict(queued.properties),
    }


def deliver_to_erp_integrator(harness: Harness, message: dict[str, Any]) -> None:
    """The host delivering an online-orders message to erp_integrator."""
    user_function(ECP_TO_ERP.function_name)(host_message(
        message["body"], message_id=message["message_id"], properties=message["properties"],
        correlation_id=message["correlation_id"], enqueued_time_utc=harness.clock.now(),
    ))


def deliver_queued(harness: Harness) -> int:
    """Deliver every online-orders message that is due now; returns how many."""
    due = harness.bus.take_due(QUEUE, harness.clock.now())
    for sent in due:
        user_function(ECP_TO_ERP.function_name)(redelivered(sent))
    return len(due)


def erp_orders(harness: Harness, order_id: str) -> list[dict[str, Any]]:
    """The ERP's orders for `order_id` (Business Central stores the Code field upper-cased)."""
    return [o for o in harness.erp.sales_orders if str(o.get("externalDocumentNumber")).upper() == order_id.upper()]


def assert_one_erp_order_and_nothing_parked(harness: Harness, bus: SenderBackedBus, order_id: str) -> None:
    assert len(erp_orders(harness, order_id)) == 1, "exactly one ERP order"
    assert bus.peek(PARKING) == [], "nothing left in the parking queue"


def run_refetch(bus: SenderBackedBus, harness: Harness, ecp: FakeEcp, **options: Any) -> RefetchReport:
    with httpx.Client() as client:
        return refetch(SOURCE, bus, EcpOrders(ecp.base_url, API_KEY, client), now=harness.clock.now, **options)


# --- How an order gets parked while the ECP is in maintenance ----------------------------------------

def park_a_maintenance_object(harness: Harness, bus: SenderBackedBus, ecp: FakeEcp, service_bus: FakeServiceBus,
                              event: dict[str, Any]) -> str:
    """The ECP answers a JSON object that names the order but is not one: the workflow's body verdict
    accepts it (the id matches), and the ERP integrator parks it as a schema violation."""
    ecp.fail_next(Fault(status=200, body={"id": event["data"]["orderId"], "maintenance": True}))
    result = run_workflow(ecp, service_bus, event)
    assert result.response.status_code == 200
    [queued] = service_bus.messages(QUEUE)
    deliver_to_erp_integrator(harness, carried(queued))
    return "SchemaViolation"


def park_a_not_found(harness: Harness, bus: SenderBackedBus, ecp: FakeEcp, service_bus: FakeServiceBus,
                     event: dict[str, Any]) -> str:
    """The ECP, restoring from a backup, answers 404: the workflow parks the event itself."""
    result = run_workflow(ecp, service_bus, event)
    assert result.response.status_code == 200
    [parked] = service_bus.messages(PARKING)
    message = carried(parked)
    bus.park(message["body"], message_id=message["message_id"], correlation_id=message["correlation_id"],
             properties=message["properties"])
    return "OrderNotFound"


def park_a_maintenance_page(harness: Harness, bus: SenderBackedBus, ecp: FakeEcp, service_bus: FakeServiceBus,
                            event: dict[str, Any]) -> str:
    """The ECP answers 200 with an HTML page. Today's workflow answers 503 and queues nothing (Event Grid
    redelivers); the workflow before that guard queued the page, which the integrator parked as
    malformed. Those parks are still in the parking queues."""
    ecp.fail_next(MAINTENANCE_PAGE)
    assert run_workflow(ecp, service_bus, event).response.status_code == 503
    assert service_bus.messages(QUEUE) == [] and service_bus.messages(PARKING) == []
    deliver_to_erp_integrator(harness, {
        "body": MAINTENANCE_PAGE.body, "message_id": event["data"]["orderId"], "correlation_id": event["id"],
        "properties": {"eventType": event["eventType"], "eventSource": event["topic"],
                       "dataVersion": event["dataVersion"]},
    })
    return "MalformedMessage"


PARKINGS = [park_a_maintenance_object, park_a_not_found, park_a_maintenance_page]


@pytest.fixture
def not_found_order(harness: Harness, bus: SenderBackedBus, ecp: FakeEcp, service_bus: FakeServiceBus) -> dict[str, Any]:
    """An order whose event the workflow parked as OrderNotFound; the ECP does not have it yet."""
    order = the_order()
    park_a_not_found(harness, bus, ecp, service_bus, order_event(order))
    return order


@pytest.mark.parametrize("park", PARKINGS, ids=lambda f: f.__name__)
def test_park_ecp_healthy_again_refetch_gives_exactly_one_erp_order(
    harness: Harness, bus: SenderBackedBus, ecp: FakeEcp, service_bus: FakeServiceBus, park: Any
) -> None:
    order = the_order()
    event = order_event(order)
    reason = park(harness, bus, ecp, service_bus, event)
    [parked] = bus.peek(PARKING)
    assert parked.application_properties["reason"] == reason
    assert erp_orders(harness, order["id"]) == []

    ecp.put_order(order)
    report = run_refetch(bus, harness, ecp)

    [outcome] = report.outcomes
    assert (outcome.verdict, outcome.queued_as) == (Verdict.QUEUED, f"{order['id']}+refetch1"), outcome.detail
    assert bus.peek(PARKING) == [], "the parked message is removed once its order is queued"
    assert deliver_queued(harness) == 1
    [created] = erp_orders(harness, order["id"])
    assert created["externalDocumentNumber"].upper() == order["id"].upper()
    assert bus.peek(PARKING) == [], "the ERP integrator accepted the re-fetched order"

    assert run_refetch(bus, harness, ecp).outcomes == ()
    assert deliver_queued(harness) == 0
    assert len(erp_orders(harness, order["id"])) == 1


def test_the_refetched_message_is_what_the_workflow_queues_for_a_healthy_ecp_plus_its_refetch_marks(
    harness: Harness, bus: SenderBackedBus, ecp: FakeEcp, service_bus: FakeServiceBus
) -> None:
    """Same fetch (path, key, Accept) and same body, CorrelationId and properties as the workflow's send;
    a new MessageId and `originalMessageId`, so the integrator never takes it for a first delivery."""
    order = the_order()
    event = order_event(order)
    park_a_not_found(harness, bus, ecp, service_bus, event)
    ecp.put_order(order)
    healthy = FakeServiceBus(VirtualClock())
    run_workflow(ecp, healthy, event)
    [workflow_sent] = healthy.messages(QUEUE)
    workflow_fetch = ecp.requests[-1]

    run_refetch(bus, harness, ecp)

    refetch_fetch = ecp.requests[-1]
    for header in ("x-api-key", "accept"):
        assert refetch_fetch.headers[header] == workflow_fetch.headers[header], header
    assert (refetch_fetch.method, refetch_fetch.target) == (workflow_fetch.method, workflow_fetch.target)
    [sent] = harness.bus.messages(QUEUE)
    assert json.loads(sent.message.body) == workflow_sent.body
    assert sent.message.correlation_id == workflow_sent.broker_properties["CorrelationId"]
    assert sent.message.content_type == "application/json"
    assert dict(sent.message.application_properties) == {
        **workflow_sent.properties, "originalMessageId": order["id"], REFETCH_COUNT: 1,
    }


def test_a_refetched_order_the_erp_already_has_is_looked_up_not_created_again(
    harness: Harness, bus: SenderBackedBus, ecp: FakeEcp, service_bus: FakeServiceBus
) -> None:
    """A new order whose first delivery created it (without a look-up), parked again from a second event:
    the re-fetched copy is queued minutes after the order was placed, yet must not pass for a first delivery."""
    order = {**the_order(), "createdAt": (harness.clock.now() - timedelta(minutes=5)).isoformat()}
    ecp.put_order(order)
    run_workflow(ecp, service_bus, order_event(order))
    [first] = service_bus.messages(QUEUE)
    deliver_to_erp_integrator(harness, carried(first))
    assert len(erp_orders(harness, order["id"])) == 1
    ecp.fail_next(404)
    park_a_not_found(harness, bus, ecp, service_bus, ORDER_EVENTS.event(2, data={"orderId": order["id"]}))

    [outcome] = run_refetch(bus, harness, ecp).outcomes
    assert outcome.verdict is Verdict.QUEUED
    assert deliver_queued(harness) == 1

    assert len(erp_orders(harness, order["id"])) == 1
    assert [r.method for r in harness.erp.requests] == ["POST", "GET"], "created once, then looked up"


def test_refetching_again_after_a_lost_complete_still_gives_one_erp_order(
    harness: Harness, bus: SenderBackedBus, ecp: FakeEcp, service_bus: FakeServiceBus
) -> None:
    """The send succeeded but the parked message could not be removed: the next run sends the same
    MessageId, which duplicate detection drops, and removes it."""
    order = the_order()
    park_a_maintenance_object(harness, bus, ecp, service_bus, order_event(order))
    ecp.put_order(order)
    bus.fail_completes = 1

    [first] = run_refetch(bus, harness, ecp).outcomes
    assert first.verdict is Verdict.LEFT_PARKED and "run again" in first.detail
    assert deliver_queued(harness) == 1
    [second] = run_refetch(bus, harness, ecp).outcomes

    assert second.verdict is Verdict.QUEUED
    assert [d.message.message_id for d in harness.bus.dropped] == [f"{order['id']}+refetch1"]
    assert deliver_queued(harness) == 0
    assert_one_erp_order_and_nothing_parked(harness, bus, order["id"])


def test_an_order_parked_again_after_a_refetch_gets_the_next_refetch_number(
    harness: Harness, bus: SenderBackedBus, ecp: FakeEcp, not_found_order: dict[str, Any]
) -> None:
    """The integrator keeps `refetchCount` when it parks, so the next MessageId is new to duplicate detection."""
    order = not_found_order
    ecp.put_order({**order, "customer": {"lastName": "Doe"}})  # the ECP recovered with a broken order
    run_refetch(bus, harness, ecp, reasons=["OrderNotFound"])  # the gate passes only valid orders...
    assert bus.peek(PARKING)[0].application_properties["reason"] == "OrderNotFound"

    ecp.put_order({**order, "currency": "EUR", "pricesIncludeTax": False})  # ...a valid one the ERP refuses
    [outcome] = run_refetch(bus, harness, ecp).outcomes
    assert outcome.queued_as == f"{order['id']}+refetch1"
    deliver_queued(harness)
    [parked_again] = bus.peek(PARKING)
    assert parked_again.application_properties["reason"] == "MappingFailed"

    ecp.put_order(order)
    [outcome] = run_refetch(bus, harness, ecp).outcomes
    assert outcome.queued_as == f"{order['id']}+refetch2"
    deliver_queued(harness)
    assert_one_erp_order_and_nothing_parked(harness, bus, order["id"])


# --- What stays parked -------------------------------------------------------------------------------

@pytest.mark.parametrize(("answer", "said"), [
    (MAINTENANCE_PAGE, "Content-Type 'text/html', not application/json"),
    (Fault(status=503), "HTTP 503"),
    (Fault(status=200, body={"id": "ord-999999"}), "an object whose id is not 'ord-100045'"),
    (Fault(status=200, body=[{"id": "ord-100045"}]), "a JSON list, not an object"),
], ids=["maintenance page", "503", "another order", "array"])
def test_a_body_that_is_still_not_the_order_stays_parked_with_a_clear_message(
    harness: Harness, bus: SenderBackedBus, ecp: FakeEcp, service_bus: FakeServiceBus, answer: Fault, said: str
) -> None:
    order = the_order()
    park_a_maintenance_page(harness, bus, ecp, service_bus, order_event(order))
    [parked] = bus.peek(PARKING)
    ecp.fail_next(answer)

    [outcome] = run_refetch(bus, harness, ecp).outcomes

    assert outcome.verdict is Verdict.LEFT_PARKED and outcome.order_id == order["id"]
    assert outcome.detail == f"the ECP still answers something other than the order: {said}"
    assert bus.peek(PARKING) == [parked]
    assert harness.bus.messages(QUEUE) == [] and erp_orders(harness, order["id"]) == []


def test_an_order_that_breaks_the_contract_stays_parked_and_the_message_names_fields_not_values(
    harness: Harness, bus: SenderBackedBus, ecp: FakeEcp, service_bus: FakeServiceBus
) -> None:
    order = the_order()
    park_a_maintenance_object(harness, bus, ecp, service_bus, order_event(order))
    broken = {**order, "customer": {**order["customer"], "email": f"no at sign {PAYLOAD_MARKER.replace('@', '_')}"}}
    del broken["lines"]
    ecp.put_order(broken)

    [outcome] = run_refetch(bus, harness, ecp).outcomes

    assert outcome.verdict is Verdict.LEFT_PARKED
    assert "violates schemas/ecp-order.schema.json" in outcome.detail
    assert "/customer/email fails 'pattern'" in outcome.detail and '/ "lines" is a required property' in outcome.detail
    assert "no at sign" not in outcome.detail
    assert len(bus.peek(PARKING)) == 1 and harness.bus.messages(QUEUE) == []


def test_an_order_whose_erp_create_may_still_commit_waits_until_the_time_the_integrator_named(
    harness: Harness, bus: SenderBackedBus, ecp: FakeEcp
) -> None:
    order = the_order()
    ecp.put_order(order)
    not_before = harness.clock.now() + timedelta(minutes=20)
    bus.park(b"<html></html>", message_id=f"{order['id']}+retry9+parked", correlation_id="evt-1", properties={
        "parkedBy": ECP_TO_ERP.parked_by, "reason": "RetriesExhausted", "originalMessageId": order["id"],
        "description": f"gave up ...; do not replay before {not_before:%Y-%m-%d %H:%M} UTC, when that create ...",
    })

    [early] = run_refetch(bus, harness, ecp).outcomes
    assert early.verdict is Verdict.LEFT_PARKED and "re-fetch after" in early.detail
    assert harness.bus.messages(QUEUE) == []
    harness.clock.advance(timedelta(minutes=21))
    [later] = run_refetch(bus, harness, ecp).outcomes
    assert later.verdict is Verdict.QUEUED


def test_messages_that_name_no_order_stay_parked_and_the_ecp_is_not_called(
    harness: Harness, bus: SenderBackedBus, ecp: FakeEcp, service_bus: FakeServiceBus
) -> None:
    handshake = ORDER_EVENTS.event(7, eventType="Microsoft.EventGrid.SubscriptionValidationEvent",
                                   data={"validationCode": "c"})
    for event in (handshake, ORDER_EVENTS.event(8, data={"orderId": ".."})):
        run_workflow(ecp, service_bus, event)
    for parked in service_bus.messages(PARKING):
        message = carried(parked)
        bus.park(message["body"], message_id=message["message_id"], correlation_id=message["correlation_id"],
                 properties=message["properties"])
    bus.park(b"{}", message_id="x", correlation_id=None, properties={"parkedBy": "someone-else"})
    asked = len(ecp.requests)

    outcomes = run_refetch(bus, harness, ecp).outcomes

    assert [o.detail for o in outcomes] == [
        "the parked body is not an ECP.Order.Created event",
        "the event's data.orderId is not an id schemas/ecp-order-created-event.schema.json admits",
        "parked by 'someone-else', neither 'order-events-processor' nor 'erp-integrator': not a message this "
        "command can re-fetch; see its reason and description",
    ]
    assert {o.verdict for o in outcomes} == {Verdict.LEFT_PARKED}
    assert len(ecp.requests) == asked and len(bus.peek(PARKING)) == 3


def test_two_parks_of_one_order_are_queued_once(
    harness: Harness, bus: SenderBackedBus, ecp: FakeEcp, not_found_order: dict[str, Any]
) -> None:
    """Two messages for one order on the queue at once could both miss the ERP look-up and create twice."""
    order = not_found_order
    park_a_maintenance_page(harness, bus, ecp, FakeServiceBus(VirtualClock()), order_event(order))
    ecp.put_order(order)

    outcomes = run_refetch(bus, harness, ecp, order_id=order["id"].upper()).outcomes

    assert [(o.verdict, o.queued_as) for o in outcomes] == [(Verdict.QUEUED, f"{order['id']}+refetch1")] * 2
    assert len(harness.bus.messages(QUEUE)) == 1
    deliver_queued(harness)
    assert_one_erp_order_and_nothing_parked(harness, bus, order["id"])


def test_a_dry_run_fetches_and_checks_but_queues_and_removes_nothing(
    harness: Harness, bus: SenderBackedBus, ecp: FakeEcp, not_found_order: dict[str, Any]
) -> None:
    order = not_found_order
    ecp.put_order(order)

    [outcome] = run_refetch(bus, harness, ecp, dry_run=True).outcomes

    assert (outcome.verdict, outcome.queued_as) == (Verdict.WOULD_QUEUE, f"{order['id']}+refetch1")
    assert harness.bus.messages(QUEUE) == [] and len(bus.peek(PARKING)) == 1


def test_a_failed_send_leaves_the_message_parked(
    harness: Harness, bus: SenderBackedBus, ecp: FakeEcp, not_found_order: dict[str, Any]
) -> None:
    order = not_found_order
    ecp.put_order(order)
    harness.bus.failure = "namespace unavailable"

    [outcome] = run_refetch(bus, harness, ecp).outcomes

    assert outcome.verdict is Verdict.LEFT_PARKED and "could not be queued" in outcome.detail
    assert len(bus.peek(PARKING)) == 1


def test_an_order_id_with_nothing_parked_is_an_error(harness: Harness, bus: SenderBackedBus, ecp: FakeEcp) -> None:
    with pytest.raises(OperationError, match="no message for order 'ord-1' is parked in 'online-orders-rejected'"):
        run_refetch(bus, harness, ecp, order_id="ord-1")


# --- The command ---------------------------------------------------------------------------------------

@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, ecp: FakeEcp) -> dict[str, str]:
    monkeypatch.setenv("ECP_API_KEY", API_KEY)
    monkeypatch.delenv(_command.CONNECTION_STRING_ENV, raising=False)
    return {"ECP_BASE_URL": ecp.base_url}


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, ["refetch", *args], env=env)


def test_the_command_queues_a_recovered_order_and_prints_no_secret(
    harness: Harness, bus: SenderBackedBus, ecp: FakeEcp, service_bus: FakeServiceBus, not_found_order: dict[str, Any],
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    order = not_found_order
    ecp.put_order(order)
    monkeypatch.setattr(_command, "open_service_bus", lambda namespace, connection_string: bus)

    result = invoke("--namespace", "sb-orderbridge-dev.servicebus.windows.net", env=cli_env)

    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"queued       {service_bus.messages(PARKING)[0].broker_properties['MessageId']}")
    assert f"-> {order['id']}+refetch1" in result.output and API_KEY not in result.output


def test_the_command_fails_when_a_message_stays_parked(
    harness: Harness, bus: SenderBackedBus, ecp: FakeEcp, service_bus: FakeServiceBus,
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    park_a_maintenance_page(harness, bus, ecp, service_bus, order_event(the_order()))
    ecp.fail_next(MAINTENANCE_PAGE)
    monkeypatch.setattr(_command, "open_service_bus", lambda namespace, connection_string: bus)

    result = invoke("--namespace", "sb-orderbridge-dev.servicebus.windows.net", env=cli_env)

    assert result.exit_code == 1
    assert "left parked" in result.output and "Content-Type 'text/html'" in result.output
    assert result.output.splitlines()[-1] == (
        "Error: 1 of 1 parked messages stay parked in online-orders-rejected; the lines above say why")
    assert "Traceback" not in result.output and API_KEY not in result.output


@pytest.mark.parametrize(("args", "env", "error"), [
    ([], {}, "Error: give exactly one of --namespace"),
    (["--namespace", "sb-x"], {}, "Error: --namespace takes the namespace's host name"),
    (["--pipeline", "erp-to-ecp", "--namespace", "sb.x"], {}, "Error: re-fetch covers the ecp-to-erp pipeline only"),
    (["--namespace", "sb.x"], {"ECP_BASE_URL": "http://ecp.example.com"}, "Error: the ECP base URL must be an https URL"),
    (["--namespace", "sb.x"], {"ECP_API_KEY": ""}, "Error: set $ECP_API_KEY to the ECP API key"),
    (["--namespace", "sb.x"], {"ECP_API_KEY": "k\r\nX: y"}, "Error: $ECP_API_KEY contains a line break"),
], ids=["no bus", "bare namespace", "other pipeline", "plain http", "no key", "key with CRLF"])
def test_bad_options_are_one_error_line_without_a_traceback(
    cli_env: dict[str, str], args: list[str], env: dict[str, str], error: str
) -> None:
    result = invoke(*args, env={**cli_env, **env})

    assert result.exit_code == 1, result.output
    assert result.output.startswith(error), result.output
    assert "Traceback" not in result.output and "k\r\nX" not in result.output


def test_a_service_bus_failure_is_one_error_line_without_the_sas_key(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    connection_string = f"Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey={SAS_KEY};UseDevelopmentEmulator=true"

    class Refusing(SenderBackedBus):
        def peek(self, queue: str) -> list[ParkedMessage]:
            raise ServiceBusUnavailable(f"could not peek queue {queue!r}: ServiceBusConnectionError")

    monkeypatch.setattr(_command, "open_service_bus", lambda namespace, cs: Refusing(InMemorySender()))

    result = invoke("--connection-string", connection_string, env=cli_env)

    assert result.exit_code == 1
    assert "WARNING: a connection string on the command line stays in the shell history" in result.output
    assert "Error: could not peek queue 'online-orders-rejected'" in result.output
    assert SAS_KEY not in result.output and "Traceback" not in result.output


# --- The azure-servicebus adapter, against a stand-in for its client ------------------------------------

@dataclass
class _SdkMessage:
    sequence_number: int
    message_id: str
    body: Any = (b'{"a":', b"1}")
    correlation_id: str | None = "evt-1"
    application_properties: Any = field(default_factory=lambda: {b"reason": b"SchemaViolation", b"retryAttempt": 3})


@dataclass
class _SdkReceiver:
    """azure-servicebus's receiver surface the adapter uses: peek pages, receive batches, settle."""

    queue: list[_SdkMessage]
    settled: dict[int, str] = field(default_factory=dict)
    entity_path: str = PARKING

    def __enter__(self) -> "_SdkReceiver":
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def peek_messages(self, max_message_count: int, sequence_number: int) -> list[_SdkMessage]:
        return [m for m in self.queue if m.sequence_number >= sequence_number][:2]

    def receive_messages(self, max_message_count: int, max_wait_time: float) -> list[_SdkMessage]:
        locked = [m for m in self.queue if m.sequence_number not in self.settled][:2]
        for m in locked:
            self.settled[m.sequence_number] = "locked"
        return locked

    def complete_message(self, message: _SdkMessage) -> None:
        self.settled[message.sequence_number] = "completed"

    def abandon_message(self, message: _SdkMessage) -> None:
        self.settled[message.sequence_number] = "abandoned"


@dataclass
class _SdkClient:
    receiver: _SdkReceiver

    def get_queue_receiver(self, queue: str) -> _SdkReceiver:
        return self.receiver

    def close(self) -> None:
        pass


class _NoRenewal:
    def register(self, receiver: Any, message: Any) -> None:
        pass

    def close(self) -> None:
        pass


def test_the_azure_adapter_peeks_every_page_and_decodes_the_properties() -> None:
    receiver = _SdkReceiver([_SdkMessage(n, f"m{n}") for n in (3, 4, 9)])

    parked = AzureServiceBus(lambda: _SdkClient(receiver)).peek(PARKING)

    assert [p.sequence_number for p in parked] == [3, 4, 9]
    assert parked[0].body == b'{"a":1}'
    assert parked[0].application_properties == {"reason": "SchemaViolation", "retryAttempt": 3}
    assert decoded_properties(None) == {}


def test_the_azure_adapter_locks_up_to_the_wanted_messages_and_puts_back_all_it_did_not_complete() -> None:
    receiver = _SdkReceiver([_SdkMessage(n, f"m{n}") for n in (1, 2, 3, 4, 5)])
    bus = AzureServiceBus(lambda: _SdkClient(receiver), lock_renewer=_NoRenewal)

    with bus.hold(PARKING, {2, 3}) as held:
        assert held.held == {2, 3}
        held.complete(3)

    assert receiver.settled == {1: "abandoned", 2: "abandoned", 3: "completed", 4: "abandoned"}
    assert held.notes == []
