"""Where every placed order ended up, found by looking in each place, never by subtraction.

The places: the fake ERP (open sales orders and posted invoices), the shop (its `erpChangeVersion`
and the history of it), the parking queues, the queues' dead-letter sub-queues, and Event Grid's
dead-letter blobs in Azurite. An order found in none of them is `lost`.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from azure.storage.blob import BlobServiceClient

from orderbridge.local.lifecycle import SCHEDULE
from orderbridge.local.servicebus import Broker
from topology import ECP_TO_ERP, ERP_TO_ECP, PIPELINES

FINAL_VERSION = len(SCHEDULE)  # the ERP version of an order that is paid: every update is back
_PEEK_BATCH = 250


@dataclass(frozen=True)
class SetAside:
    """One order id found parked or dead-lettered: where, and why."""

    order_id: str
    place: str  # e.g. "parking queue online-orders-rejected", "DLQ order-updates", "Event Grid dead letters"
    reason: str
    pipeline: str  # the PipelineSpec key of the way it was on


@dataclass
class Ledger:
    """The state of every placed order, read from the places it can be."""

    placed: set[str]
    in_erp: set[str]
    updates_applied: set[str]
    set_aside: list[SetAside]
    duplicate_erp_orders: dict[str, int]
    regressed: set[str]
    erp_done: bool = True  # the ERP has no change left to make or announce (its updates may still travel)

    @property
    def set_aside_ids(self) -> set[str]:
        return {entry.order_id for entry in self.set_aside}

    @property
    def orders_set_aside(self) -> set[str]:
        """Orders whose way to the ERP ended parked or dead-lettered (pipeline 1)."""
        return {entry.order_id for entry in self.set_aside if entry.pipeline == ECP_TO_ERP.key}

    @property
    def updates_set_aside(self) -> set[str]:
        """Orders with an update parked or dead-lettered on its way back (pipeline 2)."""
        return {entry.order_id for entry in self.set_aside if entry.pipeline == ERP_TO_ECP.key}

    @property
    def lost(self) -> set[str]:
        """Placed orders found neither in the ERP nor set aside anywhere."""
        return self.placed - self.in_erp - self.set_aside_ids

    @property
    def unsettled(self) -> set[str]:
        """Placed orders still on their way.

        Settled: in the ERP with every update back; or set aside on the way to the ERP; or in the
        ERP with an update set aside, once the ERP has nothing left to change or announce (a later
        update may still bring the order up to date, so it waits until then).
        """
        settled = (self.in_erp & self.updates_applied) | (self.orders_set_aside - self.in_erp)
        if self.erp_done:
            settled |= self.in_erp & self.updates_set_aside
        return self.placed - settled

    def dead_lettered(self) -> dict[str, dict[str, int]]:
        """Orders set aside, by place and by reason (an order parked twice in one place counts once)."""
        distinct = {(entry.order_id, entry.place, entry.reason) for entry in self.set_aside}
        by_place: Counter[str] = Counter(place for _, place, _ in distinct)
        by_reason: Counter[str] = Counter(reason for _, _, reason in distinct)
        return {"by_place": dict(sorted(by_place.items())), "by_reason": dict(sorted(by_reason.items()))}


def canonical(order_id: object) -> str:
    """The case-insensitive form every place is compared in (Business Central upper-cases Code fields)."""
    return str(order_id).upper()


def parked_and_dead_lettered(broker: Broker) -> list[SetAside]:
    """Every order id in a parking queue or a dead-letter sub-queue, with the reason given there."""
    found: list[SetAside] = []
    for pipeline in PIPELINES:
        for queue, place in (
            (pipeline.parking_queue_name, f"parking queue {pipeline.parking_queue_name}"),
            (f"{pipeline.queue_name}/$deadletterqueue", f"DLQ {pipeline.queue_name}"),
            (f"{pipeline.parking_queue_name}/$deadletterqueue", f"DLQ {pipeline.parking_queue_name}"),
        ):
            for message in _peek_all(broker, queue):
                reason = str(message.application_properties.get("reason") or message.dead_letter_reason or "unknown")
                found += [SetAside(order_id, place, reason, pipeline.key)
                          for order_id in _order_ids(message.body, message.message_id)]
    return found


def event_grid_dead_letters(connection_string: str, containers: dict[str, str]) -> list[SetAside]:
    """Every order id in Event Grid's dead-letter blobs (Azure's layout: an array of events per blob).

    `containers` maps each dead-letter container to the key of the pipeline whose events it holds.
    """
    found: list[SetAside] = []
    with BlobServiceClient.from_connection_string(connection_string) as service:
        for name, pipeline in containers.items():
            container = service.get_container_client(name)
            if not container.exists():
                continue
            for blob in container.list_blobs():
                for event in json.loads(container.download_blob(blob.name).readall()):
                    reason = str(event.get("deadLetterReason", "unknown"))
                    found += [
                        SetAside(order_id, "Event Grid dead letters", reason, pipeline)
                        for order_id in _order_ids(json.dumps(event).encode(), None)
                    ]
    return found


def _peek_all(broker: Broker, entity: str) -> list[Any]:
    messages: list[Any] = []
    while batch := broker.peek(entity, from_sequence_number=messages[-1].sequence_number + 1 if messages else 0,
                               max_messages=_PEEK_BATCH):
        messages += batch
    return messages


def _order_ids(body: bytes, message_id: str | None) -> set[str]:
    """The ECP order ids a parked body names: an ECP order, an event, or an ERP state."""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    ids: set[str] = set()
    if isinstance(document, dict):
        data = document.get("data") if isinstance(document.get("data"), dict) else {}
        for value in (document.get("id"), document.get("externalDocumentNumber"), data.get("orderId"),
                      data.get("ecpOrderId")):
            if isinstance(value, str) and value:
                ids.add(canonical(value))
    if not ids and message_id:  # a body that is not the order (e.g. HTML): the MessageId is the order id
        ids.add(canonical(message_id.split("+", 1)[0]))
    return ids
