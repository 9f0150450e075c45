"""The local Event Grid: the stack's custom topics and webhook subscriptions, from its synthesis.

    topology = read_topology(synthesize("dev"))
    with Azurite(state_dir) as azurite:          # dead letters go to Azurite's blob service
        async with LocalEventGrid(topology, state_dir=state_dir, clock=clock,
                                  webhook_urls={"order-events-processor": trigger_url, ...},
                                  blob_connection_string=azurite.connection_string) as grid:
            grid.endpoint("ecp-order-events"), grid.key("ecp-order-events")

What it does as Azure does (https://learn.microsoft.com/azure/event-grid/delivery-and-retry):
- one publish URL per topic, `http://127.0.0.1:PORT/<topic>/api/events`, for the real
  `EventGridPublisherClient`; the key as `aeg-sas-key` (header or query) or a SAS token signed
  with it (`aeg-sas-token`, `Authorization: SharedAccessSignature`), else 401; the Event Grid
  schema checked (400 naming the event and property), 413 over 1 MB per request or per event;
  the events on disk (SQLite, WAL, synchronous=FULL) before the 200;
- per subscription: `includedEventTypes` (unmatched events are not delivered), batches of up to
  `maxEventsPerBatch` within `preferredBatchSizeInKilobytes` (a larger event alone), all-or-none;
  the validation handshake (`aeg-event-type: SubscriptionValidation`) when a subscription starts
  or its webhook URL changes, then `aeg-event-type: Notification` deliveries;
- success is 200-204; 400, 401, 403, 413 are not retried; others are retried on 10 s, 30 s,
  1 min, 5 min, 10 min, 30 min, 1 h, 3 h, 6 h, then every 12 h (±10 %), with 408 waiting at least
  2 min and 503 at least 30 s; 30 s answer timeout; up to `maxDeliveryAttempts`, and the TTL
  checked at the next due attempt; then a dead letter, written 5 min after the last attempt as a
  blob `<container>/<SUBSCRIPTION>/<yyyy>/<m>/<d>/<h>/<guid>.json` with Azure's fields, or
  dropped when the subscription has no dead-letter destination;
- every timer runs on the SimClock; the answer timeout never goes below its wall floor.

Where it differs from Azure, on purpose:
- one host and port for every topic (the topic is the first path segment), plain HTTP;
- delivery order is oldest-first and batches fill from whatever is due (Azure promises no order);
  at most 8 batches in flight per subscription (Azure states no number);
- no delayed delivery / probation for unhealthy endpoints, no custom delivery properties, no
  advanced or subject filters, EventGridSchema only (the stack uses nothing else);
- the handshake is the code echo only: the event carries no `validationUrl`, and a failed
  handshake raises SubscriptionValidationError instead of leaving the subscription pending;
- the dead-letter container is created on first use (Azure needs it to exist), and a dead letter
  that cannot be written is retried every simulated minute and dropped after 4 h, as Azure,
  but with its reason kept in the store; `deadLetterReason` for 401, 403 and 413 follows the
  `UndeliverableDueToHttp<Outcome>` pattern Azure writes for 400 (the docs name no values);
- Retry-After answers are not honoured (Azure documents nothing for them).
"""
from orderbridge.local.eventgrid._azurite import Azurite
from orderbridge.local.eventgrid._deadletter import blob_name, dead_letter_record
from orderbridge.local.eventgrid._errors import AzuriteError, EventGridConfigError, SubscriptionValidationError
from orderbridge.local.eventgrid._service import LocalEventGrid
from orderbridge.local.eventgrid._topology import EventGridTopology, SubscriptionSpec, TopicSpec, read_topology

__all__ = [
    "Azurite",
    "AzuriteError",
    "EventGridConfigError",
    "EventGridTopology",
    "LocalEventGrid",
    "SubscriptionSpec",
    "SubscriptionValidationError",
    "TopicSpec",
    "blob_name",
    "dead_letter_record",
    "read_topology",
]
