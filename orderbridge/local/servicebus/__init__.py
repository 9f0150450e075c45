"""The local Service Bus (draft docstring; completed below)."""
from orderbridge.local.servicebus._broker import (
    MAX_DELIVERY_DESCRIPTION,
    MAX_DELIVERY_REASON,
    TTL_EXPIRED_DESCRIPTION,
    TTL_EXPIRED_REASON,
    Broker,
    Clock,
    MessageCounts,
)
from orderbridge.local.servicebus._auth import Credentials, sas_token
from orderbridge.local.servicebus._entities import EntityPath, EntitySettings, entities_from_synthesis
from orderbridge.local.servicebus._errors import (
    BrokerClosed,
    EntityNotFound,
    InvalidMessage,
    InvalidOperation,
    MessageLockLost,
    MessageNotFound,
    MessageSizeExceeded,
    ServiceBusError,
    SessionCannotBeLocked,
    SessionLockLost,
)
from orderbridge.local.servicebus._messages import Message, MessageState, ReceivedMessage, ReceiveMode, SessionLock
from orderbridge.local.servicebus._rest import rest_app
from orderbridge.local.servicebus._sender import BrokerSender

__all__ = [
    "MAX_DELIVERY_DESCRIPTION",
    "MAX_DELIVERY_REASON",
    "TTL_EXPIRED_DESCRIPTION",
    "TTL_EXPIRED_REASON",
    "Broker",
    "BrokerClosed",
    "BrokerSender",
    "Clock",
    "Credentials",
    "EntityNotFound",
    "EntityPath",
    "EntitySettings",
    "InvalidMessage",
    "InvalidOperation",
    "Message",
    "MessageCounts",
    "MessageLockLost",
    "MessageNotFound",
    "MessageSizeExceeded",
    "MessageState",
    "ReceiveMode",
    "ReceivedMessage",
    "ServiceBusError",
    "SessionCannotBeLocked",
    "SessionLock",
    "SessionLockLost",
    "entities_from_synthesis",
    "rest_app",
    "sas_token",
]
