"""The local Functions host: the real function app, triggered through azure-servicebus by the local
Service Bus's AMQP front, with the dev stack's app settings and host.json; what reaches the fake ERP,
what the function saw, and how each message was settled on the broker."""
from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
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
from orderbridge.local.servicebus import (
    MAX_DELIVERY_REASON,
    AmqpFront,
    Broker,
    Credentials,
    EntitySettings,
    Message,
    MessageState,
)
from orderbridge.synth import Synthesis
from tests.local.conftest import BrokerFactory
from topology import ECP_TO_ERP, ERP_TO_ECP

ERP_KEY, ECP_KEY = "erp-key-local-1", "ecp-key-local-1"
KEY_NAME, SAS_KEY = "RootManageSharedAccessKey", "bG9jYWwtZnVuY3Rpb25zLWhvc3Qta2V5"
ORDERS, UPDATES = ECP_TO_ERP.queue_name, ERP_TO_ECP.queue_name
ORDER_PROPERTIES = {"eventType": "ECP.Order.Created", "eventSource": "/ecp/orders", "dataVersion": "1.0"}
TIME_SCALE = 600.0  # one simulated minute is 0.1 wall seconds


def local_settings(dev: Synthesis, erp: FakeErp, connection_string: str, **extra: str) -> dict[str, str]:
    """The dev Function App's settings with local endpoints and keys, as the local stack passes them."""
    return app_settings_from_synthesis(dev, {
        "ServiceBusConnection": connection_string,
        "ServiceBusConnection__fullyQualifiedNamespace": None,
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
    front: AmqpFront
    clock: SimClock
    erp: FakeErp
    dev: Synthesis

    def host(
        self, app: Any = None, host_json: Path = INTEGRATOR_DIR / "host.json", renewal_floor: float = 0.0,
        **settings: str,
    ) -> FunctionsHost:
        connection_string = self.front.connection_string(KEY_NAME)
        return FunctionsHost(
            entities=self.broker.entities, clock=self.clock, app=app, host_json=host_json, renewal_floor=renewal_floor,
            app_settings=local_settings(self.dev, self.erp, connection_string, **settings),
            runtime_options={"timeouts": HttpTimeouts(connect=1.0, read=1.0, pool=1.0)},
        )


@pytest.fixture()
def local(open_broker: BrokerFactory, dev_entities: list[EntitySettings], dev: Synthesis) -> Iterator[Local]:
    clock = SimClock(time_scale=TIME_SCALE)
    broker = open_broker(dev_entities, clock_=clock, lock_floor=1.0)
    # The dev stack's web customer is WEB-DEV; the fake ERP gets that customer card.
    with FakeErp(api_key=ERP_KEY, customers={"WEB-DEV": CustomerCard(name="Web shop", prices_include_tax=True)}) as erp, \
            AmqpFront(broker, Credentials(sas_keys={KEY_NAME: SAS_KEY})) as front:
        yield Local(broker, front, clock, erp, dev)


def host_json_with(path: Path, **service_bus: Any) -> Path:
    """The app's host.json with some `extensions.serviceBus` settings changed, written to `path`."""
    settings = json.loads((INTEGRATOR_DIR / "host.json").read_text(encoding="utf-8"))
    settings["extensions"]["serviceBus"].update(service_bus)
    path.write_text(json.dumps(settings), encoding="utf-8")
    return path


@pytest.fixture()
def small_host_json(tmp_path: Path) -> Path:
    """host.json with two listeners per trigger: enough for the tests of one rule, and quicker to start."""
    return host_json_with(tmp_path / "host.json", maxConcurrentCalls=2, maxConcurrentSessions=2)


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
    assert settings.prefetch_count == 0
    assert settings.client_retry.client_options() == {
        "retry_mode": "exponential", "retry_total": 3, "retry_backoff_factor": 0.8, "retry_backoff_max": 60.0,
        "try_timeout": 60.0}


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


def test_a_function_that_raises_is_abandoned_until_max_delivery_count_dead_letters_its_message(
    local: Local, small_host_json: Path
) -> None:
    def work(message: func.ServiceBusMessage) -> None:
        raise RuntimeError("the function fails on every delivery")

    local.broker.send(ORDERS, Message(b"{}", message_id="always-fails"))
    with local.host(recording_app(ECP_TO_ERP.queue_setting, sessions=False, work=work), small_host_json) as host:
        wait_for(lambda: len(host.invocations()) == 5)
    # The 1-based count the function saw, delivery by delivery; the dev queue's maxDeliveryCount is 5.
    assert [(i.delivery_count, i.outcome, i.error) for i in host.invocations()] == [
        (n, "Abandoned", "RuntimeError") for n in range(1, 6)]
    [dead] = local.broker.peek(f"{ORDERS}/$deadletterqueue")
    assert (dead.message_id, dead.dead_letter_reason) == ("always-fails", MAX_DELIVERY_REASON)


def test_each_session_gets_one_call_at_a_time_in_order(local: Local, small_host_json: Path) -> None:
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
    with local.host(app, small_host_json) as host:
        wait_for(lambda: len(host.invocations()) == 12)
    assert overlaps == []
    assert {session: bodies for session, bodies in calls.items()} == {
        session: [b"0", b"1", b"2", b"3"] for session in ("ORD-1", "ORD-2", "ORD-3")}


def test_the_lock_is_renewed_while_a_long_call_runs(local: Local, tmp_path: Path) -> None:
    # The lock lasts one wall second (the floor); the call takes two and a half. Renewal goes on for up
    # to maxAutoLockRenewalDuration in simulated time: an hour here, six wall seconds.
    host_json = host_json_with(tmp_path / "host.json", maxConcurrentCalls=1, maxConcurrentSessions=1,
                               maxAutoLockRenewalDuration="01:00:00")
    app = recording_app(ECP_TO_ERP.queue_setting, sessions=False, work=lambda message: time.sleep(2.5))
    local.broker.send(ORDERS, Message(b"{}", message_id="slow"))
    with local.host(app, host_json) as host:
        wait_for(lambda: bool(host.invocations()))
        time.sleep(0.5)  # a redelivery, had the lock expired, would have started by now
    assert [(i.delivery_count, i.outcome) for i in host.invocations()] == [(1, "Completed")]


def test_lock_renewal_stops_at_max_auto_lock_renewal_duration_and_service_bus_redelivers(
    local: Local, tmp_path: Path
) -> None:
    # Ten simulated minutes are one wall second here; the first call outlives its last renewal.
    host_json = host_json_with(tmp_path / "host.json", maxConcurrentCalls=1, maxConcurrentSessions=1)
    calls: list[int] = []

    def work(message: func.ServiceBusMessage) -> None:
        calls.append(message.delivery_count)
        if len(calls) == 1:
            time.sleep(2.5)

    local.broker.send(ORDERS, Message(b"{}", message_id="too-slow"))
    with local.host(recording_app(ECP_TO_ERP.queue_setting, sessions=False, work=work), host_json) as host:
        wait_for(lambda: len(host.invocations()) == 2)
    assert [(i.delivery_count, i.outcome) for i in host.invocations()] == [(1, "LockLost"), (2, "Completed")]
    assert local.broker.message_counts(ORDERS).active == 0


def test_lock_renewal_lasts_at_least_the_wall_floor_however_fast_the_clock_runs(local: Local, tmp_path: Path) -> None:
    # The same call as above; ten simulated minutes are one wall second, but the floor keeps renewing.
    host_json = host_json_with(tmp_path / "host.json", maxConcurrentCalls=1, maxConcurrentSessions=1)
    app = recording_app(ECP_TO_ERP.queue_setting, sessions=False, work=lambda message: time.sleep(2.5))
    local.broker.send(ORDERS, Message(b"{}", message_id="slow-but-floored"))
    with local.host(app, host_json, renewal_floor=10.0) as host:
        wait_for(lambda: bool(host.invocations()))
    assert [(i.delivery_count, i.outcome) for i in host.invocations()] == [(1, "Completed")]


def test_the_function_sees_the_messages_fields_as_the_python_worker_builds_them(
    local: Local, small_host_json: Path
) -> None:
    seen: list[func.ServiceBusMessage] = []
    local.broker.send(UPDATES, Message(
        b'{"state": "Shipped"}', message_id="ORD-7-3", correlation_id="evt-7", session_id="ORD-7",
        content_type="application/json", application_properties={"eventType": "ERP.SalesOrder.Changed", "n": 3},
    ))
    app = recording_app(ERP_TO_ECP.queue_setting, sessions=True, work=seen.append)
    with local.host(app, small_host_json) as host:
        wait_for(lambda: bool(host.invocations()))
    [message] = seen
    assert (message.get_body(), message.message_id, message.correlation_id, message.session_id,
            message.content_type) == (b'{"state": "Shipped"}', "ORD-7-3", "evt-7", "ORD-7", "application/json")
    # Text, as the worker hands it (the SDK itself returns string properties as bytes).
    assert message.application_properties == {"eventType": "ERP.SalesOrder.Changed", "n": 3}
    # Azure's 1-based count; the AMQP header said 0 (tests/local/test_servicebus_amqp.py pins that side).
    assert message.delivery_count == 1
    assert message.state == 0 and message.sequence_number > 0
    assert message.enqueued_time_utc is not None and message.locked_until is not None


def test_a_wrong_key_fails_the_start_without_showing_the_connection_string(local: Local, tmp_path: Path) -> None:
    wrong = local.front.connection_string(KEY_NAME).replace(SAS_KEY, "d3Jvbmcta2V5LXdyb25nLWtleQ==")
    app = recording_app(ECP_TO_ERP.queue_setting, sessions=False, work=lambda message: None)
    # No client retries: the SDK retries an authentication error (15 s with host.json's options).
    host_json = host_json_with(tmp_path / "host.json", maxConcurrentCalls=2, maxConcurrentSessions=1,
                               clientRetryOptions={"maxRetries": 0})
    host = local.host(app, host_json, ServiceBusConnection=wrong)
    with pytest.raises(LocalStackError, match="ServiceBusAuthenticationError") as raised:
        host.start()
    assert "d3Jvbmc" not in str(raised.value) and "SharedAccessKey" not in str(raised.value)
    assert local.broker.message_counts(ORDERS).active == 0


def test_a_host_without_a_connection_string_refuses_to_start_at_once(local: Local, small_host_json: Path) -> None:
    app = recording_app(ECP_TO_ERP.queue_setting, sessions=False, work=lambda message: None)
    host = local.host(app, small_host_json, ServiceBusConnection="",
                      ServiceBusConnection__fullyQualifiedNamespace="sb-orderbridge-dev.servicebus.windows.net")
    started = time.monotonic()
    with pytest.raises(LocalStackError, match="connects with a connection string"):
        host.start()
    assert time.monotonic() - started < 5, "refused before any listener waits to connect"


def test_a_renewal_that_fails_still_ends_in_a_recorded_settlement(local: Local, small_host_json: Path) -> None:
    # The message is settled behind the host's back mid-call, so the renewal at half its lock fails.
    def work(message: func.ServiceBusMessage) -> None:
        local.broker.complete(ORDERS, message.lock_token)
        time.sleep(0.8)  # past the renewal at half the 1 s lock

    local.broker.send(ORDERS, Message(b"{}", message_id="settled-elsewhere"))
    host = local.host(recording_app(ECP_TO_ERP.queue_setting, sessions=False, work=work), small_host_json)
    with host:
        wait_for(lambda: bool(host.invocations()))
    assert [(i.message_id, i.outcome) for i in host.invocations()] == [("settled-elsewhere", "LockLost")]
    assert local.broker.message_counts(ORDERS).active == 0
    with pytest.raises(LocalStackError, match="has been stopped"):
        host.start()
