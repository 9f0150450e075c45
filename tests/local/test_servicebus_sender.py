"""The integrators' redelivery code sending through BrokerSender: its retries and parks land in the local
queues as Azure would hold them, and the broker's refusals reach it as SendFailed."""
from __future__ import annotations

from datetime import timedelta

import pytest

from order_integration.errors import MappingError, TransientError
from order_integration.messages import InboundMessage, MessageOutcome
from order_integration.redelivery import Redelivery, RetryPolicy, Route
from order_integration.servicebus import OutboundMessage, SendFailed
from orderbridge.local.servicebus import Broker, BrokerSender, EntitySettings, MessageState
from tests.local.conftest import BrokerFactory, ManualClock
from topology import ECP_TO_ERP

ORDERS, PARKING = ECP_TO_ERP.queue_name, ECP_TO_ERP.parking_queue_name


@pytest.fixture()
def broker(open_broker: BrokerFactory, dev_entities: list[EntitySettings]) -> Broker:
    return open_broker(dev_entities)


def redelivery(broker: Broker, clock: ManualClock) -> Redelivery:
    route = Route(ORDERS, PARKING, ECP_TO_ERP.parked_by)
    return Redelivery(route=route, sender=BrokerSender(broker), policy=RetryPolicy(), now=clock.now,
                      unit_random=lambda: 0.5)


def received_order() -> InboundMessage:
    return InboundMessage(body=b'{"id": "ord-1"}', message_id="ord-1", correlation_id="evt-1",
                          content_type="application/json", application_properties={"dataVersion": "1.0"})


def test_a_transient_failure_becomes_a_scheduled_retry_on_the_local_queue(broker: Broker, clock: ManualClock) -> None:
    outcome = redelivery(broker, clock).handle(received_order(), TransientError("ERP answered 503"))
    assert outcome is MessageOutcome.RETRY_SCHEDULED
    (retry,) = broker.peek(ORDERS)
    assert retry.state is MessageState.SCHEDULED
    assert retry.scheduled_enqueue_time == clock.now() + timedelta(seconds=30)  # the first backoff, no jitter
    assert (retry.correlation_id, retry.application_properties["retryAttempt"]) == ("evt-1", 1)
    clock.advance(30)
    assert broker.receive(ORDERS)[0].body == b'{"id": "ord-1"}'


def test_a_permanent_failure_is_parked_with_its_reason(broker: Broker, clock: ManualClock) -> None:
    error = MappingError(field="$.lines[0].sku", message="no such item")
    assert redelivery(broker, clock).handle(received_order(), error) is MessageOutcome.PARKED
    (parked,) = broker.receive(PARKING)
    assert parked.application_properties["reason"] == error.reason
    assert parked.application_properties["parkedBy"] == ECP_TO_ERP.parked_by


def test_a_refused_send_raises_send_failed_naming_the_queue(broker: Broker) -> None:
    sender = BrokerSender(broker)
    with pytest.raises(SendFailed, match="no-such-queue"):
        sender.send("no-such-queue", OutboundMessage(body=b"{}", message_id="m"))
    with pytest.raises(SendFailed, match="MessageSizeExceeded"):
        sender.send(ORDERS, OutboundMessage(body=b"x" * (256 * 1024 + 1), message_id="big"))
