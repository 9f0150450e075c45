"""The Azure Service Bus sender: lazy, and a failed send becomes SendFailed (the host then abandons)."""
from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from azure.core.credentials import AccessToken

from order_integration.servicebus import AzureServiceBusSender, InMemorySender, OutboundMessage, SendFailed

MESSAGE = OutboundMessage(body=b"{}", message_id="ord-1+retry1", application_properties={"retryAttempt": 1})


class StaticCredential:
    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken("token", int(time.time()) + 3600)


def test_creating_the_sender_connects_to_nothing_and_imports_nothing():
    code = (
        "import sys; from order_integration.servicebus import AzureServiceBusSender; "
        "AzureServiceBusSender('sb-x.servicebus.windows.net'); "
        "print([m for m in ('azure.servicebus', 'azure.identity') if m in sys.modules])"
    )
    func_dir = Path(__file__).parents[2] / "integrator_func"
    out = subprocess.run([sys.executable, "-c", code], cwd=func_dir, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("scheduled", [False, True])
def test_unreachable_namespace_raises_send_failed_naming_queue_and_message(scheduled):
    # 127.0.0.1 has no AMQP listener: the connection is refused at once.
    sender = AzureServiceBusSender("127.0.0.1", credential=StaticCredential(), retry_total=0)
    with pytest.raises(SendFailed) as caught:
        if scheduled:
            sender.schedule("online-orders", MESSAGE, datetime(2026, 11, 27, 12, 5, tzinfo=timezone.utc))
        else:
            sender.send("online-orders-rejected", MESSAGE)
    assert caught.value.message_id == "ord-1+retry1"
    assert "ServiceBusConnectionError" in str(caught.value)
    assert "Data Sender role" in str(caught.value)


def test_in_memory_duplicate_detection_drops_a_repeated_message_id_per_queue_within_the_window():
    now = [datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)]
    sender = InMemorySender(duplicate_detection_window=timedelta(minutes=10), now=lambda: now[0])
    sender.send("online-orders", MESSAGE)
    sender.schedule("online-orders", MESSAGE, now[0] + timedelta(minutes=1))  # same id: dropped
    sender.send("online-orders-rejected", MESSAGE)  # another queue: kept
    now[0] += timedelta(minutes=10)
    sender.send("online-orders", MESSAGE)  # window over: kept
    assert len(sender.messages("online-orders")) == 2
    assert len(sender.messages("online-orders-rejected")) == 1
    [dropped] = sender.dropped
    assert dropped.queue == "online-orders" and dropped.enqueue_at is not None


@pytest.mark.parametrize(
    "message",
    [
        OutboundMessage(body=b"{}", message_id="m" * 129),
        OutboundMessage(body=b"{}", message_id="ord-1+retry1", session_id="s" * 129),
    ],
    ids=["message_id", "session_id"],
)
def test_an_id_over_128_characters_is_send_failed_by_both_senders(message):
    """azure-servicebus raises a plain ValueError while building such a message; it must be SendFailed."""
    azure = AzureServiceBusSender("sb-x.servicebus.windows.net", credential=StaticCredential(), retry_total=0)
    memory = InMemorySender()
    for sender in (azure, memory):
        with pytest.raises(SendFailed, match="128") as caught:
            sender.send("online-orders-rejected", message)
        assert caught.value.message_id == message.message_id
    assert memory.messages("online-orders-rejected") == []


def test_the_in_memory_sender_refuses_a_message_without_session_id_for_a_session_queue():
    """As Service Bus does ("The SessionId was not set on a message", Azure/azure-service-bus#289)."""
    memory = InMemorySender(session_queues=frozenset({"order-updates"}))
    with pytest.raises(SendFailed, match="no SessionId"):
        memory.send("order-updates", OutboundMessage(body=b"{}", message_id="SO-1-3+replay1"))
    memory.send("order-updates", OutboundMessage(body=b"{}", message_id="SO-1-3+replay1", session_id="ORD-7"))
    memory.send("online-orders", OutboundMessage(body=b"{}", message_id="ord-7+replay1"))
    assert [len(memory.messages(q)) for q in ("order-updates", "online-orders")] == [1, 1]


class LocalNamespace:
    """The local broker's AMQP front, so the real SDK code path runs against a Service Bus."""

    KEY = "c2VuZGVyLXRlc3Qta2V5LTEyMzQ1Njc4OTA="

    def __init__(self, path: Path) -> None:
        from orderbridge.local.clock import SimClock
        from orderbridge.local.servicebus import AmqpFront, Broker, Credentials, EntitySettings

        self.broker = Broker(path, [EntitySettings("online-orders")], SimClock(1.0), lock_floor=0.0)
        self.front = AmqpFront(self.broker, Credentials(sas_keys={"RootManageSharedAccessKey": self.KEY})).start()
        self.connection_string = self.front.connection_string("RootManageSharedAccessKey")

    def close(self) -> None:
        self.front.close()
        self.broker.close()


@pytest.fixture(scope="module")
def local_namespace(tmp_path_factory: pytest.TempPathFactory):
    namespace = LocalNamespace(tmp_path_factory.mktemp("sb") / "servicebus.sqlite")
    yield namespace
    namespace.close()


def test_a_connection_string_sends_and_schedules_through_one_sender_link(local_namespace):
    sender = AzureServiceBusSender(connection_string=local_namespace.connection_string, retry_total=0)
    at = datetime.now(timezone.utc) + timedelta(minutes=5)
    try:
        sender.send("online-orders", MESSAGE)
        sender.schedule("online-orders", OutboundMessage(body=b"{}", message_id="ord-1+retry2"), at)
        kept = sender._senders["online-orders"]
        sender.send("online-orders", OutboundMessage(body=b"{}", message_id="ord-2+retry1"))
        assert sender._senders["online-orders"] is kept  # one link per queue, not one per send
    finally:
        sender.close()
    peeked = local_namespace.broker.peek("online-orders", max_messages=5)
    assert [(m.message_id, m.application_properties) for m in peeked] == [
        ("ord-1+retry1", {"retryAttempt": 1}), ("ord-1+retry2", {}), ("ord-2+retry1", {})]
    assert peeked[1].scheduled_enqueue_time is not None
    for message in local_namespace.broker.receive("online-orders", max_messages=5):
        local_namespace.broker.complete("online-orders", message.lock_token)


def test_a_wrong_key_in_the_connection_string_fails_the_send_without_repeating_the_key(local_namespace):
    wrong = local_namespace.connection_string.replace(LocalNamespace.KEY, "d3Jvbmcta2V5LXRoYXQtaXMtbG9uZy1lbm91Z2g=")
    sender = AzureServiceBusSender(connection_string=wrong, retry_total=0)
    with pytest.raises(SendFailed) as caught:
        sender.send("online-orders", MESSAGE)
    assert "ServiceBusAuthenticationError" in str(caught.value)
    assert "d3Jvbmcta2V5" not in str(caught.value)
    assert sender._senders == {}  # the failed link is not kept
    sender.close()


def test_the_sender_takes_a_namespace_or_a_connection_string_not_both():
    with pytest.raises(TypeError):
        AzureServiceBusSender("sb-x.servicebus.windows.net", connection_string="Endpoint=sb://x/;SharedAccessKey=k")
    with pytest.raises(TypeError):
        AzureServiceBusSender()


def test_a_client_library_fault_is_send_failed_and_the_next_send_opens_a_new_link(local_namespace, monkeypatch):
    """azure-servicebus's AMQP layer can raise an IndexError on a frame it cannot decode and shut its handler
    down; that link must not be reused, and the caller must see SendFailed (its message is not completed)."""
    sender = AzureServiceBusSender(connection_string=local_namespace.connection_string, retry_total=0)
    try:
        sender.send("online-orders", OutboundMessage(body=b"{}", message_id="ord-3+retry1"))
        broken = sender._senders["online-orders"]

        def fault(*_: object, **__: object) -> None:
            raise IndexError("index out of bounds on dimension 1")

        monkeypatch.setattr(broken, "send_messages", fault)
        with pytest.raises(SendFailed, match="IndexError") as caught:
            sender.send("online-orders", OutboundMessage(body=b"{}", message_id="ord-3+retry2"))
        assert caught.value.message_id == "ord-3+retry2" and "online-orders" not in sender._senders
        sender.send("online-orders", OutboundMessage(body=b"{}", message_id="ord-3+retry3"))
        assert sender._senders["online-orders"] is not broken
    finally:
        sender.close()
    received = local_namespace.broker.receive("online-orders", max_messages=5)
    assert [m.message_id for m in received] == ["ord-3+retry1", "ord-3+retry3"]
    for message in received:
        local_namespace.broker.complete("online-orders", message.lock_token)
