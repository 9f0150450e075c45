"""The desired state as a table a reviewer reads: type, logical name, the settings that matter."""
from __future__ import annotations

import json
from typing import Any

from orderbridge.synth._state import Synthesis

_KEY_SETTINGS: dict[str, tuple[str, ...]] = {
    "resources:ResourceGroup": ("resourceGroupName", "location"),
    "operationalinsights:Workspace": ("workspaceName", "retentionInDays"),
    "applicationinsights:Component": ("resourceName", "ingestionMode"),
    "monitor:ActionGroup": ("actionGroupName", "emailReceivers[0].emailAddress"),
    "monitor:MetricAlert": ("criteria.allOf[0].metricName", "criteria.allOf[0].dimensions[0].values[0]",
                            "criteria.allOf[0].operator", "criteria.allOf[0].threshold", "windowSize"),
    "monitor:DiagnosticSetting": ("resourceUri",),
    "storage:StorageAccount": ("accountName", "allowBlobPublicAccess", "allowSharedKeyAccess", "minimumTlsVersion"),
    "storage:BlobContainer": ("containerName", "publicAccess"),
    "managedidentity:UserAssignedIdentity": ("resourceName",),
    "servicebus:Namespace": ("namespaceName", "sku.name", "disableLocalAuth", "minimumTlsVersion"),
    "servicebus:Queue": ("queueName", "requiresSession", "requiresDuplicateDetection",
                         "duplicateDetectionHistoryTimeWindow", "maxDeliveryCount", "lockDuration",
                         "defaultMessageTimeToLive"),
    "eventgrid:Topic": ("topicName", "inputSchema", "disableLocalAuth", "minimumTlsVersionAllowed"),
    "eventgrid:EventSubscription": ("eventSubscriptionName", "filter.includedEventTypes",
                                    "destination.maxEventsPerBatch", "retryPolicy.maxDeliveryAttempts",
                                    "deadLetterWithResourceIdentity.deadLetterDestination.blobContainerName"),
    "logic:Workflow": ("workflowName", "definition.triggers", "state"),
    "keyvault:Vault": ("vaultName", "properties.enableRbacAuthorization", "properties.enablePurgeProtection"),
    "keyvault:Secret": ("secretName", "properties.value"),
    "web:AppServicePlan": ("name", "sku.name", "sku.tier"),
    "web:WebApp": ("name", "functionAppConfig.runtime.name", "functionAppConfig.runtime.version",
                   "identity.type", "tags.sourceHash"),
    "authorization:RoleAssignment": ("description", "scope"),
}


def _lookup(value: Any, path: str) -> Any:
    for part in path.replace("[", ".[").split("."):
        if part.startswith("["):
            index = int(part[1:-1])
            value = value[index] if isinstance(value, list) and len(value) > index else None
        else:
            value = value.get(part) if isinstance(value, dict) else None
    return value


def _describe(key: str, value: Any) -> str:
    if key == "definition.triggers" and isinstance(value, dict):
        runs = [t.get("runtimeConfiguration", {}).get("concurrency", {}) for t in value.values()]
        return f"trigger={','.join(value)} concurrency={runs[0].get('runs')}/{runs[0].get('maximumWaitingRuns')}"
    if key in ("scope", "resourceUri") and isinstance(value, str):
        parts = value.split("/")
        return f"{key}=…/{'/'.join(parts[-2:])}"
    parts = key.replace("[", ".[").split(".")
    label = ".".join(parts[-2:]) if parts[-1] in ("name", "value") and len(parts) > 1 else parts[-1]
    return f"{label}={json.dumps(value) if not isinstance(value, str) else value}"


def render_table(synthesis: Synthesis) -> str:
    """A readable table: type, logical name, the settings a reviewer looks at first."""
    rows = [("TYPE", "NAME", "KEY SETTINGS")]
    for resource in synthesis.resources:
        short = resource.type.removeprefix("azure-native:")
        inputs = resource.public_inputs()
        settings = [
            _describe(key, _lookup(inputs, key))
            for key in _KEY_SETTINGS.get(short, ())
            if _lookup(inputs, key) is not None
        ]
        rows.append((short, resource.name, "  ".join(settings)))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}".rstrip() for row in rows]
    custom = [r for r in synthesis.resources if r.custom]
    lines.append("")
    lines.append(
        f"stack {synthesis.stack}: {len(custom)} Azure resources in {len(synthesis.resources) - len(custom)}"
        f" components, synthesized offline in {synthesis.seconds:.2f}s"
    )
    return "\n".join(lines)
