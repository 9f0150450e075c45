"""Errors of the operator commands (`orderbridge refetch`), under the tooling's one root.

OrderbridgeError
└── OperationError              an operator command cannot do what was asked
    ├── ServiceBusUnavailable   Service Bus refused or failed a peek, lock, send or complete
    └── MessagesStayParked      the run finished, and some parked messages are still parked
"""
from __future__ import annotations

from orderbridge.errors import OrderbridgeError


class OperationError(OrderbridgeError):
    """An operator command cannot do what was asked (bad option, unsupported pipeline, nothing to do)."""


class ServiceBusUnavailable(OperationError):
    """Service Bus refused or failed an operation; the message says which, on which queue."""


class MessagesStayParked(OperationError):
    """Some parked messages were not re-fetched; the report printed before says why, one by one."""
