"""When the ERP integrator may create an order without looking it up first.

The look-up by externalDocumentNumber costs one ERP round trip per order. It exists so that a second
delivery of the same order cannot create a second ERP order (the ERP does not enforce unique
externalDocumentNumbers). A message skips it only when Service Bus itself shows that no earlier
message of this order can have reached the integrator:

1. DeliveryCount is exactly 1: this message was never handed out before. Service Bus increments it
   "when a message lock expires, or the message is explicitly abandoned by the receiver"
   (https://learn.microsoft.com/dotnet/api/azure.messaging.servicebus.servicebusreceivedmessage.deliverycount),
   which covers a worker that crashed after a create and a handler that raised. We assume the
   Functions host never *releases* a message it has already run (an AMQP release leaves the count
   alone, Azure/amqpnetlite#342); nothing we found says it does.
2. Its MessageId is the ECP order id, as the order events processor sets it, and it carries no
   retry or replay state. Our retries (`+retry{n}`) and replays (`+replay{n}`) always look up.
3. It was enqueued at most MAX_AGE after the order's `createdAt` (or up to CLOCK_SKEW before it),
   and the queue's duplicate-detection window exceeds MAX_AGE + CLOCK_SKEW. Service Bus discards a
   message whose MessageId it accepted within the window
   (https://learn.microsoft.com/azure/service-bus-messaging/duplicate-detection). Any earlier
   message of this order was sent after the order existed, so less than MAX_AGE + E before this
   one, where E is how much `createdAt` overstates the moment the order was placed. While E stays
   below the tolerance, window - MAX_AGE (23 h for infra's one-day window), that is inside the
   window, and Service Bus would have discarded this message.
4. `createdAt` less the same tolerance is after the queue was created: the queue's duplicate
   history starts then, so a queue that Pulumi replaced remembers nothing from before. Infra passes
   the queue's `createdAt`. For the first day after a queue is created every order is looked up.

Anything else gets the look-up: settings that are absent, a `createdAt` Python cannot parse or
subtract from, a missing DeliveryCount or enqueue time, an order older than MAX_AGE (a re-published
event, a backlog). What this cannot see: an ERP order created outside orderbridge, such as one typed
in by hand for a web order; a queue re-created outside Pulumi; and, while `pulumi up` replaces the
queue, workers that still hold the old queue's creation time until the app restarts with the new one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

from order_integration.messages import ORIGINAL_MESSAGE_ID, RETRY_ATTEMPT, InboundMessage
from order_integration.redelivery import REPLAY_COUNT

# New orders reach the queue seconds after they are placed; older ones (a backlog, a re-published
# event) are looked up. The shorter this is, the larger an error in `createdAt` the argument survives.
MAX_AGE = timedelta(hours=1)
# How far the ECP's clock may run ahead of Service Bus's: a message may seem enqueued before its
# order was created by this much.
CLOCK_SKEW = timedelta(hours=1)
_RETRY_OR_REPLAY = (ORIGINAL_MESSAGE_ID, RETRY_ATTEMPT, REPLAY_COUNT)


@dataclass(frozen=True)
class DuplicateDetection:
    """What infra tells the integrator about the `online-orders` queue's duplicate detection."""

    window: timedelta
    queue_created_at: datetime


def is_provably_first(message: InboundMessage, order: Mapping[str, Any], queue: DuplicateDetection | None) -> bool:
    """True only if Service Bus guarantees no earlier message of `order` was delivered (see module doc)."""
    if queue is None or queue.window <= MAX_AGE + CLOCK_SKEW:
        return False
    if message.delivery_count != 1 or message.message_id != order.get("id"):
        return False
    if any(name in message.application_properties for name in _RETRY_OR_REPLAY):
        return False
    created, enqueued = _aware(order.get("createdAt")), _aware(message.enqueued_time)
    if created is None or enqueued is None:
        return False
    try:
        after_queue = created - (queue.window - MAX_AGE) >= queue.queue_created_at
        return after_queue and -CLOCK_SKEW <= enqueued - created <= MAX_AGE
    except OverflowError:  # a createdAt in year 1 (the mapping refuses it first): never trusted
        return False


def _aware(value: Any) -> datetime | None:
    """`value` as an offset-aware datetime, from one or from RFC 3339 text; None if that is not possible.

    `datetime.fromisoformat` refuses some valid RFC 3339 forms, such as a lower-case `t` or `z`;
    such an order is looked up rather than trusted.
    """
    if not isinstance(value, datetime):
        try:
            value = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return value if value.tzinfo is not None else None
