"""One direction of the integration: Event Grid topic -> Logic App -> Service Bus queue (+ parking
queue), with its identities, roles, diagnostics and alerts. Instantiated once per `PipelineSpec`."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import eventgrid, logic

from infra import roles
from infra.config import EventDelivery, QueueSettings, SecretText
from infra.context import Deployment
from infra.messaging import Messaging
from infra.observability import MetricAlertRule, Observability
from infra.storage import HardenedStorage
from topology import PipelineSpec
from infra.workflow_definitions import load_definition, trigger_name

# Metric namespaces; metric names from the Azure Monitor references
# https://learn.microsoft.com/azure/azure-monitor/reference/supported-metrics/microsoft-servicebus-namespaces-metrics,
# .../microsoft-logic-workflows-metrics and .../microsoft-eventgrid-topics-metrics.
SERVICE_BUS_METRICS = "Microsoft.ServiceBus/namespaces"
LOGIC_METRICS = "Microsoft.Logic/workflows"
EVENT_GRID_METRICS = "Microsoft.EventGrid/topics"


@dataclass(frozen=True)
class PipelineArgs:
    deployment: Deployment
    spec: PipelineSpec
    messaging: Messaging
    dead_letters: HardenedStorage
    observability: Observability
    source_base_url: str
    source_api_key: SecretText
    trigger_concurrency: int
    maximum_waiting_runs: int
    event_delivery: EventDelivery
    queues: QueueSettings
    backlog_threshold: int
    backlog_window: str
    publisher_principal_ids: tuple[str, ...]
    operator_principal_ids: tuple[str, ...]


def dead_letter_container(spec: PipelineSpec) -> str:
    """The blob container Event Grid dead-letters `spec`'s undeliverable events into."""
    return f"{spec.topic_name}-deadletters"


def workflow_parameters(args: PipelineArgs) -> dict[str, pulumi.Input[object]]:
    """The values for the parameters every workflow declares (see the contracts); the key stays secret."""
    return {
        "sourceBaseUrl": args.source_base_url,
        "sourceApiKey": pulumi.Output.secret(args.source_api_key.reveal()),
        "serviceBusHost": args.messaging.fqdn,
        "queueName": args.spec.queue_name,
        "parkingQueueName": args.spec.parking_queue_name,
    }


class Pipeline(pulumi.ComponentResource):
    """Everything one direction needs between the publishing system and its integrator Function."""

    def __init__(self, args: PipelineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        spec = args.spec
        name = spec.key
        super().__init__("orderbridge:pipeline:Pipeline", name, None, opts)
        self.spec = spec
        self._args = args
        self.queue = args.messaging.queue(
            f"{name}-queue", spec.queue_name, args.queues, requires_session=spec.requires_session,
            time_to_live=args.queues.message_time_to_live, parent=self,
        )
        # Parked messages are inspected and replayed one by one, never in order: no sessions. They wait
        # for an operator, so they live longer than queued ones; one that still expires is
        # dead-lettered and alerted on (see _monitor).
        self.parking_queue = args.messaging.queue(
            f"{name}-parking-queue", spec.parking_queue_name, args.queues, requires_session=False,
            time_to_live=args.queues.parking_message_time_to_live, parent=self,
        )
        self.topic = self._topic()
        self.workflow = self._workflow()
        dead_letter_writer = self._grant_access()
        self.subscription = self._subscription(dead_letter_writer)
        self._monitor()
        self.register_outputs(
            {"topic_endpoint": self.topic.endpoint, "workflow_name": spec.workflow_name, "queue": spec.queue_name}
        )

    def _topic(self) -> eventgrid.Topic:
        args = self._args
        return eventgrid.Topic(
            f"{self.spec.key}-topic",
            topic_name=self.spec.topic_name,
            resource_group_name=args.deployment.resource_group_name,
            location=args.deployment.location,
            input_schema="EventGridSchema",
            minimum_tls_version_allowed="1.2",
            # Publishers authenticate with Entra ID (role EventGrid Data Sender on this topic), so
            # there is no topic key to store, rotate or leak.
            disable_local_auth=True,
            identity=eventgrid.IdentityInfoArgs(type="SystemAssigned"),
            tags=dict(args.deployment.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _workflow(self) -> logic.Workflow:
        args = self._args
        definition = load_definition(
            self.spec.workflow_name,
            trigger_concurrency=args.trigger_concurrency,
            maximum_waiting_runs=args.maximum_waiting_runs,
        )
        return logic.Workflow(
            f"{self.spec.key}-workflow",
            workflow_name=self.spec.workflow_name,
            resource_group_name=args.deployment.resource_group_name,
            location=args.deployment.location,
            definition=definition,
            parameters={
                key: logic.WorkflowParameterArgs(value=value) for key, value in workflow_parameters(args).items()
            },
            identity=logic.ManagedServiceIdentityArgs(type="SystemAssigned"),
            state="Enabled",
            tags=dict(args.deployment.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def callback_url(self) -> pulumi.Output[str]:
        """The Request trigger's URL with its SAS signature: a secret
        (https://learn.microsoft.com/rest/api/logic/workflow-triggers/list-callback-url)."""
        result = logic.list_workflow_trigger_callback_url_output(
            resource_group_name=self._args.deployment.resource_group_name,
            workflow_name=self.workflow.name,
            trigger_name=trigger_name(self.spec.workflow_name),
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        return pulumi.Output.secret(result.value)

    def _subscription(self, dead_letter_writer: pulumi.Resource) -> eventgrid.EventSubscription:
        args = self._args
        delivery = args.event_delivery
        container = dead_letter_container(self.spec)
        return eventgrid.EventSubscription(
            f"{self.spec.key}-subscription",
            event_subscription_name=self.spec.workflow_name,
            scope=self.topic.id,
            # Event Grid schema: the CloudEvents handshake is an HTTP OPTIONS a Request trigger cannot
            # answer (https://learn.microsoft.com/azure/event-grid/webhook-event-delivery).
            event_delivery_schema="EventGridSchema",
            destination=eventgrid.WebHookEventSubscriptionDestinationArgs(
                endpoint_type="WebHook",
                # Write-only in Azure: a refresh cannot read it back, so Pulumi compares with the last
                # value it sent; a rotated trigger key is picked up on the next `pulumi up`.
                endpoint_url=self.callback_url(),
                max_events_per_batch=delivery.batch_size,
                preferred_batch_size_in_kilobytes=64,
                minimum_tls_version_allowed="1.2",
            ),
            filter=eventgrid.EventSubscriptionFilterArgs(included_event_types=[self.spec.event_type]),
            # https://learn.microsoft.com/azure/event-grid/delivery-and-retry
            retry_policy=eventgrid.RetryPolicyArgs(
                max_delivery_attempts=delivery.max_attempts,
                event_time_to_live_in_minutes=delivery.time_to_live_minutes,
            ),
            dead_letter_with_resource_identity=eventgrid.DeadLetterWithResourceIdentityArgs(
                identity=eventgrid.EventSubscriptionIdentityArgs(type="SystemAssigned"),
                dead_letter_destination=eventgrid.StorageBlobDeadLetterDestinationArgs(
                    endpoint_type="StorageBlob",
                    resource_id=args.dead_letters.account.id,
                    blob_container_name=container,
                ),
            ),
            # Microsoft's order: role on the destination first, then the subscription using the identity
            # (https://learn.microsoft.com/azure/event-grid/managed-service-identity). Whether Event Grid
            # checks the grant at creation is not documented; it first writes a dead letter about five
            # minutes after a final failed attempt, by when a new assignment has normally propagated.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[dead_letter_writer]),
        )

    def _grant_access(self) -> pulumi.Resource:
        """Data-plane roles on single entities; returns the topic's dead-letter write grant."""
        args, key = self._args, self.spec.key
        subscription_id = args.deployment.subscription_id
        container = args.dead_letters.containers[dead_letter_container(self.spec)]
        topic_identity = roles.Grantee(self.topic.identity.apply(lambda identity: identity.principal_id))
        workflow_identity = roles.Grantee(self.workflow.identity.apply(lambda identity: identity.principal_id))
        dead_letter_writer = roles.grant(
            f"{key}-topic-dead-letter-writer", roles.STORAGE_BLOB_DATA_CONTRIBUTOR, topic_identity,
            container.id, subscription_id, self,
        )
        for label, queue in (("queue", self.queue), ("parking-queue", self.parking_queue)):
            roles.grant(
                f"{key}-workflow-{label}-sender", roles.SERVICE_BUS_DATA_SENDER, workflow_identity,
                queue.id, subscription_id, self,
            )
            roles.grant_operators(
                f"{key}-{label}", (roles.SERVICE_BUS_DATA_RECEIVER, roles.SERVICE_BUS_DATA_SENDER),
                args.operator_principal_ids, queue.id, subscription_id, self,
            )
        roles.grant_operators(
            f"{key}-dead-letters", (roles.STORAGE_BLOB_DATA_READER,), args.operator_principal_ids,
            container.id, subscription_id, self,
        )
        for publisher in args.publisher_principal_ids:
            roles.grant(
                f"{key}-publisher-{publisher}", roles.EVENTGRID_DATA_SENDER, roles.Grantee(publisher, None),
                self.topic.id, subscription_id, self,
            )
        return dead_letter_writer

    def _monitor(self) -> None:
        """Diagnostics to the workspace and the alerts an operator must see for this direction."""
        args, key, spec = self._args, self.spec.key, self.spec
        observability = args.observability
        observability.send_diagnostics(f"{key}-topic-diagnostics", self.topic.id, self)
        observability.send_diagnostics(f"{key}-workflow-diagnostics", self.workflow.id, self)
        namespace_id = args.messaging.namespace.id
        rules = {
            "dead-lettered": MetricAlertRule(
                f"Messages dead-lettered in {spec.queue_name}: inspect its dead-letter queue and replay.",
                namespace_id, SERVICE_BUS_METRICS, "DeadletteredMessages", "GreaterThan", 0, "Maximum",
                dimension=("EntityName", spec.queue_name), severity=1,
            ),
            # Without this, a parked message that expires would leave the parking queue and its
            # "parked" alert would resolve as if someone had handled it.
            "parked-expired": MetricAlertRule(
                f"Parked messages in {spec.parking_queue_name} expired unhandled after"
                f" {args.queues.parking_message_time_to_live} and were dead-lettered: replay or discard them"
                " from its dead-letter queue.",
                namespace_id, SERVICE_BUS_METRICS, "DeadletteredMessages", "GreaterThan", 0, "Maximum",
                dimension=("EntityName", spec.parking_queue_name), severity=1,
            ),
            "parked": MetricAlertRule(
                f"Messages parked in {spec.parking_queue_name}: each carries a reason; fix and replay.",
                namespace_id, SERVICE_BUS_METRICS, "ActiveMessages", "GreaterThan", 0, "Maximum",
                dimension=("EntityName", spec.parking_queue_name), severity=2,
            ),
            # Minimum over the window above the threshold = the backlog never drained during it: the
            # consumer (ERP/ECP) is down or too slow, long before anything is dead-lettered.
            "backlog": MetricAlertRule(
                f"More than {args.backlog_threshold} messages waiting in {spec.queue_name} for"
                f" {args.backlog_window}: is {spec.function_name}'s target reachable?",
                namespace_id, SERVICE_BUS_METRICS, "ActiveMessages", "GreaterThan", args.backlog_threshold,
                "Minimum", window=args.backlog_window, dimension=("EntityName", spec.queue_name), severity=2,
            ),
            "runs-failed": MetricAlertRule(
                f"{spec.workflow_name} runs failed: see the run history (Event Grid will retry).",
                self.workflow.id, LOGIC_METRICS, "RunsFailed", "GreaterThan", 0, "Total",
            ),
            "runs-throttled": MetricAlertRule(
                f"{spec.workflow_name} runs throttled: raise orderFetchConcurrency or check the source API.",
                self.workflow.id, LOGIC_METRICS, "RunThrottledEvents", "GreaterThan", 0, "Total", severity=3,
            ),
            "trigger-throttled": MetricAlertRule(
                f"{spec.workflow_name} trigger throttled: waiting runs are full and Event Grid is retrying.",
                self.workflow.id, LOGIC_METRICS, "TriggerThrottledEvents", "GreaterThan", 0, "Total", severity=3,
            ),
            "events-dropped": MetricAlertRule(
                f"Event Grid dropped events of {spec.topic_name}: they are lost, find them at the publisher.",
                self.topic.id, EVENT_GRID_METRICS, "DroppedEventCount", "GreaterThan", 0, "Total", severity=1,
            ),
            "events-dead-lettered": MetricAlertRule(
                f"Event Grid dead-lettered events of {spec.topic_name} into container"
                f" {dead_letter_container(spec)}: inspect and republish.",
                self.topic.id, EVENT_GRID_METRICS, "DeadLetteredCount", "GreaterThan", 0, "Total", severity=1,
            ),
        }
        for suffix, rule in rules.items():
            observability.alert(f"{key}-{suffix}", rule, self)
