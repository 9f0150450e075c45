"""The local Service Bus: a durable broker core and the fronts that speak protocols to it.

    broker = Broker(state_dir / "servicebus.db", entities_from_synthesis(synthesize("dev")), clock)
    app = rest_app(broker, Credentials(bearer_token=token))    # the workflows' REST sends, for uvicorn
    front = AmqpFront(broker, Credentials(sas_keys={ROOT_KEY_NAME: new_sas_key()})).start()  # AMQP 1.0
    ServiceBusClient.from_connection_string(front.connection_string(ROOT_KEY_NAME))  # ...;UseDevelopmentEmulator=true

`Broker` (in `_broker`) is the one place of semantics; a front (REST, AMQP 1.0) only turns its wire
form into `Message`, calls the core, and turns `ReceivedMessage` or a `ServiceBusError` back.
The AMQP front (`_amqp`, on Qpid Proton in its own thread) serves what azure-servicebus does: SASL
ANONYMOUS and a CBS put-token whose SAS signature is checked, sends and batches, peek-lock and
receive-and-delete with the client's credit (prefetch), the four settlements and release, sessions
(named or next available), `<queue>/$deadletterqueue`, and the `$management` operations
(`_amqp_management`); `orderbridge local servicebus` (`_command`) runs it alone as an emulator.
Each queue's settings come from the stack's synthesized `servicebus:Queue` resources. State is one
SQLite file in WAL mode with full sync: a send returns only after its message is on disk, and
everything (messages, locks, sessions and their state, duplicate history) survives a restart.

Semantics, as Service Bus has them (https://learn.microsoft.com/azure/service-bus-messaging/):
- peek-lock for the entity's lock duration, renewable; receive-and-delete; peek (any state); release
  (an AMQP outcome) unlocks without counting a delivery;
- DeliveryCount is 1-based; an abandon or a lost lock counts a delivery, and at `maxDeliveryCount`
  the message moves to `<queue>/$deadletterqueue` with `MaxDeliveryCountExceeded`; explicit
  dead-lettering keeps the receiver's reason and description; the DLQ never expires messages;
- defer, then receive by sequence number only; schedule (the returned sequence number cancels it),
  a scheduled message's enqueued time is its scheduled time;
- time to live: the message's, capped by the queue's default; expired messages go to the DLQ with
  `TTLExpiredException` where `deadLetteringOnMessageExpiration` is set, else are dropped;
- duplicate detection by MessageId within the window: the repeat is accepted and dropped;
- sessions: FIFO per session, one receiver per session, a named or the next available session,
  session lock and renewal (a session message's lock is its session's), session state;
- limits: MessageId/SessionId/PartitionKey at most 128 characters, 256 KB per message (Standard),
  a SessionId on session queues, unknown entities refused.
Time is simulated (`SimClock`); a lock lasts at least `lock_floor` wall seconds however fast the
clock runs, and blocking receives wait on a condition, waking on a change or the next due instant;
receive timeouts are wall seconds.

Where it deliberately differs from Azure:
- sequence numbers come from one counter for the namespace (increasing within each queue);
- the size limit counts body, ids and application properties, not the AMQP encoding;
- expiry is lazy: a receiver meeting the message expires it (Azure may do the same); counts include
  expired messages until then;
- a session receiver that closes returns its unsettled messages without counting a delivery; a
  session lock that expires counts one;
- a peek shows the DeliveryCount the next delivery would carry;
- the REST front answers 404 for an unknown entity and 413 for an oversized message (the REST page
  documents 410 and 403), takes a local bearer token instead of an Entra ID JWT (`_auth`), ignores
  `x-ms-*` headers as properties, and restores property-name spellings it is given, because ASGI
  servers lower-case header names;
- the AMQP front: the SDK's put-token type "jwt" is accepted for a SAS token; a batch is recognised
  by its body (every data section an encoded message), since Proton does not expose the message
  format; a rejected transfer or settlement carries a made-up `com.microsoft:tracking-id`;
  `$management` answers only the queue operations listed (no rules, no get-message-sessions);
  new messages reach an open receiver link within `poll_interval` (20 ms) when sent by another front;
- no topics, subscriptions, transactions, auto-forwarding or partitions; one process owns the file.
"""
from orderbridge.local.servicebus._broker import (
    MAX_DELIVERY_DESCRIPTION,
    MAX_DELIVERY_REASON,
    TTL_EXPIRED_DESCRIPTION,
    TTL_EXPIRED_REASON,
    Broker,
    Clock,
    MessageCounts,
)
from orderbridge.local.servicebus._auth import ROOT_KEY_NAME, Credentials, new_sas_key, sas_token
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
from orderbridge.local.servicebus._amqp import AmqpFront, AmqpFrontError
from orderbridge.local.servicebus._command import entities_from_config, servicebus_command
from orderbridge.local.servicebus._rest import rest_app

__all__ = [
    "AmqpFront",
    "AmqpFrontError",
    "MAX_DELIVERY_DESCRIPTION",
    "MAX_DELIVERY_REASON",
    "TTL_EXPIRED_DESCRIPTION",
    "TTL_EXPIRED_REASON",
    "Broker",
    "BrokerClosed",
    "Clock",
    "Credentials",
    "EntityNotFound",
    "EntityPath",
    "EntitySettings",
    "InvalidMessage",
    "InvalidOperation",
    "Message",
    "MessageCounts",
    "ROOT_KEY_NAME",
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
    "entities_from_config",
    "entities_from_synthesis",
    "new_sas_key",
    "rest_app",
    "sas_token",
    "servicebus_command",
]
