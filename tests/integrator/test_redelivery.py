"""Backoff schedule, derived MessageIds, retry properties, parking, and failing sends."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from order_integration.errors import MappingError, OutcomeUnknown, TargetUnavailable
from order_integration.messages import InboundMessage, MessageOutcome
from order_integration.redelivery import Redelivery, RetryPolicy, Route, replay_message
from order_integration.servicebus import InMemorySender, OutboundMessage, SendFailed

ORDERS = Route(queue="online-orders", parking_queue="online-orders-rejected", parked_by="erp-integrator")
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
BODY = b'{"id": "ord-7"}'
PROPS = {"eventType": "ECP.Order.Created", "eventSource": "/ecp/orders", "dataVersion": "1.0"}


class Clock:
    def __init__(self) -> None:
        self.value = T0

    def now(self) -> datetime:
        return self.value


def redelivery(sender: InMemorySender, clock: Clock, policy: RetryPolicy = RetryPolicy()) -> Redelivery:
    return Redelivery(route=ORDERS, sender=sender, policy=policy, now=clock.now, unit_random=lambda: 0.5)


def original() -> InboundMessage:
    return InboundMessage(body=BODY, message_id="ord-7", correlation_id="evt-1", application_properties=PROPS)


def as_received(sent) -> InboundMessage:
    """What the queue would deliver for a scheduled, parked or replayed message."""
    m = getattr(sent, "message", sent)
    return InboundMessage(
        body=m.body,
        message_id=m.message_id,
        correlation_id=m.correlation_id,
        session_id=m.session_id,
        application_properties=m.application_properties,
    )


def test_backoff_doubles_from_30_seconds_and_caps_at_15_minutes():
    policy = RetryPolicy(jitter=0.0)
    delays = [policy.delay(n, None, 0.5).total_seconds() for n in range(1, 9)]
    assert delays == [30, 60, 120, 240, 480, 900, 900, 900]


def test_retry_after_longer_than_backoff_wins():
    assert RetryPolicy(jitter=0.0).delay(1, 600.0, 0.5) == timedelta(seconds=600)
    assert RetryPolicy(jitter=0.0).delay(5, 10.0, 0.5) == timedelta(seconds=480)


def test_jitter_stays_within_ten_percent():
    policy = RetryPolicy()
    assert policy.delay(1, None, 0.0) == timedelta(seconds=27)
    assert policy.delay(1, None, 1.0) == timedelta(seconds=33)


def test_transient_failure_schedules_a_copy_with_derived_id_and_retry_properties():
    sender, clock = InMemorySender(), Clock()
    outcome = redelivery(sender, clock).handle(original(), TargetUnavailable("ERP answered HTTP 503"))
    assert outcome is MessageOutcome.RETRY_SCHEDULED
    [sent] = sender.messages("online-orders")
    assert sent.enqueue_at == T0 + timedelta(seconds=30)
    assert sent.message.message_id == "ord-7+retry1"
    assert sent.message.body == BODY
    assert sent.message.correlation_id == "evt-1"
    props = sent.message.application_properties
    assert props["retryAttempt"] == 1
    assert props["originalMessageId"] == "ord-7"
    assert props["firstFailureAt"] == T0.isoformat()
    assert props["lastError"] == "ERP answered HTTP 503"
    assert {k: props[k] for k in PROPS} == PROPS
    assert sender.messages("online-orders-rejected") == []


def test_second_retry_keeps_first_failure_time_and_derives_from_the_original_id():
    sender, clock = InMemorySender(), Clock()
    first = redelivery(sender, clock)
    first.handle(original(), TargetUnavailable("down"))
    clock.value = T0 + timedelta(seconds=31)
    [due] = sender.take_due("online-orders", clock.value)
    first.handle(as_received(due), TargetUnavailable("still down", retry_after=90))
    [again] = sender.messages("online-orders")
    assert again.message.message_id == "ord-7+retry2"
    assert again.message.application_properties["firstFailureAt"] == T0.isoformat()
    assert again.enqueue_at == clock.value + timedelta(seconds=90)


def test_session_id_is_kept_on_retries_so_the_order_stays_in_its_session():
    sender, clock = InMemorySender(), Clock()
    message = InboundMessage(body=b"{}", message_id="SO-1-3", session_id="ord-7", application_properties=PROPS)
    Redelivery(
        route=Route("order-updates", "order-updates-rejected", "ecp-integrator"),
        sender=sender,
        policy=RetryPolicy(),
        now=clock.now,
    ).handle(message, TargetUnavailable("ECP down"))
    [sent] = sender.messages("order-updates")
    assert sent.message.session_id == "ord-7"
    assert sent.message.message_id == "SO-1-3+retry1"


def test_retries_span_the_configured_time_then_park_with_retries_exhausted():
    sender, clock = InMemorySender(), Clock()
    worker = redelivery(sender, clock, RetryPolicy(max_span=timedelta(minutes=60)))
    message = original()
    attempts = 0
    while True:
        attempts += 1
        outcome = worker.handle(message, TargetUnavailable("ERP answered HTTP 503"))
        if outcome is MessageOutcome.PARKED:
            break
        [due] = sender.messages("online-orders")
        clock.value = due.enqueue_at
        [due] = sender.take_due("online-orders", clock.value)
        message = as_received(due)
    assert clock.value - T0 >= timedelta(minutes=60)
    assert attempts == 9  # tries at 0, 30 s, 1.5, 3.5, 7.5, 15.5, 30.5, 45.5 and 60.5 min
    [parked] = sender.messages("online-orders-rejected")
    props = parked.message.application_properties
    assert props["reason"] == "RetriesExhausted"
    assert "ERP answered HTTP 503" in props["description"] and "9 attempts" in props["description"]
    assert props["parkedBy"] == "erp-integrator"
    assert props["originalMessageId"] == "ord-7"
    assert parked.message.body == BODY


def test_permanent_failure_parks_at_once_with_reason_description_body_and_properties():
    sender, clock = InMemorySender(), Clock()
    error = MappingError(field="$.lines[1].quantity", message="must be a whole number")
    outcome = redelivery(sender, clock).handle(original(), error)
    assert outcome is MessageOutcome.PARKED
    [parked] = sender.messages("online-orders-rejected")
    assert parked.enqueue_at is None
    assert parked.message.body == BODY
    props = parked.message.application_properties
    assert props["reason"] == "MappingFailed"
    assert props["description"] == "cannot map $.lines[1].quantity: must be a whole number"
    assert props["parkedBy"] == "erp-integrator"
    assert props["originalMessageId"] == "ord-7"
    assert props["eventType"] == "ECP.Order.Created"
    assert sender.messages("online-orders") == []


@pytest.mark.parametrize(
    "error", [TargetUnavailable("down"), MappingError(field="$.currency", message="unknown")]
)
def test_a_failing_send_raises_so_the_message_is_not_completed(error):
    sender, clock = InMemorySender(), Clock()
    sender.failure = "namespace unreachable"
    with pytest.raises(SendFailed, match="could not send message .* namespace unreachable"):
        redelivery(sender, clock).handle(original(), error)


UPDATES = Route(queue="order-updates", parking_queue="order-updates-rejected", parked_by="ecp-integrator")


def retry_until_parked(worker: Redelivery, sender: InMemorySender, clock: Clock, message: InboundMessage):
    """Fail `message` transiently on every delivery until it is parked; the parked message."""
    queue, parking = worker.route.queue, worker.route.parking_queue
    while worker.handle(message, TargetUnavailable("ECP answered HTTP 503")) is MessageOutcome.RETRY_SCHEDULED:
        [due] = sender.messages(queue)
        clock.value = due.enqueue_at
        [due] = sender.take_due(queue, clock.value)
        message = as_received(due)
    [parked] = sender.take_due(parking, clock.value)
    return parked


def session_message() -> InboundMessage:
    return InboundMessage(body=BODY, message_id="SO-1-3", session_id="ord-7", application_properties=PROPS)


def test_a_parked_message_keeps_its_retry_history_under_other_names_and_its_session():
    sender, clock = InMemorySender(), Clock()
    worker = Redelivery(route=UPDATES, sender=sender, policy=RetryPolicy(), now=clock.now, unit_random=lambda: 0.5)
    parked = retry_until_parked(worker, sender, clock, session_message())
    props = parked.message.application_properties
    assert props["reason"] == "RetriesExhausted" and props["sessionId"] == "ord-7"
    assert props["previousFirstFailureAt"] == T0.isoformat()
    assert props["previousRetryAttempts"] == 10 and props["previousLastError"] == "ECP answered HTTP 503"
    assert not {"firstFailureAt", "retryAttempt", "lastError", "retryChainId"} & props.keys()
    assert props["originalMessageId"] == "SO-1-3"


def test_a_replayed_message_gets_a_new_id_its_session_and_the_whole_retry_span_again():
    sender, clock = InMemorySender(duplicate_detection_window=timedelta(days=1), now=lambda: clock.value), Clock()
    worker = Redelivery(route=UPDATES, sender=sender, policy=RetryPolicy(), now=clock.now, unit_random=lambda: 0.5)
    parked = retry_until_parked(worker, sender, clock, session_message())

    replay = replay_message(as_received(parked))
    assert (replay.message_id, replay.session_id, replay.correlation_id) == ("SO-1-3+replay1", "ord-7", None)
    assert replay.body == BODY
    assert not {"reason", "description", "parkedBy", "sessionId"} & replay.application_properties.keys()
    sender.send("order-updates", replay)  # what the operator's replay does
    [delivered] = sender.take_due("order-updates", clock.value)

    # The target is still flaky: a first failure is retried, not parked as RetriesExhausted.
    assert worker.handle(as_received(delivered), TargetUnavailable("down again")) is MessageOutcome.RETRY_SCHEDULED
    [retry] = sender.messages("order-updates")
    assert retry.message.message_id == "SO-1-3+replay1+retry1"  # not a duplicate of the first chain's
    assert retry.message.session_id == "ord-7" and sender.dropped == []
    assert retry.message.application_properties["firstFailureAt"] == clock.value.isoformat()

    # Parked again later, a second replay is unique again.
    sender.take_due("order-updates", retry.enqueue_at)
    reparked = retry_until_parked(worker, sender, clock, as_received(retry))
    assert replay_message(as_received(reparked)).message_id == "SO-1-3+replay2"


def test_a_scheduled_retry_survives_duplicate_detection_and_a_repeated_park_does_not():
    clock = Clock()
    sender = InMemorySender(duplicate_detection_window=timedelta(days=1), now=lambda: clock.value)
    sender.send("online-orders", OutboundMessage(body=BODY, message_id="ord-7"))  # the Logic App's send
    [received] = sender.take_due("online-orders", clock.value)
    worker = redelivery(sender, clock)

    worker.handle(as_received(received), TargetUnavailable("down"))
    assert [s.message.message_id for s in sender.messages("online-orders")] == ["ord-7+retry1"]

    error = MappingError(field="$.currency", message="unknown")
    worker.handle(original(), error)
    worker.handle(original(), error)  # redelivered after the first park's completion was lost
    assert len(sender.messages("online-orders-rejected")) == 1
    assert [s.message.message_id for s in sender.dropped] == ["ord-7+parked"]


LONG_ID = "ord-" + "7" * 124  # 128 characters: the longest MessageId the pipeline can give a message
OTHER_LONG_ID = LONG_ID[:-1] + "8"  # same 127-character prefix


def long_message(message_id: str = LONG_ID, session_id: str | None = None) -> InboundMessage:
    return InboundMessage(body=BODY, message_id=message_id, session_id=session_id, application_properties=PROPS)


def test_a_128_character_id_still_gets_a_retry_within_the_id_limit_distinct_from_a_similar_id():
    sender, clock = InMemorySender(), Clock()
    worker = redelivery(sender, clock)
    for message_id in (LONG_ID, OTHER_LONG_ID):
        assert worker.handle(long_message(message_id), TargetUnavailable("down")) is MessageOutcome.RETRY_SCHEDULED
    first, other = (sent.message for sent in sender.messages("online-orders"))
    assert len(first.message_id) == len(other.message_id) == 128
    assert first.message_id.startswith("ord-777") and first.message_id.endswith("+retry1")
    assert first.message_id != other.message_id
    assert first.application_properties["originalMessageId"] == LONG_ID

    due, _ = sender.take_due("online-orders", T0 + timedelta(hours=1))
    worker.handle(as_received(due), TargetUnavailable("still down"))
    [second] = sender.messages("online-orders")
    assert second.message.message_id == first.message_id.replace("+retry1", "+retry2")  # same chain


def test_a_128_character_id_is_parked_within_the_id_limit_and_a_repeated_park_is_still_dropped():
    clock = Clock()
    sender = InMemorySender(duplicate_detection_window=timedelta(days=1), now=lambda: clock.value)
    worker = redelivery(sender, clock)
    error = MappingError(field="$.currency", message="unknown")
    for message_id in (LONG_ID, LONG_ID, OTHER_LONG_ID):
        assert worker.handle(long_message(message_id), error) is MessageOutcome.PARKED
    parked = [sent.message for sent in sender.messages("online-orders-rejected")]
    assert [len(m.message_id) for m in parked] == [128, 128]
    assert parked[0].message_id.endswith("+parked") and parked[0].message_id != parked[1].message_id
    assert parked[0].application_properties["originalMessageId"] == LONG_ID
    assert [s.message.message_id for s in sender.dropped] == [parked[0].message_id]


def test_a_parked_128_character_id_is_replayed_within_the_id_limit_and_each_replay_is_unique():
    sender, clock = InMemorySender(duplicate_detection_window=timedelta(days=1), now=lambda: clock.value), Clock()
    worker = Redelivery(route=UPDATES, sender=sender, policy=RetryPolicy(), now=clock.now, unit_random=lambda: 0.5)
    parked = retry_until_parked(worker, sender, clock, long_message(session_id="ord-7"))

    replay = replay_message(as_received(parked))
    assert len(replay.message_id) == 128 and replay.message_id.endswith("+replay1")
    sender.send("order-updates", replay)
    [delivered] = sender.take_due("order-updates", clock.value)
    assert worker.handle(as_received(delivered), TargetUnavailable("down")) is MessageOutcome.RETRY_SCHEDULED
    [retry] = sender.messages("order-updates")
    assert len(retry.message.message_id) == 128 and retry.message.message_id.endswith("+retry1")
    assert sender.dropped == []

    sender.take_due("order-updates", retry.enqueue_at)
    reparked = retry_until_parked(worker, sender, clock, as_received(retry))
    second = replay_message(as_received(reparked)).message_id
    assert len(second) == 128 and second.endswith("+replay2") and second != replay.message_id


WAIT = 900.0  # ERP_UNKNOWN_OUTCOME_RETRY_MINUTES = 15


def lost_create() -> OutcomeUnknown:
    return OutcomeUnknown("ERP timed out on POST /salesOrders after the request was sent", retry_after=WAIT)


def failing_since(first_failure: datetime, attempts: int) -> InboundMessage:
    """A retry of the order whose first failure was at `first_failure`."""
    props = {**PROPS, "retryAttempt": attempts, "firstFailureAt": first_failure.isoformat(), "originalMessageId": "ord-7",
             "retryChainId": "ord-7"}
    return InboundMessage(body=BODY, message_id=f"ord-7+retry{attempts}", application_properties=props)


def test_a_create_lost_after_the_span_ran_out_gets_one_last_retry_after_the_erps_wait_not_a_park():
    """Parked at once, a replay within the ERP's 10 minutes could look up too early and create it twice."""
    sender, clock = InMemorySender(), Clock()
    worker = redelivery(sender, clock, RetryPolicy(max_span=timedelta(minutes=60)))
    clock.value = T0 + timedelta(minutes=61)

    assert worker.handle(failing_since(T0, 8), lost_create()) is MessageOutcome.RETRY_SCHEDULED

    [last] = sender.messages("online-orders")
    assert last.enqueue_at == clock.value + timedelta(seconds=WAIT)
    assert last.message.message_id == "ord-7+retry9"
    assert sender.messages("online-orders-rejected") == []


def test_the_last_retry_after_a_lost_create_is_parked_if_it_fails_too():
    sender, clock = InMemorySender(), Clock()
    worker = redelivery(sender, clock, RetryPolicy(max_span=timedelta(minutes=60)))
    clock.value = T0 + timedelta(minutes=61)
    worker.handle(failing_since(T0, 8), lost_create())
    [last] = sender.take_due("online-orders", T0 + timedelta(minutes=76))
    clock.value = last.enqueue_at

    assert worker.handle(as_received(last), TargetUnavailable("ERP answered HTTP 503 on GET /salesOrders")) is (
        MessageOutcome.PARKED
    )
    [parked] = sender.messages("online-orders-rejected")
    description = parked.message.application_properties["description"]
    assert parked.message.application_properties["reason"] == "RetriesExhausted"
    assert description.startswith("gave up after 10 attempts over 76 min") and "do not replay" not in description


def test_a_create_lost_again_on_the_last_retry_is_parked_saying_when_a_replay_is_safe():
    sender, clock = InMemorySender(), Clock()
    worker = redelivery(sender, clock, RetryPolicy(max_span=timedelta(minutes=60)))
    clock.value = T0 + timedelta(minutes=61)
    worker.handle(failing_since(T0, 8), lost_create())
    [last] = sender.take_due("online-orders", T0 + timedelta(minutes=76))
    clock.value = last.enqueue_at

    assert worker.handle(as_received(last), lost_create()) is MessageOutcome.PARKED

    [parked] = sender.messages("online-orders-rejected")
    description = parked.message.application_properties["description"]
    assert "next attempt" not in description  # there is none
    assert description.endswith(
        "do not replay before 2026-11-27 13:31 UTC, when that create has either committed "
        "(the replay then finds the order) or never will"
    )
    assert sender.messages("online-orders") == []
