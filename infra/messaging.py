"""The Service Bus namespace both pipelines' queues live in."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import servicebus

from infra.config import QueueSettings
from infra.context import Deployment
from infra.observability import Observability

# Sessions, duplicate detection and partitioning are fixed when a queue is created
# (https://learn.microsoft.com/azure/service-bus-messaging/duplicate-detection,
# https://learn.microsoft.com/azure/service-bus-messaging/message-sessions): changing them replaces the
# queue, and a replaced queue loses its messages. `orderbridge synth` warns about these.
IMMUTABLE_QUEUE_PROPERTIES = ("requiresSession", "requiresDuplicateDetection", "enablePartitioning")


@dataclass(frozen=True)
class MessagingArgs:
    deployment: Deployment
    namespace_name: str
    observability: Observability


class Messaging(pulumi.ComponentResource):
    """A Standard namespace (sessions and duplicate detection need Standard) with local (SAS) auth off."""

    def __init__(self, name: str, args: MessagingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orderbridge:messaging:Messaging", name, None, opts)
        self._deployment = args.deployment
        self.namespace_name = args.namespace_name
        self.namespace = servicebus.Namespace(
            f"{name}-namespace",
            namespace_name=args.namespace_name,
            resource_group_name=args.deployment.resource_group_name,
            location=args.deployment.location,
            sku=servicebus.SBSkuArgs(name="Standard", tier="Standard"),
            # Entra ID only: every sender and receiver uses a managed identity and a role on one queue.
            disable_local_auth=True,
            minimum_tls_version="1.2",
            tags=dict(args.deployment.tags),
            opts=args.deployment.data_options(self),
        )
        args.observability.send_diagnostics(f"{name}-diagnostics", self.namespace.id, self)
        self.register_outputs({"namespace_id": self.namespace.id, "fqdn": self.fqdn})

    @property
    def fqdn(self) -> str:
        """The namespace host name, as identity-based connections and the Logic Apps need it."""
        return f"{self.namespace_name}.servicebus.windows.net"

    def queue(
        self,
        name: str,
        queue_name: str,
        settings: QueueSettings,
        *,
        requires_session: bool,
        time_to_live: str,
        parent: pulumi.Resource,
    ) -> servicebus.Queue:
        """A queue with duplicate detection and dead-lettering on expiration, parented to its pipeline."""
        return servicebus.Queue(
            name,
            queue_name=queue_name,
            namespace_name=self.namespace.name,
            resource_group_name=self._deployment.resource_group_name,
            requires_session=requires_session,
            requires_duplicate_detection=True,
            duplicate_detection_history_time_window=settings.duplicate_detection_window,
            dead_lettering_on_message_expiration=True,
            max_delivery_count=settings.max_delivery_count,
            lock_duration=settings.lock_duration,
            default_message_time_to_live=time_to_live,
            enable_partitioning=False,
            opts=self._deployment.data_options(
                parent, replace_on_changes=list(IMMUTABLE_QUEUE_PROPERTIES)
            ),
        )
