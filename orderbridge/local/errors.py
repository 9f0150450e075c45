"""Errors of the local stack, under the tooling's root so the CLI prints them as one line.

LocalStackError                   the local stack cannot start or run as asked (a port, the state dir, a tool)
├── eventgrid.EventGridConfigError        the synthesized topology cannot be served
├── eventgrid.SubscriptionValidationError a webhook did not answer the validation handshake with its code
├── eventgrid.AzuriteError                Azurite is missing, does not start, or refuses a dead letter
├── eventgrid.PublishRejected             a publish the local topic answers 400, 401 or 413 (to the publisher)
├── servicebus.AmqpFrontError             the AMQP front cannot listen (the port is taken) or did not start
└── servicebus.ServiceBusError            what the local Service Bus refuses, as Azure would (each front maps it)
    ├── EntityNotFound                    no such queue
    ├── InvalidMessage                    ids, properties or a missing SessionId Service Bus would refuse
    │   └── MessageSizeExceeded           over the tier's message size
    ├── MessageLockLost, SessionLockLost  the lock expired or was never held
    ├── SessionCannotBeLocked             another receiver holds the session
    ├── MessageNotFound                   no such sequence number (scheduled, deferred)
    ├── InvalidOperation                  an operation the entity does not allow (e.g. a session call on a plain queue)
    └── BrokerClosed                      the broker was closed under a caller
"""
from __future__ import annotations

from orderbridge.errors import OrderbridgeError


class LocalStackError(OrderbridgeError):
    """The local stack cannot start or run as asked (a port, the state dir, a missing tool)."""
