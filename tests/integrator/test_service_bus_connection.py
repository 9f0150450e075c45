"""The integrators reach Service Bus the way their trigger does: with the `ServiceBusConnection`
connection string on the local stack, with `ServiceBusConnection__fullyQualifiedNamespace` and the
managed identity in Azure, never both.

The settings cases check the connection string in the form azure-servicebus takes it, without a
problem repeating any of it. The seam cases run both sides: a runtime built from a connection string
delivers a message through `runtime.deliver_to_erp` against the fake ERP, and its retry or park
arrives at a real local broker through its AMQP front; the retry then comes back and completes.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from order_integration import runtime
from order_integration.contracts import dump_json
from order_integration.messages import MessageOutcome
from order_integration.settings import SettingsError, load_settings, secret_values
from orderbridge.fake_apis import FakeErp
from orderbridge.local.servicebus import (
    AmqpFront,
    Broker,
    Credentials,
    EntitySettings,
    MessageState,
    ReceivedMessage,
)
from tests.integrator._runtime_support import (
    ERP_KEY,
    ORDER_PROPERTIES,
    TEST_TIMEOUTS,
    delivered,
    example,
    order_message,
)
from tests.integrator.test_functions_app import VALID_SETTINGS
from tests.local.test_servicebus_amqp import OffsetClock
from topology import ECP_TO_ERP, PIPELINES

KEY_NAME, KEY = "RootManageSharedAccessKey", "Y29ubmVjdGlvbi1zZXR0aW5ncy10ZXN0LWtleQ=="
LOCAL = f"Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName={KEY_NAME};SharedAccessKey={KEY};UseDevelopmentEmulator=true"
AZURE = f"Endpoint=sb://sb-orderbridge-dev.servicebus.windows.net/;SharedAccessKeyName={KEY_NAME};SharedAccessKey={KEY}"
NAMESPACE = "ServiceBusConnection__fullyQualifiedNamespace"
WITHOUT_NAMESPACE = {name: value for name, value in VALID_SETTINGS.items() if name != NAMESPACE}


def settings_problems(environ: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    return caught.value.problems


def repeats_the_string(text: str, connection_string: str) -> bool:
    """Whether `text` holds the key, the Endpoint's host or any other value of `connection_string`."""
    values = [part.split("=", 1)[1] for part in connection_string.split(";") if "=" in part]
    hosts = re.findall(r"sb://([^/;:]+)", connection_string)
    return any(len(value) >= 6 and value.lower() in text.lower() for value in [*values, *hosts, KEY[:12]])


@pytest.mark.parametrize(
    ("connection_string", "namespace"),
    [
        (LOCAL, "127.0.0.1:5672"),
        (AZURE, "sb-orderbridge-dev.servicebus.windows.net"),
        ("endpoint=SB://localhost;sharedaccesskeyname=Root;sharedaccesskey=abc123;usedevelopmentemulator=true;",
         "localhost"),
        ("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessSignature=SharedAccessSignature sr=x&sig=s1g&se=1",
         "ns.servicebus.windows.net"),
    ],
    ids=["local broker", "Azure namespace", "keys in any case, trailing semicolon", "SAS token alone"],
)
def test_a_connection_string_alone_is_used_and_never_shown(connection_string, namespace):
    settings = load_settings({**WITHOUT_NAMESPACE, "ServiceBusConnection": connection_string})
    assert settings.uses_connection_string and settings.service_bus_connection_string == connection_string
    assert settings.service_bus_namespace == namespace
    assert "connection string hidden" in repr(settings)
    assert connection_string not in repr(settings) and "abc123" not in repr(settings) and KEY not in repr(settings)


def test_the_namespace_alone_means_the_managed_identity():
    settings = load_settings(VALID_SETTINGS)
    assert not settings.uses_connection_string and settings.service_bus_connection_string is None
    assert settings.service_bus_namespace == VALID_SETTINGS[NAMESPACE]


def test_both_set_is_refused_because_the_trigger_would_take_the_connection_string():
    [problem] = settings_problems({**VALID_SETTINGS, "ServiceBusConnection": AZURE})
    assert problem.startswith(f"set only one of {NAMESPACE}") and "same connection" in problem
    assert not repeats_the_string(problem, AZURE)


def test_neither_set_is_one_problem_naming_both():
    [problem] = settings_problems(WITHOUT_NAMESPACE)
    assert NAMESPACE in problem and "connection string in ServiceBusConnection" in problem


REFUSED = {
    "EntityPath": (AZURE + ";EntityPath=online-orders", "is limited to one queue (EntityPath)"),
    "no SharedAccessKey": (AZURE.replace(f";SharedAccessKey={KEY}", ""), "needs SharedAccessKeyName and SharedAccessKey"),
    "no SharedAccessKeyName": (AZURE.replace(f"SharedAccessKeyName={KEY_NAME};", ""), "needs SharedAccessKeyName"),
    "key and signature": (AZURE + ";SharedAccessSignature=SharedAccessSignature sr=x&sig=s1g", "keep one of them"),
    "no Endpoint": (f"SharedAccessKeyName={KEY_NAME};SharedAccessKey={KEY}", "needs Endpoint=sb://"),
    "https Endpoint": (AZURE.replace("sb://", "https://"), "needs Endpoint=sb://"),
    "Endpoint with a path": (AZURE.replace(".net/", ".net/online-orders"), "needs Endpoint=sb://"),
    "a port without the emulator": (LOCAL.replace(";UseDevelopmentEmulator=true", ""), "names a port"),
    "port out of range": (LOCAL.replace("5672", "99999"), "port must be between 1 and 65535"),
    "emulator flag in upper case": (LOCAL.replace("=true", "=True"), "'true' or 'false', in lower case"),
    "emulator flag for a remote host": (AZURE + ";UseDevelopmentEmulator=true", "needs an Endpoint on localhost"),
    "a part without '='": (AZURE.replace("Endpoint=", "Endpoint "), "is not a connection string"),
    "an empty part": (AZURE.replace(";", ";;", 1), "is not a connection string"),
    "a key twice": (AZURE + f";sharedaccesskey={KEY}", "is not a connection string"),
    "a line break in the key": (AZURE.replace(KEY, KEY[:10] + "\n" + KEY[10:]), "is not a connection string"),
    "a space in the key": (AZURE.replace(KEY, KEY[:10] + " " + KEY[10:]), "cannot hold spaces"),
    "an unknown key": (AZURE + ";UseDevelopementEmulator=true", "holds a key other than Endpoint"),
    "just the key": (KEY, "holds a key other than Endpoint"),
    "a Key Vault reference": (
        "@Microsoft.KeyVault(SecretUri=https://kv-orderbridge-dev.vault.azure.net/secrets/sb/)",
        "is an unresolved Key Vault reference",
    ),
}


@pytest.mark.parametrize(("connection_string", "expected"), REFUSED.values(), ids=REFUSED.keys())
def test_a_connection_string_the_sdk_or_the_trigger_would_misread_is_refused_without_repeating_it(
    connection_string, expected
):
    [problem] = settings_problems({**WITHOUT_NAMESPACE, "ServiceBusConnection": connection_string})
    assert problem.startswith("ServiceBusConnection") and expected in problem, problem
    assert not repeats_the_string(problem, connection_string), problem


def test_a_connection_string_in_the_namespace_setting_stays_refused_as_before():
    [problem] = settings_problems({**VALID_SETTINGS, NAMESPACE: AZURE})
    assert problem.startswith(f"{NAMESPACE} holds a connection string, not a host name")
    assert KEY not in problem


@pytest.mark.parametrize("connection_string", [AZURE, AZURE + ";EntityPath=q"], ids=["accepted", "refused"])
def test_the_connection_string_and_its_key_are_secrets_even_when_refused(connection_string):
    secrets = secret_values({"ServiceBusConnection": connection_string})
    assert connection_string in secrets and KEY in secrets
    assert not any(name in secrets for name in ("SharedAccessKey", "SharedAccessSignature", "Endpoint"))


def test_a_sas_tokens_signature_is_a_secret_its_scheme_word_is_not():
    token = "SharedAccessSignature sr=sb%3a%2f%2fns&sig=c2lnbmF0dXJl&se=1&skn=Root"
    secrets = secret_values({"ServiceBusConnection": f"Endpoint=sb://ns/;SharedAccessSignature={token}"})
    assert token.removeprefix("SharedAccessSignature ") in secrets
    assert "SharedAccessSignature" not in secrets  # else every problem naming the key would be masked


# The seam: a runtime from a connection string, against the local broker.


@dataclass(frozen=True)
class LocalServiceBus:
    """A broker with the topology's queues, its AMQP front, and a clock the test moves (the broker's and the runtime's)."""

    broker: Broker
    front: AmqpFront
    clock: OffsetClock

    def messages(self, queue: str, message_id: str) -> list[ReceivedMessage]:
        """What `queue` holds for `message_id`, scheduled messages included, without locking them."""
        return [m for m in self.broker.peek(queue, max_messages=100) if m.message_id == message_id]


@pytest.fixture(scope="module")
def service_bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServiceBus]:
    clock = OffsetClock()
    queues = [
        EntitySettings(name, requires_session=p.requires_session and name == p.queue_name)
        for p in PIPELINES for name in (p.queue_name, p.parking_queue_name)
    ]
    broker = Broker(tmp_path_factory.mktemp("sb") / "servicebus.sqlite", queues, clock, lock_floor=0.0)
    try:
        with AmqpFront(broker, Credentials(sas_keys={KEY_NAME: KEY})) as front:
            yield LocalServiceBus(broker, front, clock)
    finally:
        broker.close()


@pytest.fixture(scope="module")
def erp() -> Iterator[FakeErp]:
    with FakeErp(api_key=ERP_KEY) as started:
        yield started


@pytest.fixture()
def connected(service_bus: LocalServiceBus, erp: FakeErp) -> Iterator[runtime.Runtime]:
    """The runtime the Functions host builds from a local stack's settings, installed for the entry points."""
    environ = {
        **WITHOUT_NAMESPACE,
        "ServiceBusConnection": service_bus.front.connection_string(KEY_NAME),
        "ERP_BASE_URL": erp.base_url,
        "ERP_API_KEY": ERP_KEY,
    }
    built = runtime.build_runtime(environ, now=service_bus.clock.now, timeouts=TEST_TIMEOUTS)
    runtime.install_runtime(built)
    try:
        yield built
    finally:
        runtime.install_runtime(None)
        built.sender.close()


def order_with_id(order_id: str) -> dict:
    order = example("ecp-order")
    order["id"] = order_id
    return order


def delivered_again(received: ReceivedMessage) -> object:
    """The host's view of a message the broker hands out."""
    return delivered(received, received.delivery_count, enqueued_time_utc=received.enqueued_time)


def test_a_retry_is_scheduled_on_the_broker_then_delivered_and_completed(connected, service_bus, erp):
    order = order_with_id("ord-700001")
    erp.fail_next(503)  # the look-up: no duplicate-detection settings, so every order is looked up
    sent_at = service_bus.clock.now()
    assert runtime.deliver_to_erp(order_message(order, correlation_id="evt-retry")) is MessageOutcome.RETRY_SCHEDULED

    [retry] = service_bus.messages(ECP_TO_ERP.queue_name, "ord-700001+retry1")
    assert retry.state is MessageState.SCHEDULED and retry.scheduled_enqueue_time > sent_at
    assert retry.body == dump_json(order).encode() and retry.correlation_id == "evt-retry"
    properties = retry.application_properties
    assert properties["retryAttempt"] == 1 and properties["originalMessageId"] == "ord-700001"
    assert "503" in properties["lastError"] and KEY not in dump_json(dict(properties))

    service_bus.clock.advance((retry.scheduled_enqueue_time - service_bus.clock.now()).total_seconds() + 1)
    [due] = service_bus.broker.receive(ECP_TO_ERP.queue_name)
    assert due.message_id == "ord-700001+retry1"
    assert runtime.deliver_to_erp(delivered_again(due)) is MessageOutcome.CREATED
    service_bus.broker.complete(ECP_TO_ERP.queue_name, due.lock_token)
    assert len(erp.orders_for("ord-700001")) == 1


def test_a_park_arrives_on_the_parking_queue_with_its_reason(connected, service_bus, erp):
    order = order_with_id("ord-700002")
    message = order_message(order, properties={**ORDER_PROPERTIES, "dataVersion": "9.0"})
    assert runtime.deliver_to_erp(message) is MessageOutcome.PARKED

    [parked] = service_bus.messages(ECP_TO_ERP.parking_queue_name, "ord-700002+parked")
    assert parked.state is MessageState.ACTIVE and parked.body == dump_json(order).encode()
    properties = parked.application_properties
    assert properties["reason"] == "UnsupportedDataVersion" and properties["parkedBy"] == ECP_TO_ERP.parked_by
    assert properties["dataVersion"] == "9.0" and properties["originalMessageId"] == "ord-700002"
    assert erp.orders_for("ord-700002") == [] and service_bus.messages(ECP_TO_ERP.queue_name, "ord-700002+retry1") == []


def test_the_runtime_never_shows_the_connection_strings_key(connected):
    assert KEY in connected.secrets
    assert KEY not in repr(connected.settings) and KEY not in repr(connected.sender)
