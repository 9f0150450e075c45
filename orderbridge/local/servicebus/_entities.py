"""Entity settings of the local namespace, read from a stack's synthesized queues.

Defaults are Azure's for a property the program leaves unset
(https://learn.microsoft.com/azure/service-bus-messaging/service-bus-queues-topics-subscriptions,
https://learn.microsoft.com/azure/service-bus-messaging/service-bus-quotas).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from infra.config import parse_duration
from orderbridge.synth import Synthesis

DEAD_LETTER_SUFFIX = "/$deadletterqueue"
# Standard (and Basic) tier: 256 KB per message; Premium: the entity's maxMessageSizeInKilobytes, 1 MB by default.
STANDARD_MAX_MESSAGE_BYTES = 256 * 1024
PREMIUM_DEFAULT_MAX_MESSAGE_KILOBYTES = 1024
DEFAULT_LOCK_DURATION = timedelta(minutes=1)
DEFAULT_MAX_DELIVERY_COUNT = 10
DEFAULT_DUPLICATE_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class EntitySettings:
    """One queue's settings, as Service Bus enforces them."""

    name: str
    lock_duration: timedelta = DEFAULT_LOCK_DURATION
    max_delivery_count: int = DEFAULT_MAX_DELIVERY_COUNT
    requires_session: bool = False
    requires_duplicate_detection: bool = False
    duplicate_detection_window: timedelta = DEFAULT_DUPLICATE_WINDOW
    default_message_ttl: timedelta | None = None  # None: TimeSpan.MaxValue, never expires
    dead_lettering_on_expiration: bool = False
    max_message_bytes: int = STANDARD_MAX_MESSAGE_BYTES


@dataclass(frozen=True)
class EntityPath:
    """A receive address: a queue or its dead-letter sub-queue (`<queue>/$deadletterqueue`)."""

    queue: str
    dead_letter: bool = False

    @classmethod
    def parse(cls, path: str) -> "EntityPath":
        """Split `path` into the queue and whether it names the dead-letter sub-queue (case-insensitive)."""
        if path.lower().endswith(DEAD_LETTER_SUFFIX):
            return cls(path[: -len(DEAD_LETTER_SUFFIX)], True)
        return cls(path)

    def __str__(self) -> str:
        return self.queue + (DEAD_LETTER_SUFFIX if self.dead_letter else "")


def entities_from_synthesis(synthesis: Synthesis) -> list[EntitySettings]:
    """The settings of every queue the stack declares, as `pulumi up` would create them."""
    namespaces = [ns.revealed_inputs() for ns in synthesis.of_type("servicebus:Namespace")]
    tiers = {str(ns.get("namespaceName")): str((ns.get("sku") or {}).get("tier", "Standard")) for ns in namespaces}
    return [
        _settings(queue.revealed_inputs(), tiers.get(str(queue.revealed_inputs().get("namespaceName")), "Standard"))
        for queue in synthesis.of_type("servicebus:Queue")
    ]


def _settings(inputs: dict[str, Any], tier: str) -> EntitySettings:
    ttl = inputs.get("defaultMessageTimeToLive")
    return EntitySettings(
        name=str(inputs["queueName"]),
        lock_duration=parse_duration(inputs.get("lockDuration", "PT1M")),
        max_delivery_count=int(inputs.get("maxDeliveryCount", DEFAULT_MAX_DELIVERY_COUNT)),
        requires_session=bool(inputs.get("requiresSession", False)),
        requires_duplicate_detection=bool(inputs.get("requiresDuplicateDetection", False)),
        duplicate_detection_window=parse_duration(inputs.get("duplicateDetectionHistoryTimeWindow", "PT10M")),
        default_message_ttl=parse_duration(ttl) if ttl else None,
        dead_lettering_on_expiration=bool(inputs.get("deadLetteringOnMessageExpiration", False)),
        max_message_bytes=_max_message_bytes(inputs, tier),
    )


def _max_message_bytes(inputs: dict[str, Any], tier: str) -> int:
    if tier.lower() != "premium":
        return STANDARD_MAX_MESSAGE_BYTES
    return int(inputs.get("maxMessageSizeInKilobytes", PREMIUM_DEFAULT_MAX_MESSAGE_KILOBYTES)) * 1024
