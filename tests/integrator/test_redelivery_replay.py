"""Replaying parked and dead-lettered `order-updates` messages, delivered through the ECP integrator.

`order-updates` is a session queue: Service Bus refuses a message without a SessionId there, so the
bus in these tests does too. A dead-lettered message has no `sessionId` property (only a park adds
it); its replay takes the SessionId it was received with, or derives it from the body as the
workflow does, and starts a fresh retry chain.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from order_integration.contracts import dump_json
from order_integration.messages import InboundMessage
from order_integration.redelivery import CannotReplay, replay_message
from orderbridge.fake_apis import Fault
from tests.integrator._runtime_support import (
    STATE_PROPERTIES,
    T0,
    example,
    host_message,
    redelivered,
    state_message,
    user_function,
)
from topology import ERP_TO_ECP, PIPELINES

UPDATES, REJECTED = ERP_TO_ECP.queue_name, ERP_TO_ECP.parking_queue_name
SESSION_QUEUES = frozenset(p.queue_name for p in PIPELINES if p.requires_session)
ecp_integrator = user_function(ERP_TO_ECP.function_name)


@pytest.fixture()
def updates(harness):
    """The harness with the fake ECP holding the order at change 2, and a bus that enforces sessions."""
    order = example("ecp-order")
    order["erpChangeVersion"] = 2
    harness.ecp.put_order(json.loads(dump_json(order)))
    harness.bus.session_queues = SESSION_QUEUES
    return harness


def state(change_version: int = 3) -> dict:
    value = example("erp-sales-order-state")
    value["changeVersion"] = change_version
    return value


def dead_lettered(*, session_id: str | None) -> InboundMessage:
    """Change 3's second retry as read from `order-updates/$deadletterqueue` after maxDeliveryCount.

    Its deliveries raised (Service Bus refused the next retry), so it still carries its retry chain,
    whose first failure is hours old, and the properties Service Bus adds when it dead-letters.
    """
    properties = {
        **STATE_PROPERTIES,
        "originalMessageId": "SO-104233-3",
        "retryChainId": "SO-104233-3",
        "retryAttempt": 2,
        "firstFailureAt": (T0 - timedelta(hours=3)).isoformat(),
        "lastError": "ECP answered HTTP 503 on PATCH /orders/ord-100045",
        "DeadLetterReason": "MaxDeliveryCountExceeded",
        "DeadLetterErrorDescription": "Message could not be consumed after 10 delivery attempts.",
    }
    received = host_message(
        dump_json(state(3)).encode(),
        message_id="SO-104233-3+retry2",
        properties=properties,
        correlation_id="evt-dlq",
        session_id=session_id,
        delivery_count=10,
    )
    return InboundMessage.from_functions(received)


def deliver_replay(harness, replay) -> None:
    """Send the replay as the operator's script does, and let Service Bus hand it to the function."""
    harness.bus.send(UPDATES, replay)
    [due] = harness.bus.take_due(UPDATES, harness.clock.now())
    ecp_integrator(redelivered(due))


def test_a_parked_update_is_replayed_into_its_session_and_applied(updates):
    updates.ecp.fail_next(Fault(status=404))  # OrderNotFound: parked at once
    ecp_integrator(state_message(state(3)))
    [parked] = updates.bus.take_due(REJECTED, updates.clock.now())
    assert parked.message.application_properties["reason"] == "OrderNotFound"

    replay = replay_message(InboundMessage.from_functions(redelivered(parked)))
    assert replay.session_id == "ORD-100045" and replay.message_id == "SO-104233-3+replay1"
    deliver_replay(updates, replay)

    assert updates.ecp.order("ord-100045")["erpChangeVersion"] == 3
    assert updates.parked(REJECTED) == [] and updates.bus.dropped == []


@pytest.mark.parametrize(
    ("session_id", "expected"),
    [("ord-100045", "ORD-100045"), (None, "ORD-100045")],
    ids=["its own SessionId in another case", "read without SessionId: the body's, upper-cased as the workflow sends it"],
)
def test_a_dead_lettered_update_is_replayed_into_its_session_and_applied(updates, session_id, expected):
    replay = replay_message(dead_lettered(session_id=session_id), ERP_TO_ECP)
    assert replay.session_id == expected
    assert replay.message_id == "SO-104233-3+replay1" and replay.correlation_id == "evt-dlq"
    props = replay.application_properties
    assert not {"DeadLetterReason", "DeadLetterErrorDescription"} & props.keys()
    deliver_replay(updates, replay)
    assert updates.ecp.order("ord-100045")["erpChangeVersion"] == 3
    assert updates.parked(REJECTED) == []


def test_a_replayed_dead_lettered_update_gets_a_fresh_retry_chain(updates):
    """Its old chain's first failure is hours old: kept, the first 503 would park it as RetriesExhausted."""
    replay = replay_message(dead_lettered(session_id="ord-100045"), ERP_TO_ECP)
    assert replay.application_properties["previousFirstFailureAt"] == (T0 - timedelta(hours=3)).isoformat()
    updates.ecp.fail_next(Fault(status=503), method="PATCH")
    deliver_replay(updates, replay)

    assert updates.parked(REJECTED) == []
    [retry] = updates.bus.messages(UPDATES)
    assert retry.message.message_id == "SO-104233-3+replay1+retry1" and retry.message.session_id == "ORD-100045"
    assert updates.run_due(UPDATES, ERP_TO_ECP.function_name, until=T0 + timedelta(hours=1)) == 1
    assert updates.ecp.order("ord-100045")["erpChangeVersion"] == 3


def test_a_dead_lettered_message_needs_its_pipeline_named():
    with pytest.raises(CannotReplay, match="no parkedBy property"):
        replay_message(dead_lettered(session_id="ord-100045"))


def test_a_session_replay_without_any_session_id_is_refused_not_sent_without_one():
    message = dead_lettered(session_id=None)
    bare = InboundMessage(body=b"<html>maintenance</html>", message_id=message.message_id)
    with pytest.raises(CannotReplay, match="carries no SessionId"):
        replay_message(bare, ERP_TO_ECP)


@pytest.mark.parametrize("count", ["9" * 5000, -1, "two", 10**6])
def test_a_hand_made_replay_count_is_refused_without_echoing_it(count):
    message = dead_lettered(session_id="ord-100045")
    message = InboundMessage(
        body=message.body, message_id=message.message_id, session_id=message.session_id,
        application_properties={**message.application_properties, "replayCount": count},
    )
    with pytest.raises(CannotReplay, match="the replayCount property is") as caught:
        replay_message(message, ERP_TO_ECP)
    assert "9" * 100 not in str(caught.value)
