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
