"""Dead letters as Azure writes them: JSON blobs in the subscription's container.

Layout and fields from https://learn.microsoft.com/azure/event-grid/manage-event-delivery and
https://learn.microsoft.com/azure/event-grid/delivery-and-retry: the blob
`<container>/<SUBSCRIPTION-NAME-IN-UPPER-CASE>/<yyyy>/<m>/<d>/<h>/<guid>.json` (UTC, not
zero-padded) holds a JSON array of events, each the delivered event plus `deadLetterReason`,
`deliveryAttempts`, `lastDeliveryOutcome`, `lastHttpStatusCode` (when the webhook answered),
`publishTime` and `lastDeliveryAttemptTime`.
"""
from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.blob import BlobServiceClient

from orderbridge.local.eventgrid._errors import AzuriteError
from orderbridge.local.eventgrid._store import Delivery


def blob_name(subscription: str, when: datetime) -> str:
    """Where Azure puts a dead-letter blob of `subscription` written at `when` (within the container)."""
    utc = when.astimezone(timezone.utc)
    return f"{subscription.upper()}/{utc.year}/{utc.month}/{utc.day}/{utc.hour}/{uuid.uuid4()}.json"


def dead_letter_record(delivery: Delivery) -> dict[str, Any]:
    """The event with the fields Azure adds when it dead-letters it."""
    record = dict(delivery.event)
    record["deadLetterReason"] = delivery.dead_letter_reason
    record["deliveryAttempts"] = delivery.attempts
    if delivery.last_outcome is not None:
        record["lastDeliveryOutcome"] = delivery.last_outcome
    if delivery.last_status is not None:
        record["lastHttpStatusCode"] = delivery.last_status
    record["publishTime"] = _iso(delivery.published_at)
    if delivery.last_attempt_at is not None:
        record["lastDeliveryAttemptTime"] = _iso(delivery.last_attempt_at)
    return record


class BlobDeadLetters:
    """Writes dead-letter blobs with azure-storage-blob, to Azurite or to any blob endpoint."""

    def __init__(self, connection_string: str) -> None:
        self._service = BlobServiceClient.from_connection_string(connection_string, retry_total=2, connection_timeout=5)
        self._containers: set[str] = set()

    async def write(self, container: str, name: str, deliveries: Sequence[Delivery]) -> None:
        """Write one blob holding `deliveries`; raises AzuriteError when the store refuses or is down."""
        body = json.dumps([dead_letter_record(d) for d in deliveries], indent=2).encode()
        await asyncio.to_thread(self._write, container, name, body)

    def _write(self, container: str, name: str, body: bytes) -> None:
        try:
            if container not in self._containers:
                # Azure needs the container to exist already; locally the stack creates it on first use.
                try:
                    self._service.create_container(container)
                except ResourceExistsError:
                    pass
                self._containers.add(container)
            self._service.get_blob_client(container, name).upload_blob(body, overwrite=False)
        except AzureError as exc:
            raise AzuriteError(
                f"cannot write dead letter {container}/{name}: {type(exc).__name__}; is Azurite running?"
            ) from exc

    def close(self) -> None:
        self._service.close()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat().replace("+00:00", "Z")
