"""The topics and subscriptions to serve, read from the synthesized desired state of a stack.

Only the settings the local Event Grid honours are read; each is checked against the range Azure
accepts (https://learn.microsoft.com/azure/event-grid/delivery-and-retry), so a stack that Azure
would refuse is refused here too, naming the resource.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orderbridge.local.eventgrid._errors import EventGridConfigError
from orderbridge.synth import MOCK_SUBSCRIPTION, Synthesis

# Azure's defaults when a subscription leaves a setting out.
DEFAULT_MAX_DELIVERY_ATTEMPTS = 30
DEFAULT_TTL_MINUTES = 1440
DEFAULT_MAX_EVENTS_PER_BATCH = 1
DEFAULT_PREFERRED_BATCH_KB = 64


@dataclass(frozen=True)
class TopicSpec:
    """One custom topic: its name and the ARM id Event Grid stamps into each event's `topic`."""

    name: str
    resource_id: str


@dataclass(frozen=True)
class SubscriptionSpec:
    """One event subscription with a webhook destination."""

    name: str
    topic: str
    included_event_types: tuple[str, ...] | None  # None: every event type
    max_events_per_batch: int
    preferred_batch_kilobytes: int
    max_delivery_attempts: int
    ttl_minutes: int
    dead_letter_container: str | None  # None: undeliverable events are dropped, as in Azure

    @property
    def blob_prefix(self) -> str:
        """Azure names dead-letter blobs after the subscription in upper case."""
        return self.name.upper()

    def wants(self, event_type: str) -> bool:
        """Whether `includedEventTypes` lets `event_type` through (compared without case, as Azure does)."""
        if self.included_event_types is None:
            return True
        return event_type.lower() in (t.lower() for t in self.included_event_types)


@dataclass(frozen=True)
class EventGridTopology:
    """Every topic and subscription of one stack."""

    topics: tuple[TopicSpec, ...]
    subscriptions: tuple[SubscriptionSpec, ...]

    def topic(self, name: str) -> TopicSpec | None:
        """The topic called `name`, if the stack declares it."""
        return next((t for t in self.topics if t.name == name), None)

    def subscriptions_of(self, topic: str) -> tuple[SubscriptionSpec, ...]:
        """The subscriptions on `topic`."""
        return tuple(s for s in self.subscriptions if s.topic == topic)


def read_topology(synthesis: Synthesis) -> EventGridTopology:
    """The Event Grid part of `synthesis`: its `eventgrid:Topic` and `eventgrid:EventSubscription` resources."""
    topics = tuple(_topic(r.revealed_inputs()) for r in synthesis.of_type("eventgrid:Topic"))
    known = {t.name for t in topics}
    subscriptions = tuple(
        _subscription(r.name, r.revealed_inputs(), known) for r in synthesis.of_type("eventgrid:EventSubscription")
    )
    return EventGridTopology(topics, subscriptions)


def _topic(inputs: dict[str, Any]) -> TopicSpec:
    # The ARM id Azure stamps into every event's `topic`; the subscriptions' `scope` is the same string.
    name = inputs["topicName"]
    resource_id = (
        f"/subscriptions/{MOCK_SUBSCRIPTION}/resourceGroups/{inputs['resourceGroupName']}"
        f"/providers/Microsoft.EventGrid/topics/{name}"
    )
    return TopicSpec(name, resource_id)


def _subscription(resource: str, inputs: dict[str, Any], topics: set[str]) -> SubscriptionSpec:
    name = inputs.get("eventSubscriptionName", resource)
    topic = inputs["scope"].rsplit("/", 1)[-1]
    if topic not in topics:
        raise EventGridConfigError(f"event subscription '{name}' points at topic '{topic}', which the stack does not declare")
    schema = inputs.get("eventDeliverySchema", "EventGridSchema")
    if schema != "EventGridSchema":
        raise EventGridConfigError(
            f"event subscription '{name}' delivers in {schema}; the local Event Grid speaks EventGridSchema only"
        )
    destination = inputs.get("destination", {})
    if destination.get("endpointType") != "WebHook":
        raise EventGridConfigError(f"event subscription '{name}' has no WebHook destination")
    retry = inputs.get("retryPolicy", {})
    included = inputs.get("filter", {}).get("includedEventTypes")
    return SubscriptionSpec(
        name=name,
        topic=topic,
        included_event_types=tuple(included) if included else None,
        max_events_per_batch=_ranged(name, "maxEventsPerBatch", destination, DEFAULT_MAX_EVENTS_PER_BATCH, 1, 5000),
        preferred_batch_kilobytes=_ranged(
            name, "preferredBatchSizeInKilobytes", destination, DEFAULT_PREFERRED_BATCH_KB, 1, 1024
        ),
        max_delivery_attempts=_ranged(name, "maxDeliveryAttempts", retry, DEFAULT_MAX_DELIVERY_ATTEMPTS, 1, 30),
        ttl_minutes=_ranged(name, "eventTimeToLiveInMinutes", retry, DEFAULT_TTL_MINUTES, 1, 1440),
        dead_letter_container=_dead_letter_container(inputs),
    )


def _ranged(subscription: str, key: str, section: dict[str, Any], default: int, low: int, high: int) -> int:
    value = section.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise EventGridConfigError(
            f"event subscription '{subscription}': {key} is {value!r}; Azure accepts an integer from {low} to {high}"
        )
    return value


def _dead_letter_container(inputs: dict[str, Any]) -> str | None:
    # Either form Azure takes: with the subscription's identity, or with the storage account's keys.
    destination = inputs.get("deadLetterWithResourceIdentity", {}).get("deadLetterDestination") or inputs.get(
        "deadLetterDestination"
    )
    if not destination:
        return None
    return destination.get("blobContainerName") or destination.get("properties", {}).get("blobContainerName")
