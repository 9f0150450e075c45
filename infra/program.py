"""Build the whole orderbridge topology for one stack: the function `__main__.py` and synth call."""
from __future__ import annotations

import pulumi
from pulumi_azure_native import authorization, resources

from infra.config import StackConfig
from infra.context import Deployment
from infra.integrator import ECP_API_KEY_SECRET, ERP_API_KEY_SECRET, Integrator, IntegratorArgs
from infra.messaging import Messaging, MessagingArgs
from infra.naming import Names
from infra.observability import Observability, ObservabilityArgs
from infra.pipeline import Pipeline, PipelineArgs, dead_letter_container
from infra.storage import HardenedStorage, StorageArgs
from topology import ECP_TO_ERP, ERP_TO_ECP, PIPELINES, PipelineSpec
from infra.vault import SecretsVault, VaultArgs
from infra.package import PackageRef


def build(config: StackConfig, package: PackageRef) -> dict[str, pulumi.Input[object]]:
    """Create every resource of the stack and return the stack outputs (nothing secret)."""
    names = Names(config.stack, config.name_suffix)
    client = authorization.get_client_config_output()
    group = resources.ResourceGroup(
        "resource-group",
        resource_group_name=names.resource_group,
        location=config.location,
        tags=dict(config.tags),
        # Deleting the group deletes everything in it, protected or not: in prod the group itself is
        # protected and retained, or `retain_on_delete` on the queues, vault and storage would mean nothing.
        opts=pulumi.ResourceOptions(protect=config.protect_data, retain_on_delete=config.protect_data),
    )
    deployment = Deployment(
        resource_group_name=group.name,
        location=config.location,
        tags=config.tags,
        subscription_id=client.subscription_id,
        tenant_id=client.tenant_id,
        protect_data=config.protect_data,
    )
    observability = Observability(
        "observability", ObservabilityArgs(deployment, names, config.log_retention_days, config.alert_email)
    )
    messaging = Messaging("messaging", MessagingArgs(deployment, names.service_bus, observability))
    dead_letters = HardenedStorage(
        "dead-letters",
        StorageArgs(deployment, names.dead_letter_storage, tuple(dead_letter_container(s) for s in PIPELINES)),
    )
    vault = SecretsVault(
        "secrets",
        VaultArgs(deployment, names.key_vault, {ECP_API_KEY_SECRET: config.ecp_api_key, ERP_API_KEY_SECRET: config.erp_api_key}),
    )
    source = {
        ECP_TO_ERP.key: (config.ecp_base_url, config.ecp_api_key, config.ecp_publisher_principal_ids),
        ERP_TO_ECP.key: (config.erp_base_url, config.erp_api_key, config.erp_publisher_principal_ids),
    }

    def pipeline(spec: PipelineSpec) -> Pipeline:
        base_url, api_key, publishers = source[spec.key]
        return Pipeline(
            PipelineArgs(
                deployment=deployment,
                spec=spec,
                messaging=messaging,
                dead_letters=dead_letters,
                observability=observability,
                source_base_url=base_url,
                source_api_key=api_key,
                trigger_concurrency=config.order_fetch_concurrency,
                maximum_waiting_runs=config.maximum_waiting_runs,
                event_delivery=config.event_delivery,
                queues=config.queues,
                backlog_threshold=config.backlog_alert.threshold,
                backlog_window=config.backlog_alert.window,
                publisher_principal_ids=publishers,
                operator_principal_ids=config.operator_principal_ids,
            )
        )

    pipelines = tuple(pipeline(spec) for spec in PIPELINES)
    integrator = Integrator(
        "integrator",
        IntegratorArgs(deployment, names, config, pipelines, messaging, vault, observability, package),
    )
    return {
        "resourceGroupName": names.resource_group,
        "serviceBusNamespaceFqdn": messaging.fqdn,
        "functionAppName": integrator.function_app_name,
        # The sources the app's configuration was applied for: deploy dist/integrator.zip built from them.
        "integratorSourceHash": package.source_hash,
        "keyVaultName": names.key_vault,
        **{f"{p.spec.key}": {
            "topicEndpoint": p.topic.endpoint,
            "topicName": p.spec.topic_name,
            "workflowName": p.spec.workflow_name,
            "queueName": p.spec.queue_name,
            "parkingQueueName": p.spec.parking_queue_name,
        } for p in pipelines},
    }
