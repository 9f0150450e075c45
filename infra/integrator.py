"""The Python Function App (Flex Consumption) hosting `erp_integrator` and `ecp_integrator`, its host
storage and deployment package, its identity's roles and its failure alert."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import storage, web

from infra import roles
from infra.config import StackConfig
from infra.context import Deployment
from infra.messaging import Messaging
from infra.naming import Names
from infra.observability import MetricAlertRule, Observability
from infra.pipeline import Pipeline
from infra.storage import HardenedStorage, StorageArgs
from infra.vault import SecretsVault
from orderbridge.packaging import REPO_ROOT, PackageRef

PACKAGE_CONTAINER = "deployment-package"
# One Deploy on Flex Consumption reads the package under exactly this name from the deployment container
# (https://learn.microsoft.com/azure/azure-functions/functions-infrastructure-as-code?pivots=flex-consumption-plan#deployment-package).
PACKAGE_BLOB = "released-package.zip"
ECP_API_KEY_SECRET = "ecp-api-key"
ERP_API_KEY_SECRET = "erp-api-key"


@dataclass(frozen=True)
class IntegratorArgs:
    deployment: Deployment
    names: Names
    config: StackConfig
    pipelines: tuple[Pipeline, ...]
    messaging: Messaging
    vault: SecretsVault
    observability: Observability
    package: PackageRef


HOST_JSON = REPO_ROOT / "integrator_func" / "host.json"


def worker_thread_count() -> int:
    """Python worker threads needed so host.json's Service Bus concurrency is really reached.

    The integrators are synchronous functions, which the worker runs on PYTHON_THREADPOOL_THREAD_COUNT
    threads, by default min(32, cores + 4): on a small instance that, not host.json, would cap the
    concurrent calls (https://learn.microsoft.com/azure/azure-functions/python-scale-performance-reference).
    """
    service_bus = json.loads(HOST_JSON.read_text(encoding="utf-8"))["extensions"]["serviceBus"]
    return int(service_bus["maxConcurrentCalls"]) + int(service_bus["maxConcurrentSessions"])


def app_settings(args: IntegratorArgs, host_storage_account: str) -> dict[str, pulumi.Input[str]]:
    """The settings the integrator code reads (see the contracts); secrets only as Key Vault references."""
    config = args.config
    return {
        # Identity-based connections: no connection strings, no keys
        # (https://learn.microsoft.com/azure/azure-functions/functions-reference#configure-an-identity-based-connection).
        "AzureWebJobsStorage__accountName": host_storage_account,
        "ServiceBusConnection__fullyQualifiedNamespace": args.messaging.fqdn,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": args.observability.app_insights.connection_string,
        "ERP_BASE_URL": config.erp_base_url,
        "ECP_BASE_URL": config.ecp_base_url,
        "ERP_API_KEY": args.vault.reference(ERP_API_KEY_SECRET),
        "ECP_API_KEY": args.vault.reference(ECP_API_KEY_SECRET),
        "ERP_WEB_CUSTOMER_NUMBER": config.erp_web_customer_number,
        "ERP_SHIPPING_CHARGE_ITEM": config.erp_shipping_charge_item,
        "RETRY_MAX_SPAN_MINUTES": str(config.retry_max_span_minutes),
        "PYTHON_THREADPOOL_THREAD_COUNT": str(worker_thread_count()),
    }


class Integrator(pulumi.ComponentResource):
    """Flex Consumption (FC1) Function App, Python 3.11, system-assigned identity."""

    def __init__(self, name: str, args: IntegratorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orderbridge:integrator:Integrator", name, None, opts)
        deployment, names = args.deployment, args.names
        self.function_app_name = names.function_app
        self.host_storage = HardenedStorage(
            f"{name}-storage",
            StorageArgs(deployment, names.function_storage, (PACKAGE_CONTAINER,)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.package_blob = storage.Blob(
            f"{name}-package",
            blob_name=PACKAGE_BLOB,
            # The sources' hash: new code changes the blob, and the snapshot shows which code deploys.
            metadata={"sourceHash": args.package.source_hash},
            container_name=PACKAGE_CONTAINER,
            account_name=self.host_storage.account.name,
            resource_group_name=deployment.resource_group_name,
            type="Block",
            content_type="application/zip",
            source=pulumi.FileAsset(args.package.asset_path),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.host_storage.containers[PACKAGE_CONTAINER]]),
        )
        self.plan = web.AppServicePlan(
            f"{name}-plan",
            name=names.function_plan,
            resource_group_name=deployment.resource_group_name,
            location=deployment.location,
            kind="functionapp",
            reserved=True,  # Linux
            sku=web.SkuDescriptionArgs(name="FC1", tier="FlexConsumption"),
            tags=dict(deployment.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._prefix = name
        self.app = self._function_app(args)
        self._grant_access(args)
        args.observability.alert(
            f"{name}-failures",
            MetricAlertRule(
                f"Function executions failed in {names.function_app}: transient failures are retried,"
                " permanent ones parked; see Application Insights failures.",
                args.observability.app_insights.id, "microsoft.insights/components", "requests/failed",
                "GreaterThan", 0, "Count", severity=2,
            ),
            self,
        )
        self.register_outputs({"function_app_name": self.function_app_name})

    def _function_app(self, args: IntegratorArgs) -> web.WebApp:
        deployment = args.deployment
        settings = app_settings(args, self.host_storage.account_name)
        return web.WebApp(
            f"{self._prefix}-app",
            name=self.function_app_name,
            resource_group_name=deployment.resource_group_name,
            location=deployment.location,
            kind="functionapp,linux",
            server_farm_id=self.plan.id,
            https_only=True,
            identity=web.ManagedServiceIdentityArgs(type="SystemAssigned"),
            key_vault_reference_identity="SystemAssigned",
            # Flex Consumption takes runtime, scale and the package location here, not in app settings
            # (https://learn.microsoft.com/azure/azure-functions/flex-consumption-how-to).
            function_app_config=web.FunctionAppConfigArgs(
                deployment=web.FunctionsDeploymentArgs(
                    storage=web.FunctionsDeploymentStorageArgs(
                        type="blobContainer",
                        value=f"{self.host_storage.blob_endpoint}/{PACKAGE_CONTAINER}",
                        authentication=web.FunctionsDeploymentStorageAuthenticationArgs(
                            type="SystemAssignedIdentity"
                        ),
                    )
                ),
                runtime=web.FunctionsRuntimeArgs(name="python", version="3.11"),
                scale_and_concurrency=web.FunctionsScaleAndConcurrencyArgs(
                    maximum_instance_count=args.config.function_maximum_instances, instance_memory_mb=2048
                ),
            ),
            site_config=web.SiteConfigArgs(
                app_settings=[web.NameValuePairArgs(name=k, value=v) for k, v in settings.items()],
                min_tls_version="1.2",
                ftps_state="Disabled",
                http20_enabled=True,
            ),
            tags=dict(deployment.tags),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.package_blob]),
        )

    def _grant_access(self, args: IntegratorArgs) -> None:
        """Receiver on the queues it consumes, Sender on those it re-schedules to and on the parking
        queues, Secrets User on the vault, Blob Data Owner on its own host storage."""
        subscription_id = args.deployment.subscription_id
        identity = roles.Grantee(self.app.identity.apply(lambda i: i.principal_id))  # type: ignore[union-attr]
        for pipeline in args.pipelines:
            key = pipeline.spec.key
            roles.grant(f"{key}-function-receiver", roles.SERVICE_BUS_DATA_RECEIVER, identity,
                        pipeline.queue.id, subscription_id, self)
            # Backoff is a scheduled re-send to the same queue (an abandoned message comes back at once).
            roles.grant(f"{key}-function-rescheduler", roles.SERVICE_BUS_DATA_SENDER, identity,
                        pipeline.queue.id, subscription_id, self)
            roles.grant(f"{key}-function-parker", roles.SERVICE_BUS_DATA_SENDER, identity,
                        pipeline.parking_queue.id, subscription_id, self)
        roles.grant(f"{self._prefix}-secrets-reader", roles.KEY_VAULT_SECRETS_USER, identity,
                    args.vault.vault.id, subscription_id, self)
        # Account scope because the Functions host creates its own containers (locks, keys) in
        # AzureWebJobsStorage; this account holds nothing else. Blob Data Owner is the documented
        # minimum (https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity).
        roles.grant(f"{self._prefix}-host-storage-owner", roles.STORAGE_BLOB_DATA_OWNER, identity,
                    self.host_storage.account.id, subscription_id, self)
