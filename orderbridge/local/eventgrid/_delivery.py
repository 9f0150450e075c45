"""Delivery to one subscription's webhook: the handshake, batches, retries, TTL and dead letters.

Azure's rules (https://learn.microsoft.com/azure/event-grid/delivery-and-retry) are in `_retry`;
this module applies them to the stored deliveries. Batches are all-or-none: every event of a
batch shares the attempt's outcome. Several batches are in flight at once, as Azure delivers in
parallel (the number is a local choice: Azure states none).
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import uuid
from collections.abc import Sequence

import httpx

from orderbridge.local.clock import ANSWER_TIMEOUT_FLOOR_SECONDS, SimClock
from orderbridge.local.eventgrid import _retry
from orderbridge.local.eventgrid._deadletter import BlobDeadLetters, blob_name
from orderbridge.local.eventgrid._errors import AzuriteError, SubscriptionValidationError
from orderbridge.local.eventgrid._store import (
    DEAD_LETTER_DUE,
    DELIVERED,
    DROPPED,
    PENDING,
    Delivery,
    EventStore,
    Outcome,
)
from orderbridge.local.eventgrid._topology import SubscriptionSpec, TopicSpec

log = logging.getLogger(__name__)

VALIDATION_EVENT_TYPE = "Microsoft.EventGrid.SubscriptionValidationEvent"
DEAD_LETTER_DELAY_SECONDS = 5 * 60  # "a five-minute delay between the last attempt ... and the dead-letter location"
DEAD_LETTER_GIVE_UP_SECONDS = 4 * 3600  # "If the dead-letter location is unavailable for four hours, the event is dropped"
DEAD_LETTER_RETRY_SECONDS = 60.0
DEFAULT_CONCURRENCY = 8


class SubscriptionDelivery:
    """Delivers the stored events of one subscription to its webhook until cancelled."""

    def __init__(
        self,
        spec: SubscriptionSpec,
        topic: TopicSpec,
        webhook_url: str,
        *,
        store: EventStore,
        clock: SimClock,
        http: httpx.AsyncClient,
        dead_letters: BlobDeadLetters | None,
        rng: random.Random,
        answer_timeout_floor: float = ANSWER_TIMEOUT_FLOOR_SECONDS,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self.spec = spec
        self._topic = topic
        self._url = webhook_url
        self._store = store
        self._clock = clock
        self._http = http
        self._dead_letters = dead_letters
        self._rng = rng
        self._answer_timeout = clock.wall_seconds(_retry.ANSWER_TIMEOUT_SECONDS, floor=answer_timeout_floor)
        self._slots = concurrency
        self._in_flight: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """New events are stored: look for due deliveries now."""
        self._wake.set()

    async def validate(self) -> None:
        """The handshake Azure makes when a subscription starts, unless this webhook URL passed it before.

        https://learn.microsoft.com/azure/event-grid/end-point-validation-event-grid-events-schema:
        one SubscriptionValidationEvent with header `aeg-event-type: SubscriptionValidation`; the
        webhook answers 200 with `{"validationResponse": <the code>}`.
        """
        endpoint_hash = hashlib.sha256(self._url.encode()).hexdigest()
        if self._store.validated_endpoint(self.spec.name) == endpoint_hash:
            return
        code = str(uuid.uuid4())
        event = {
            "id": str(uuid.uuid4()),
            "topic": self._topic.resource_id,
            "subject": "",
            "data": {"validationCode": code},
            "eventType": VALIDATION_EVENT_TYPE,
            "eventTime": _iso(self._clock),
            "metadataVersion": "1",
            "dataVersion": "1",
        }
        try:
            response = await self._post([event], "SubscriptionValidation", delivery_count=0)
        except httpx.HTTPError as exc:
            raise SubscriptionValidationError(
                f"the webhook of event subscription '{self.spec.name}' did not answer the validation handshake "
                f"({type(exc).__name__}); start it before the Event Grid"
            ) from exc
        answer = _json_or_none(response)
        if response.status_code != 200 or not isinstance(answer, dict) or answer.get("validationResponse") != code:
            raise SubscriptionValidationError(
                f"the webhook of event subscription '{self.spec.name}' answered the validation handshake with "
                f"{response.status_code} and no matching validationResponse; it must echo data.validationCode"
            )
        self._store.set_validated_endpoint(self.spec.name, endpoint_hash)

    async def run(self) -> None:
        """Deliver due batches and write due dead letters until cancelled."""
        try:
            while True:
                self._wake.clear()
                self._start_due_batches()
                await self._write_due_dead_letters()
                await self._sleep_until_due()
        finally:
            for task in self._in_flight:
                task.cancel()
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    def _start_due_batches(self) -> None:
        while len(self._in_flight) < self._slots:
            batch = self._next_batch()
            if not batch:
                return
            task = asyncio.create_task(self._deliver(batch), name=f"eventgrid-{self.spec.name}")
            self._in_flight.add(task)
            task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery to %s failed unexpectedly", self.spec.name, exc_info=task.exception())
        self.wake()

    def _next_batch(self) -> list[Delivery]:
        """Due deliveries up to the batch limits; the TTL is checked here, at the attempt, as Azure does."""
        now = self._clock.now().timestamp()
        claimed = self._store.claim_due(self.spec.name, now, self.spec.max_events_per_batch)
        expired = [d for d in claimed if now >= d.published_at + self.spec.ttl_minutes * 60]
        if expired:
            self._store.record(self.spec.name, [self._give_up(d, d.attempts, None, now, "TimeToLiveExceeded") for d in expired])
        live = [d for d in claimed if d not in expired]
        batch = _fit(live, self.spec.preferred_batch_kilobytes * 1024)
        self._store.release(self.spec.name, [d.seq for d in live[len(batch):]])
        return batch

    async def _deliver(self, batch: Sequence[Delivery]) -> None:
        try:
            response = await self._post([d.event for d in batch], "Notification", delivery_count=max(d.attempts for d in batch))
            result = _retry.answered(response.status_code)
        except httpx.TimeoutException:
            result = _retry.timed_out()
        except httpx.TransportError:
            result = _retry.socket_error()
        now = self._clock.now().timestamp()
        self._store.record(self.spec.name, [self._after_attempt(d, result, now) for d in batch])

    def _after_attempt(self, delivery: Delivery, result: _retry.AttemptResult, now: float) -> Outcome:
        attempts = delivery.attempts + 1
        if result.delivered:
            return Outcome(delivery.seq, DELIVERED, now, attempts, result.outcome, result.status, now)
        if not result.retriable:
            return self._give_up(delivery, attempts, result, now, _retry.undeliverable_reason(result))
        if attempts >= self.spec.max_delivery_attempts:
            return self._give_up(delivery, attempts, result, now, "MaxDeliveryAttemptsExceeded")
        due = now + _retry.retry_delay(attempts, result, self._rng)
        return Outcome(delivery.seq, PENDING, due, attempts, result.outcome, result.status, now)

    def _give_up(
        self, delivery: Delivery, attempts: int, result: _retry.AttemptResult | None, now: float, reason: str
    ) -> Outcome:
        """Dead-letter after Azure's delay, or drop when the subscription has no dead-letter container."""
        outcome = result.outcome if result else delivery.last_outcome
        status = result.status if result else delivery.last_status
        attempted = now if result else delivery.last_attempt_at
        if self.spec.dead_letter_container is None:
            log.warning("event subscription %s dropped an event (%s): no dead-letter destination", self.spec.name, reason)
            return Outcome(delivery.seq, DROPPED, now, attempts, outcome, status, attempted, reason)
        due = now + DEAD_LETTER_DELAY_SECONDS
        return Outcome(delivery.seq, DEAD_LETTER_DUE, due, attempts, outcome, status, attempted, reason)

    async def _write_due_dead_letters(self) -> None:
        container = self.spec.dead_letter_container
        due = self._store.due_dead_letters(self.spec.name, self._clock.now().timestamp())
        if not due or container is None:
            return
        name = blob_name(self.spec.name, self._clock.now())
        seqs = [d.seq for d in due]
        try:
            if self._dead_letters is None:
                raise AzuriteError("no blob store is configured for dead letters")
            await self._dead_letters.write(container, name, due)
        except AzuriteError as exc:
            self._dead_letter_failed(due, exc)
            return
        self._store.mark_dead_lettered(self.spec.name, seqs, f"{container}/{name}")

    def _dead_letter_failed(self, due: Sequence[Delivery], exc: AzuriteError) -> None:
        now = self._clock.now().timestamp()
        lost = [d.seq for d in due if now - (d.dead_letter_since or now) >= DEAD_LETTER_GIVE_UP_SECONDS]
        if lost:
            log.error("event subscription %s dropped %d dead letters after 4 h: %s", self.spec.name, len(lost), exc)
            self._store.drop(self.spec.name, lost, "DeadLetterDestinationUnavailable")
        kept = [d.seq for d in due if d.seq not in lost]
        if kept:
            log.warning("event subscription %s: dead letters wait for the blob store: %s", self.spec.name, exc)
            self._store.postpone_dead_letters(self.spec.name, kept, now + DEAD_LETTER_RETRY_SECONDS)

    async def _sleep_until_due(self) -> None:
        due = self._store.next_due(self.spec.name)
        timeout = None if due is None else self._clock.wall_seconds(due - self._clock.now().timestamp())
        if len(self._in_flight) >= self._slots:
            timeout = None  # a finished batch wakes the loop
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            pass

    async def _post(self, events: list[dict], event_type: str, *, delivery_count: int) -> httpx.Response:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "aeg-event-type": event_type,
            "aeg-subscription-name": self.spec.name.upper(),
            "aeg-delivery-count": str(delivery_count),
            "aeg-metadata-version": "1",
            "aeg-data-version": events[0].get("dataVersion", ""),
        }
        body = json.dumps(events, separators=(",", ":")).encode()
        return await self._http.post(self._url, content=body, headers=headers, timeout=self._answer_timeout)


def _fit(deliveries: Sequence[Delivery], preferred_bytes: int) -> list[Delivery]:
    """The longest prefix within the preferred batch size; a single larger event still goes alone."""
    batch: list[Delivery] = []
    total = 0
    for delivery in deliveries:
        if batch and total + delivery.size > preferred_bytes:
            break
        batch.append(delivery)
        total += delivery.size
    return batch


def _json_or_none(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def _iso(clock: SimClock) -> str:
    return clock.now().isoformat().replace("+00:00", "Z")
