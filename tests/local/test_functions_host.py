"""The local Functions host: the real function app, triggered by the local Service Bus, with the dev
stack's app settings and host.json; what reaches the fake ERP and how each message is settled."""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import azure.functions as func
import pytest

from order_integration.contracts import dump_json, load_schema
from order_integration.http_clients import HttpTimeouts
from orderbridge.fake_apis import CustomerCard, FakeErp
from orderbridge.local.clock import SimClock
from orderbridge.local.errors import LocalStackError
from orderbridge.local.functions import (
    INTEGRATOR_DIR,
    FunctionsHost,
    app_settings_from_synthesis,
    discover_triggers,
    load_function_app,
    read_host_json,
)
from orderbridge.local.servicebus import MAX_DELIVERY_REASON, Broker, EntitySettings, Message
from orderbridge.synth import Synthesis
from tests.local.conftest import BrokerFactory
from topology import ECP_TO_ERP, ERP_TO_ECP

ERP_KEY, ECP_KEY = "erp-key-local-1", "ecp-key-local-1"
ORDERS, UPDATES = ECP_TO_ERP.queue_name, ERP_TO_ECP.queue_name
ORDER_PROPERTIES = {"eventType": "ECP.Order.Created", "eventSource": "/ecp/orders", "dataVersion": "1.0"}
TIME_SCALE = 600.0  # one simulated minute is 0.1 wall seconds
SERVICE_BUS_HOST = "127.0.0.1"


def local_settings(dev: Synthesis, erp: FakeErp, **extra: str) -> dict[str, str]:
    """The dev Function App's settings with local endpoints and keys, as the local stack passes them."""
    return app_settings_from_synthesis(dev, {
        "ServiceBusConnection__fullyQualifiedNamespace": SERVICE_BUS_HOST,
        "ERP_BASE_URL": erp.base_url,
        "ERP_API_KEY": ERP_KEY,
        "ECP_BASE_URL": "http://127.0.0.1:9",  # not called by these tests
        "ECP_API_KEY": ECP_KEY,
        **extra,
    })


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the host did not get there within the time allowed"
        time.sleep(0.01)


@dataclass
class Local:
    broker: Broker
    clock: SimClock
    erp: FakeErp
    dev: Synthesis

    def host(self, app: Any = None, **settings: str) -> FunctionsHost:
        return FunctionsHost(
            self.broker, clock=self.clock, app_settings=local_settings(self.dev, self.erp, **settings), app=app,
            runtime_options={"timeouts": HttpTimeouts(connect=1.0, read=1.0, pool=1.0)},
        )


@pytest.fixture()
def local(open_broker: BrokerFactory, dev_entities: list[EntitySettings], dev: Synthesis) -> Iterator[Local]:
    clock = SimClock(time_scale=TIME_SCALE)
    # The dev stack's web customer is WEB-DEV; the fake ERP gets that customer card.
    with FakeErp(api_key=ERP_KEY, customers={"WEB-DEV": CustomerCard(name="Web shop", prices_include_tax=True)}) as erp:
        yield Local(open_broker(dev_entities, clock_=clock, lock_floor=0.2), clock, erp, dev)


def order_message(order: dict[str, Any], **properties: str) -> Message:
    """An online-orders message as the order events processor sends it."""
    return Message(body=dump_json(order).encode(), message_id=order["id"], correlation_id="evt-1",
                   content_type="application/json", application_properties={**ORDER_PROPERTIES, **properties})


def test_the_triggers_are_bound_to_the_queues_the_app_settings_name(dev: Synthesis) -> None:
    settings = app_settings_from_synthesis(dev, {})
    triggers = {t.function_name: (t.queue, t.sessions) for t in discover_triggers(load_function_app(), settings)}
    assert triggers == {ECP_TO_ERP.function_name: (ORDERS, False), ERP_TO_ECP.function_name: (UPDATES, True)}


def test_a_binding_expression_without_its_app_setting_fails_indexing(dev: Synthesis) -> None:
    settings = app_settings_from_synthesis(dev, {})
    del settings[ECP_TO_ERP.queue_setting]
    with pytest.raises(LocalStackError, match=ECP_TO_ERP.queue_setting):
        discover_triggers(load_function_app(), settings)


def test_host_json_gives_the_concurrency_and_lock_renewal() -> None:
    settings = read_host_json(INTEGRATOR_DIR / "host.json")
    assert (settings.max_concurrent_calls, settings.max_concurrent_sessions) == (16, 16)
    assert settings.max_auto_lock_renewal == timedelta(minutes=10)
    assert settings.session_idle_timeout == timedelta(seconds=5)


def test_an_online_order_reaches_the_erp_through_create_order_in_erp_and_is_completed(local: Local) -> None:
    order = load_schema("ecp-order")["examples"][0]
    local.broker.send(ORDERS, order_message(order))
    with local.host() as host:
        wait_for(lambda: bool(host.invocations()))
    [invocation] = host.invocations()
    assert (invocation.function_name, invocation.delivery_count, invocation.outcome) == (
        ECP_TO_ERP.function_name, 1, "Completed")
    [created] = local.erp.orders_for(order["id"])
    assert created["customerNumber"] == "WEB-DEV"
    create = next(r for r in local.erp.requests if r.method == "POST")
    assert create.headers["x-correlation-id"] == "evt-1"
    assert local.broker.message_counts(ORDERS).active == 0 and local.broker.peek(ORDERS) == []


def test_an_erp_outage_becomes_a_scheduled_retry_on_the_local_queue_that_the_host_delivers(local: Local) -> None:
    order = load_schema("ecp-order")["examples"][0]
    local.erp.fail_next(503, method="POST")
    local.broker.send(ORDERS, order_message(order))
    with local.host() as host:
        wait_for(lambda: len(host.invocations()) == 2)
    first, retry = host.invocations()
    assert (first.outcome, retry.outcome) == ("Completed", "Completed")
    assert retry.message_id != first.message_id, "the retry is a new message the integrator scheduled"
    assert len(local.erp.orders_for(order["id"])) == 1


def test_a_function_that_raises_is_abandoned_until_max_delivery_count_dead_letters_its_message(local: Local) -> None:
    order = load_schema("ecp-order")["examples"][0]
    # An unknown contract version is parked, but the parking queue this app setting names does not
    # exist: the park fails with SendFailed, the function raises, and the host abandons the message.
    local.broker.send(ORDERS, order_message(order, dataVersion="2.0"))
    with local.host(**{ECP_TO_ERP.parking_queue_setting: "no-such-parking-queue"}) as host:
        wait_for(lambda: len(host.invocations()) == 5)
    assert [(i.delivery_count, i.outcome, i.error) for i in host.invocations()] == [
        (n, "Abandoned", "SendFailed") for n in range(1, 6)]
    [dead] = local.broker.peek(f"{ORDERS}/$deadletterqueue")
    assert (dead.message_id, dead.dead_letter_reason) == (order["id"], MAX_DELIVERY_REASON)
    assert local.erp.requests == []


def recording_app(
    queue_setting: str, *, sessions: bool, work: Callable[[func.ServiceBusMessage], None],
) -> func.FunctionApp:
    """A one-function app whose trigger is bound like the real ones (a binding expression, the same connection)."""
    app = func.FunctionApp()

    @app.function_name("recorder")
    @app.service_bus_queue_trigger(arg_name="message", queue_name=f"%{queue_setting}%",
                                   connection="ServiceBusConnection", is_sessions_enabled=sessions)
    def recorder(message: func.ServiceBusMessage) -> None:
        work(message)

    return app


def test_each_session_gets_one_call_at_a_time_in_order(local: Local) -> None:
    calls: dict[str, list[bytes]] = defaultdict(list)
    running: dict[str, int] = defaultdict(int)
    overlaps: list[str] = []
    lock = threading.Lock()

    def work(message: func.ServiceBusMessage) -> None:
        with lock:
            running[message.session_id] += 1
            if running[message.session_id] > 1:
                overlaps.append(message.session_id)
        time.sleep(0.005)
        with lock:
            running[message.session_id] -= 1
            calls[message.session_id].append(message.get_body())

    for n in range(4):
        for session in ("ORD-1", "ORD-2", "ORD-3"):
            local.broker.send(UPDATES, Message(f"{n}".encode(), message_id=f"{session}-{n}", session_id=session))
    app = recording_app(ERP_TO_ECP.queue_setting, sessions=True, work=work)
    with local.host(app) as host:
        wait_for(lambda: len(host.invocations()) == 12)
    assert overlaps == []
    assert {session: bodies for session, bodies in calls.items()} == {
        session: [b"0", b"1", b"2", b"3"] for session in ("ORD-1", "ORD-2", "ORD-3")}


def test_the_lock_is_renewed_while_a_long_call_runs(local: Local) -> None:
    # The lock lasts 0.2 wall seconds (the floor); the call takes three times as long.
    app = recording_app(ECP_TO_ERP.queue_setting, sessions=False, work=lambda message: time.sleep(0.6))
    local.broker.send(ORDERS, Message(b"{}", message_id="slow"))
    with local.host(app) as host:
        wait_for(lambda: bool(host.invocations()))
        time.sleep(0.2)  # a redelivery, had the lock expired, would have started by now
    assert [(i.delivery_count, i.outcome) for i in host.invocations()] == [(1, "Completed")]
