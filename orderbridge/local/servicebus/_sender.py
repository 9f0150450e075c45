"""The integrators' `MessageSender` on the local broker, in process.

The integrators' retries and parks (order_integration.redelivery) call `send` / `schedule`; here
those reach the local queues directly, so the same code that runs in Azure decides what is sent.
The broker's refusals become `SendFailed`, as azure-servicebus errors do in `AzureServiceBusSender`.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from orderbridge.local.servicebus._broker import Broker
from orderbridge.local.servicebus._errors import ServiceBusError
from orderbridge.local.servicebus._messages import Message

if TYPE_CHECKING:  # integrator_func is on sys.path only where the integrators run
    from order_integration.servicebus import OutboundMessage


class BrokerSender:
    """A MessageSender (order_integration.servicebus) whose queues are the local broker's."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    def send(self, queue: str, message: "OutboundMessage") -> None:
        self._put(queue, message, None)

    def schedule(self, queue: str, message: "OutboundMessage", enqueue_at: datetime) -> None:
        self._put(queue, message, enqueue_at)

    def _put(self, queue: str, message: "OutboundMessage", enqueue_at: datetime | None) -> None:
        from order_integration.servicebus import SendFailed

        try:
            self._broker.send(
                queue,
                Message(
                    body=message.body,
                    message_id=message.message_id,
                    correlation_id=message.correlation_id,
                    session_id=message.session_id,
                    content_type=message.content_type,
                    application_properties=dict(message.application_properties),
                    scheduled_enqueue_time=enqueue_at,
                ),
            )
        except ServiceBusError as exc:
            # The broker's texts name entities, ids and limits only, never a body or a secret.
            raise SendFailed(queue=queue, message_id=message.message_id, cause=f"{type(exc).__name__}: {exc}") from exc
