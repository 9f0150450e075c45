"""What the integrator tests share: host-like messages, the real entry points, fake targets, a clock.

The functions are called the way the Functions host calls them: the user function of each entry in
`app.get_functions()`, given an `azure.functions.servicebus.ServiceBusMessage` (the class the host's
converter builds). Settings come from environment variables pointing at the fake ERP and ECP; only
the Service Bus side is replaced, by an InMemorySender, since no namespace exists here.
"""
from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessage

import function_app
from order_integration import runtime
from order_integration.contracts import dump_json, load_schema
from order_integration.http_clients import HttpTimeouts
from order_integration.servicebus import InMemorySender, Sent
from orderbridge.fake_apis import FakeEcp, FakeErp

ERP_KEY = "erp-key-5f1c9a7e"
ECP_KEY = "ecp-key-0b83d2aa"
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
DUPLICATE_DETECTION_WINDOW = timedelta(days=1)
ONLINE_ORDERS_CREATED_AT = T0 - timedelta(days=30)
QUEUED_AFTER = timedelta(seconds=5)  # the order events processor queues an order seconds after it is placed
TEST_TIMEOUTS = HttpTimeouts(connect=1.0, read=0.5, pool=1.0)
ORDER_PROPERTIES = {"eventType": "ECP.Order.Created", "eventSource": "/ecp/orders", "dataVersion": "1.0"}
STATE_PROPERTIES = {"eventType": "ERP.SalesOrder.Updated", "eventSource": "/erp/salesOrders", "dataVersion": "1"}
_event_ids = itertools.count(1)


def user_function(name: str) -> Callable[[func.ServiceBusMessage], Any]:
    """The plain callable the host invokes for function `name`, found through `app.get_functions()`."""
    return {f.get_function_name(): f for f in indexed_functions()}[name].get_user_function()


def indexed_functions() -> list[Any]:
    """`app.get_functions()`, callable more than once per process.

    azure-functions 1.26 remembers the names it indexed in `app.functions_bindings` and rejects
    them as duplicates on a second call (the host indexes once); clear that record around the call
    so every test in the process, ours or another engineer's, can index the app.
    """
    function_app.app.functions_bindings = None
    try:
        return function_app.app.get_functions()
    finally:
        function_app.app.functions_bindings = None


def example(contract: str, index: int = 0) -> dict[str, Any]:
    """A deep copy of one of the contract's schema examples (numbers as Decimal)."""
    return copy.deepcopy(load_schema(contract)["examples"][index])


def host_message(
    body: bytes,
    *,
    message_id: str,
    properties: dict[str, Any],
    correlation_id: str | None = None,
    session_id: str | None = None,
    delivery_count: int = 1,
    enqueued_time_utc: datetime | None = T0,
) -> ServiceBusMessage:
    """A message as the host's Service Bus converter builds it."""
    return ServiceBusMessage(
        body=body,
        message_id=message_id,
        correlation_id=correlation_id or f"evt-{next(_event_ids)}",
        session_id=session_id,
        delivery_count=delivery_count,
        content_type="application/json",
        application_properties=dict(properties),
        user_properties=dict(properties),
        enqueued_time_utc=enqueued_time_utc,
        sequence_number=1,
        lock_token="00000000-0000-0000-0000-000000000001",
    )


def order_message(order: dict[str, Any], **kwargs: Any) -> ServiceBusMessage:
    """An `online-orders` message: body = the ECP order, MessageId = its id, enqueued 5 s after it was placed."""
    kwargs.setdefault("message_id", order["id"])
    kwargs.setdefault("properties", ORDER_PROPERTIES)
    kwargs.setdefault("enqueued_time_utc", _placed(order) + QUEUED_AFTER)
    return host_message(dump_json(order).encode(), **kwargs)


def _placed(order: dict[str, Any]) -> datetime:
    """The order's `createdAt`, or T0 for an order whose createdAt a test broke on purpose."""
    try:
        return datetime.fromisoformat(str(order.get("createdAt")))
    except ValueError:
        return T0


def state_message(state: dict[str, Any], **kwargs: Any) -> ServiceBusMessage:
    """An `order-updates` message: MessageId `{salesOrderId}-{changeVersion}`, SessionId = the upper-cased
    ECP order id, as the erp-events-processor workflow sends it."""
    kwargs.setdefault("message_id", f"{state['id']}-{state['changeVersion']}")
    kwargs.setdefault("session_id", state["externalDocumentNumber"].upper())
    kwargs.setdefault("properties", STATE_PROPERTIES)
    return host_message(dump_json(state).encode(), **kwargs)


def delivered(message: Any, delivery_count: int = 1, **extra: Any) -> ServiceBusMessage:
    """The host's view of `message` (an OutboundMessage, or a local broker's ReceivedMessage) when delivered."""
    return host_message(
        message.body,
        message_id=message.message_id,
        properties=dict(message.application_properties),
        correlation_id=message.correlation_id,
        session_id=message.session_id,
        delivery_count=delivery_count,
        **extra,
    )


def redelivered(sent: Sent, delivery_count: int = 1) -> ServiceBusMessage:
    """The host's view of a message our code scheduled or parked, once Service Bus delivers it."""
    return delivered(sent.message, delivery_count)


class VirtualClock:
    """Time that moves only when a test says so."""

    def __init__(self, start: datetime = T0) -> None:
        self.value = start

    def now(self) -> datetime:
        return self.value

    def advance(self, delta: timedelta) -> None:
        self.value += delta


@dataclass
class Harness:
    """Fake ERP and ECP, the in-memory Service Bus side and the clock behind the real entry points."""

    erp: FakeErp
    ecp: FakeEcp
    bus: InMemorySender
    clock: VirtualClock

    def parked(self, queue: str) -> list[Sent]:
        return self.bus.messages(queue)

    def run_due(self, queue: str, function_name: str, until: datetime) -> int:
        """Deliver scheduled messages of `queue` in time order, moving the clock, until none is due by `until`."""
        delivered = 0
        while True:
            pending = [s for s in self.bus.messages(queue) if s.enqueue_at is not None]
            if not pending:
                return delivered
            next_at = min(s.enqueue_at for s in pending)
            if next_at > until:
                return delivered
            self.clock.value = max(self.clock.value, next_at)
            for sent in self.bus.take_due(queue, self.clock.value):
                user_function(function_name)(redelivered(sent))
                delivered += 1


@pytest.fixture()
def harness(monkeypatch: pytest.MonkeyPatch):
    """Start the fakes, point the app settings at them and install a runtime with an in-memory bus."""
    with FakeErp(api_key=ERP_KEY) as erp, FakeEcp(api_key=ECP_KEY) as ecp:
        settings = {
            "ServiceBusConnection__fullyQualifiedNamespace": "sb-orderbridge-test.servicebus.windows.net",
            "ERP_BASE_URL": erp.base_url,
            "ERP_API_KEY": ERP_KEY,
            "ECP_BASE_URL": ecp.base_url + "/",
            "ECP_API_KEY": ECP_KEY,
            "ERP_WEB_CUSTOMER_NUMBER": "WEB",
            "ERP_SHIPPING_CHARGE_ITEM": "SHIPPING",
            "ERP_PRICES_INCLUDE_TAX": "true",  # the fake ERP's WEB customer card, and the examples' basis
            # As infra sets them from the queue: a provably first delivery creates without a look-up.
            "ONLINE_ORDERS_DUPLICATE_DETECTION_MINUTES": str(int(DUPLICATE_DETECTION_WINDOW.total_seconds() // 60)),
            "ONLINE_ORDERS_QUEUE_CREATED_AT": ONLINE_ORDERS_CREATED_AT.isoformat(),
        }
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("RETRY_MAX_SPAN_MINUTES", raising=False)
        monkeypatch.delenv("ERP_UNKNOWN_OUTCOME_RETRY_MINUTES", raising=False)
        clock = VirtualClock()
        # Like the queues infra creates: duplicate detection with the default one-day window.
        bus = InMemorySender(duplicate_detection_window=DUPLICATE_DETECTION_WINDOW, now=clock.now)
        runtime.install_runtime(runtime.build_runtime(sender=bus, now=clock.now, timeouts=TEST_TIMEOUTS))
        try:
            yield Harness(erp=erp, ecp=ecp, bus=bus, clock=clock)
        finally:
            runtime.install_runtime(None)
