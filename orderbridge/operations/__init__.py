"""Operator commands on a running stack, in Azure or on the local stack.

`refetch` fetches orders parked on the ECP -> ERP pipeline from the ECP again and queues the ones it
now answers correctly (`orderbridge refetch`; integrator_func/README.md says when to use it).
"""
from orderbridge.operations._bus import (
    AzureServiceBus,
    HeldMessages,
    ParkedMessage,
    QueueMessage,
    ServiceBusAccess,
)
from orderbridge.operations._command import refetch_command
from orderbridge.operations._errors import MessagesStayParked, OperationError, ServiceBusUnavailable
from orderbridge.operations.refetch import (
    REFETCH_COUNT,
    EcpOrders,
    Outcome,
    RefetchReport,
    Verdict,
    refetch,
    source_for,
)

__all__ = [
    "REFETCH_COUNT",
    "AzureServiceBus",
    "EcpOrders",
    "HeldMessages",
    "MessagesStayParked",
    "OperationError",
    "Outcome",
    "ParkedMessage",
    "QueueMessage",
    "RefetchReport",
    "ServiceBusAccess",
    "ServiceBusUnavailable",
    "Verdict",
    "refetch",
    "refetch_command",
    "source_for",
]
