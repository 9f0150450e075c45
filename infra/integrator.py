"""The Python Function App (Flex Consumption) hosting `erp_integrator` and `ecp_integrator`: its
user-assigned identity and that identity's roles, host storage, plan, app and failure alert.

The code itself is not deployed by Pulumi: after `pulumi up`, `az functionapp deployment source
config-zip` (One Deploy) ships `dist/integrator.zip` (see the README). The provider's `storage.Blob` writes
with the account key, which this storage account refuses (shared keys are off; pulumi-azure-native#2015).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, managedidentity, web

from infra import roles
from infra.config import StackConfig, parse_duration
from infra.context import Deployment
from infra.messaging import Messaging
from infra.naming import Names
from infra.observability import MetricAlertRule, Observability
from infra.pipeline import Pipeline
from infra.storage import HardenedStorage, StorageArgs
from infra.vault import SecretsVault
from infra.package import REPO_ROOT, PackageRef
from topology import (
    DUPLICATE_DETECTION_WINDOW,
    ECP_TO_ERP,
    ERP_UNKNOWN_OUTCOME_WAIT,
    QUEUE_CREATED_AT_SETTING,
    RETRY_MAX_SPAN,
    SERVICE_BUS_CONNECTION,
    SERVICE_BUS_NAMESPACE_SETTING,
)

# One Deploy on Flex Consumption writes the package into this container with the app's identity
# (https://learn.microsoft.com/azure/azure-functions/functions-infrastructure-as-code?pivots=flex-consumption-plan#deployment-package).
PACKAGE_CONTAINER = "deployment-package"
# Tag on the Function App naming the sources `pulumi up` was run with: the package to deploy next.
SOURCE_HASH_TAG = "sourceHash"
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


def app_settings(
    args: IntegratorArgs, host_storage_account: str, client_id: pulumi.Input[str]
) -> dict[str, pulumi.Input[str]]:
    """The settings the integrator code reads (see the contracts); secrets only as Key Vault references.

    `client_id` is the app's user-assigned identity: identity-based connections and the code's own
    DefaultAzureCredential (which reads AZURE_CLIENT_ID) must be told which identity to use.
    """
    config = args.config
    return {
        # Identity-based connections with a user-assigned identity: `__credential` + `__clientId`
        # (https://learn.microsoft.com/azure/azure-functions/functions-reference#common-properties-for-identity-based-connections).
        "AzureWebJobsStorage__accountName": host_storage_account,
        "AzureWebJobsStorage__credential": "managedidentity",
        "AzureWebJobsStorage__clientId": client_id,
        SERVICE_BUS_NAMESPACE_SETTING: args.messaging.fqdn,
        f"{SERVICE_BUS_CONNECTION}__credential": "managedidentity",
        f"{SERVICE_BUS_CONNECTION}__clientId": client_id,
        # DefaultAzureCredential's managed-identity step picks the user-assigned identity from here
        # (https://learn.microsoft.com/python/api/azure-identity/azure.identity.defaultazurecredential).
        "AZURE_CLIENT_ID": client_id,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": args.observability.app_insights.connection_string,
        "ERP_BASE_URL": config.erp_base_url,
        "ECP_BASE_URL": config.ecp_base_url,
        "ERP_API_KEY": args.vault.reference(ERP_API_KEY_SECRET),
        "ECP_API_KEY": args.vault.reference(ECP_API_KEY_SECRET),
        "ERP_WEB_CUSTOMER_NUMBER": config.erp_web_customer_number,
        "ERP_SHIPPING_CHARGE_ITEM": config.erp_shipping_charge_item,
        "ERP_PRICES_INCLUDE_TAX": "true" if config.erp_prices_include_tax else "false",
        RETRY_MAX_SPAN.app_setting: str(config.retry_max_span_minutes),
        ERP_UNKNOWN_OUTCOME_WAIT.app_setting: str(config.erp_unknown_outcome_retry_minutes),
        # The window and creation time of online-orders: with them the ERP integrator can tell a
        # delivery Service Bus proves is an order's first, and create it without a look-up
        # (integrator_func/order_integration/first_delivery.py). A replaced queue has a new time.
        DUPLICATE_DETECTION_WINDOW.app_setting: str(
            int(parse_duration(config.queues.duplicate_detection_window).total_seconds() // 60)
        ),
        QUEUE_CREATED_AT_SETTING: _pipeline(ECP_TO_ERP.key, args.pipelines).queue.created_at,
        "PYTHON_THREADPOOL_THREAD_COUNT": str(worker_thread_count()),
        **queue_settings(args.pipelines),
    }


def queue_settings(pipelines: tuple[Pipeline, ...]) -> dict[str, str]:
    """The queue names the functions' triggers bind to (`%SETTING%`) and the integrators park in."""
    settings: dict[str, str] = {}
    for pipeline in pipelines:
        settings[pipeline.spec.queue_setting] = pipeline.spec.queue_name
        settings[pipeline.spec.parking_queue_setting] = pipeline.spec.parking_queue_name
    return settings


def _pipeline(key: str, pipelines: tuple[Pipeline, ...]) -> Pipeline:
    """The pipeline component built for the declaration with `key`."""
    [pipeline] = [p for p in pipelines if p.spec.key == key]
    return pipeline


class Integrator(pulumi.ComponentResource):
    """Flex Consumption (FC1) Function App, Python 3.11, with a user-assigned identity.

    The identity and its roles exist before the app: a Key Vault reference that cannot be resolved
    when the app starts stays the literal `@Microsoft.KeyVault(...)` text until the platform refetches
    it (about every 24 h), and the integrators would send that text as the API key
    (https://learn.microsoft.com/azure/app-service/app-service-key-vault-references#rotation).
    """

    def __init__(self, name: str, args: IntegratorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orderbridge:integrator:Integrator", name, None, opts)
        deployment, names = args.deployment, args.names
        self._prefix = name
        self.function_app_name = names.function_app
        self.host_storage = HardenedStorage(
            f"{name}-storage",
            StorageArgs(deployment, names.function_storage, (PACKAGE_CONTAINER,)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.identity = managedidentity.UserAssignedIdentity(
            f"{name}-identity",
            resource_name_=names.function_identity,
            resource_group_name=deployment.resource_group_name,
            location=deployment.location,
            tags=dict(deployment.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        grants = self._grant_access(args)
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
        self.app = self._function_app(args, grants)
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

    def _function_app(self, args: IntegratorArgs, grants: list[authorization.RoleAssignment]) -> web.WebApp:
        deployment = args.deployment
        settings = app_settings(args, self.host_storage.account_name, self.identity.client_id)
        return web.WebApp(
            f"{self._prefix}-app",
            name=self.function_app_name,
            resource_group_name=deployment.resource_group_name,
            location=deployment.location,
            kind="functionapp,linux",
            server_farm_id=self.plan.id,
            https_only=True,
            identity=web.ManagedServiceIdentityArgs(type="UserAssigned", user_assigned_identities=[self.identity.id]),
            # https://learn.microsoft.com/azure/app-service/app-service-key-vault-references#access-vaults-with-a-user-assigned-identity
            key_vault_reference_identity=self.identity.id,
            # Flex Consumption takes runtime, scale and the package location here, not in app settings
            # (https://learn.microsoft.com/azure/azure-functions/flex-consumption-how-to).
            function_app_config=web.FunctionAppConfigArgs(
                deployment=web.FunctionsDeploymentArgs(
                    storage=web.FunctionsDeploymentStorageArgs(
                        type="blobContainer",
                        value=f"{self.host_storage.blob_endpoint}/{PACKAGE_CONTAINER}",
                        authentication=web.FunctionsDeploymentStorageAuthenticationArgs(
                            type="UserAssignedIdentity", user_assigned_identity_resource_id=self.identity.id
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
            tags={**deployment.tags, SOURCE_HASH_TAG: args.package.source_hash},
            # The app starts with every role in place (see the class docstring).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*grants, *args.vault.secrets.values()]),
        )

    def _grant_access(self, args: IntegratorArgs) -> list[authorization.RoleAssignment]:
        """Receiver on the queues it consumes, Sender on those it re-schedules to and on the parking
        queues, Secrets User on the vault, Blob Data Owner on its own host storage."""
        subscription_id = args.deployment.subscription_id
        identity = roles.Grantee(self.identity.principal_id)

        def grant(name: str, role: roles.Role, scope: pulumi.Input[str]) -> authorization.RoleAssignment:
            return roles.grant(name, role, identity, scope, subscription_id, self)

        grants = []
        for pipeline in args.pipelines:
            key = pipeline.spec.key
            grants += [
                grant(f"{key}-function-receiver", roles.SERVICE_BUS_DATA_RECEIVER, pipeline.queue.id),
                # Backoff is a scheduled re-send to the same queue (an abandoned message comes back at once).
                grant(f"{key}-function-rescheduler", roles.SERVICE_BUS_DATA_SENDER, pipeline.queue.id),
                grant(f"{key}-function-parker", roles.SERVICE_BUS_DATA_SENDER, pipeline.parking_queue.id),
            ]
        grants.append(grant(f"{self._prefix}-secrets-reader", roles.KEY_VAULT_SECRETS_USER, args.vault.vault.id))
        # Account scope because the Functions host creates its own containers (locks, keys) in
        # AzureWebJobsStorage and One Deploy writes the package there; this account holds nothing else.
        # Blob Data Owner is the documented minimum
        # (https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity).
        grants.append(grant(f"{self._prefix}-host-storage-owner", roles.STORAGE_BLOB_DATA_OWNER,
                            self.host_storage.account.id))
        return grants
