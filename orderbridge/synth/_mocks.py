"""Pulumi's unit-test mocks, answering with deterministic, Azure-shaped ids, identities and outputs."""
from __future__ import annotations

import uuid
from typing import Any

from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks

from orderbridge.synth._state import SynthResource, plain

MOCK_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
MOCK_TENANT = "00000000-0000-0000-0000-00000000000a"
# What Azure reports as a queue's creation time, fixed so snapshots do not change with the clock.
MOCK_CREATED_AT = "2026-01-01T00:00:00Z"
QUEUE_TYPE = "azure-native:servicebus:Queue"

# Type token -> (Azure resource id template, input holding the resource's own name). Ids look like
# real ARM ids so scope checks in the tests read like they would against Azure.
_RG = "/subscriptions/{sub}/resourceGroups/{resourceGroupName}"
_IDS: dict[str, tuple[str, str]] = {
    "azure-native:resources:ResourceGroup": (_RG, "resourceGroupName"),
    "azure-native:operationalinsights:Workspace": (
        _RG + "/providers/Microsoft.OperationalInsights/workspaces/{workspaceName}", "workspaceName"),
    "azure-native:applicationinsights:Component": (
        _RG + "/providers/Microsoft.Insights/components/{resourceName}", "resourceName"),
    "azure-native:monitor:ActionGroup": (
        _RG + "/providers/Microsoft.Insights/actionGroups/{actionGroupName}", "actionGroupName"),
    "azure-native:monitor:MetricAlert": (_RG + "/providers/Microsoft.Insights/metricAlerts/{ruleName}", "ruleName"),
    "azure-native:monitor:DiagnosticSetting": (
        "{resourceUri}/providers/Microsoft.Insights/diagnosticSettings/{name}", "name"),
    "azure-native:storage:StorageAccount": (
        _RG + "/providers/Microsoft.Storage/storageAccounts/{accountName}", "accountName"),
    "azure-native:storage:BlobContainer": (
        _RG + "/providers/Microsoft.Storage/storageAccounts/{accountName}/blobServices/default/containers/"
        "{containerName}", "containerName"),
    "azure-native:servicebus:Namespace": (
        _RG + "/providers/Microsoft.ServiceBus/namespaces/{namespaceName}", "namespaceName"),
    "azure-native:servicebus:Queue": (
        _RG + "/providers/Microsoft.ServiceBus/namespaces/{namespaceName}/queues/{queueName}", "queueName"),
    "azure-native:eventgrid:Topic": (_RG + "/providers/Microsoft.EventGrid/topics/{topicName}", "topicName"),
    "azure-native:eventgrid:EventSubscription": (
        "{scope}/providers/Microsoft.EventGrid/eventSubscriptions/{eventSubscriptionName}", "eventSubscriptionName"),
    "azure-native:logic:Workflow": (_RG + "/providers/Microsoft.Logic/workflows/{workflowName}", "workflowName"),
    "azure-native:keyvault:Vault": (_RG + "/providers/Microsoft.KeyVault/vaults/{vaultName}", "vaultName"),
    "azure-native:keyvault:Secret": (
        _RG + "/providers/Microsoft.KeyVault/vaults/{vaultName}/secrets/{secretName}", "secretName"),
    "azure-native:web:AppServicePlan": (_RG + "/providers/Microsoft.Web/serverfarms/{name}", "name"),
    "azure-native:web:WebApp": (_RG + "/providers/Microsoft.Web/sites/{name}", "name"),
    "azure-native:managedidentity:UserAssignedIdentity": (
        _RG + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{resourceName}", "resourceName"),
    "azure-native:authorization:RoleAssignment": (
        "{scope}/providers/Microsoft.Authorization/roleAssignments/{assignment}", "assignment"),
}


def _stable_guid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def _identity_state(identity: dict[str, Any], typ: str, name: str) -> dict[str, Any]:
    """A resource's `identity` as Azure answers it: a principal for a system-assigned identity, and
    user-assigned identities as a map keyed by resource id (the inputs take a list of ids)."""
    state = dict(identity)
    if "SystemAssigned" in str(identity.get("type", "")):
        state.update(principalId=_stable_guid("principal", typ, name), tenantId=MOCK_TENANT)
    if isinstance(identity.get("userAssignedIdentities"), list):
        state["userAssignedIdentities"] = {
            resource_id: {"principalId": _stable_guid("principal", resource_id),
                          "clientId": _stable_guid("client", resource_id)}
            for resource_id in identity["userAssignedIdentities"]
        }
    return state


class OfflineMocks(pulumi_mocks.Mocks):
    """Answers registrations and invokes with deterministic, Azure-shaped values."""

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = plain(args.inputs)
        template, name_key = _IDS.get(args.typ, ("/mock/{type}/{logical}", "logical"))
        fields = {**inputs, "sub": MOCK_SUBSCRIPTION, "type": args.typ, "logical": args.name,
                  "assignment": _stable_guid(args.typ, args.name)}
        try:
            resource_id = template.format(**fields)
        except KeyError:
            resource_id = f"/mock/{args.typ}/{args.name}"
        state = dict(args.inputs)
        state["name"] = fields.get(name_key, args.name)
        identity = inputs.get("identity")
        if isinstance(identity, dict):
            state["identity"] = _identity_state(identity, args.typ, args.name)
        if args.typ == "azure-native:managedidentity:UserAssignedIdentity":
            state["principalId"] = _stable_guid("principal", args.typ, args.name)
            state["clientId"] = _stable_guid("client", args.typ, args.name)
        if args.typ == "azure-native:eventgrid:Topic":
            state["endpoint"] = f"https://{inputs['topicName']}.{inputs['location']}-1.eventgrid.azure.net/api/events"
        if args.typ == QUEUE_TYPE:
            state["createdAt"] = MOCK_CREATED_AT
        if args.typ == "azure-native:applicationinsights:Component":
            key = _stable_guid("instrumentation", args.name)
            state["connectionString"] = f"InstrumentationKey={key};IngestionEndpoint=https://example.invalid/"
        return resource_id, state

    def call(self, args: pulumi_mocks.MockCallArgs) -> dict[str, Any]:
        if args.token == "azure-native:authorization:getClientConfig":
            return {"clientId": "offline", "objectId": _stable_guid("deployer"),
                    "subscriptionId": MOCK_SUBSCRIPTION, "tenantId": MOCK_TENANT}
        if args.token == "azure-native:logic:listWorkflowTriggerCallbackUrl":
            workflow, trigger = args.args["workflowName"], args.args["triggerName"]
            base = f"https://prod-00.westeurope.logic.azure.com:443/workflows/{workflow}/triggers/{trigger}/paths/invoke"
            return {"value": f"{base}?api-version=2016-10-01&sp=%2Ftriggers%2F{trigger}%2Frun&sv=1.0"
                             f"&sig=offline-signature-of-{workflow}",
                    "basePath": base, "method": "POST"}
        raise NotImplementedError(f"synth has no offline answer for invoke {args.token}; add one in {__name__}")


def _parent_name(parent_urn: str) -> str | None:
    """The logical name in a parent URN (`urn:pulumi:stack::project::type$type::name`); None for the stack."""
    if not parent_urn:
        return None
    parts = parent_urn.split("::")
    return None if parts[2].split("$")[-1] == "pulumi:pulumi:Stack" else parts[-1]


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, also remembering each registration's parent and (secret-aware) inputs."""

    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.records: list[SynthResource] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.records.append(SynthResource(
                urn=response.urn, type=request.type, name=request.name, parent=_parent_name(request.parent),
                # Read straight off the wire, not through rpc.deserialize_properties, which marks a whole
                # object secret when one field is: this keeps the marker on the secret field alone.
                custom=bool(request.custom), inputs=json_format.MessageToDict(request.object),
                protect=bool(request.protect), retain_on_delete=bool(request.retainOnDelete),
                replace_on_changes=tuple(request.replaceOnChanges), dependencies=tuple(request.dependencies),
                outputs={"id": response.id, **plain(json_format.MessageToDict(response.object))},
            ))
        return response
