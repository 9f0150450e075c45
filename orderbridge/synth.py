"""`orderbridge synth`: run the Pulumi program offline under mocks and show the desired state.

The program runs exactly as `pulumi up` would run it, except that resource registrations go to
Pulumi's unit-test mock monitor (`pulumi.runtime.set_mocks`) instead of an engine: nothing reaches
Azure and no credentials are needed. `secure:` values in `Pulumi.<stack>.yaml` cannot be decrypted
offline, so they are replaced by placeholders that the program still receives as Pulumi secrets.
"""
from __future__ import annotations

import contextvars
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.config import PROJECT, load_config
from infra.messaging import IMMUTABLE_QUEUE_PROPERTIES
from infra.program import build
from orderbridge.packaging import REPO_ROOT, package_reference

REDACTED = "[secret]"
SNAPSHOT_DIR = REPO_ROOT / "tests" / "snapshots"
MOCK_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
MOCK_TENANT = "00000000-0000-0000-0000-00000000000a"
# What Azure reports as a queue's creation time, fixed so snapshots do not change with the clock.
MOCK_CREATED_AT = "2026-01-01T00:00:00Z"
# Markers Pulumi puts on special values on the wire (secrets, assets).
_SIG_KEY = rpc._special_sig_key
_SECRET_SIG = rpc._special_secret_sig
_ASSET_SIG = rpc._special_asset_sig
_QUEUE_TYPE = "azure-native:servicebus:Queue"


class SynthError(RuntimeError):
    """A stack file cannot be read for synthesis."""


@dataclass(frozen=True)
class SynthResource:
    """One registered resource: what `pulumi up` would be asked to create."""

    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    protect: bool = False
    retain_on_delete: bool = False
    replace_on_changes: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()  # URNs this resource waits for (inputs and `depends_on`)
    outputs: dict[str, Any] = field(default_factory=dict)  # the mock's answer (ids, principal ids)

    def public_inputs(self) -> dict[str, Any]:
        """Inputs with every secret value replaced by `REDACTED`."""
        return _redact(self.inputs)

    def revealed_inputs(self) -> dict[str, Any]:
        """Inputs with secrets unwrapped, for offline wiring checks; never print these."""
        return _redact(_plain(self.inputs))

    def secret_paths(self) -> list[str]:
        """Dotted paths of the inputs Pulumi treats as secret."""
        return _secret_paths(self.inputs, "")


@dataclass
class Synthesis:
    """The desired state of one stack."""

    stack: str
    resources: list[SynthResource]
    outputs: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def of_type(self, type_: str) -> list[SynthResource]:
        """Resources whose type token ends with `type_` (e.g. `servicebus:Queue`)."""
        return [r for r in self.resources if r.type.endswith(type_)]

    def named(self, name: str) -> SynthResource:
        """The single resource with logical name `name`."""
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources are named '{name}' in stack {self.stack}")
        return found[0]

    def as_json(self) -> list[dict[str, Any]]:
        """The `--json` form: type, name, parent and redacted inputs of every resource."""
        return [
            {"type": r.type, "name": r.name, "parent": r.parent, "inputs": r.public_inputs()}
            for r in self.resources
        ]


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return REDACTED
        if value.get(_SIG_KEY) == _ASSET_SIG:
            return {"asset": value.get("path") or value.get("uri") or "<text>"}
        return {k: _redact(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf carries every number as a float
    return value


def _secret_paths(value: Any, path: str) -> list[str]:
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return [path or "."]
        return [p for k, v in value.items() for p in _secret_paths(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _secret_paths(v, f"{path}[{i}]")]
    return []


def _plain(value: Any) -> Any:
    """`value` with secret wrappers removed (for computing mock state such as ids)."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return _plain(value["value"])
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# ---- stack files -----------------------------------------------------------------------------

def read_stack_file(stack: str, repo_root: Path = REPO_ROOT) -> tuple[dict[str, str], set[str]]:
    """Config strings and secret keys of `Pulumi.<stack>.yaml`, as the Pulumi CLI would hand them over."""
    path = repo_root / f"Pulumi.{stack}.yaml"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        stacks = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in repo_root.glob("Pulumi.*.yaml"))
        raise SynthError(f"no stack file {path}; known stacks: {', '.join(stacks) or 'none'}") from exc
    except yaml.YAMLError as exc:
        raise SynthError(f"{path} is not valid YAML: {exc}") from exc
    values: dict[str, str] = {}
    secret_keys: set[str] = set()
    for key, value in (document.get("config") or {}).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            # Cannot be decrypted offline: a placeholder that is still a secret for the program.
            values[key] = f"offline-placeholder-for-{key}"
            secret_keys.add(key)
        elif isinstance(value, str):
            values[key] = value
        else:
            # The CLI passes structured values and scalars as JSON text (true, 5, [...], {...}).
            values[key] = json.dumps(value)
    return values, secret_keys


# ---- mocks -----------------------------------------------------------------------------------

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
        inputs = _plain(args.inputs)
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
        if args.typ == _QUEUE_TYPE:
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


class _RecordingMonitor(pulumi_mocks.MockMonitor):
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
                outputs={"id": response.id, **_plain(json_format.MessageToDict(response.object))},
            ))
        return response


# ---- running the program --------------------------------------------------------------------

Program = Callable[[], Mapping[str, Any]]


def _run(stack: str, values: Mapping[str, str], secret_keys: set[str], program: Program) -> Synthesis:
    monitor = _RecordingMonitor(OfflineMocks())
    pulumi.runtime.set_mocks(OfflineMocks(), project=PROJECT, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(dict(values), sorted(secret_keys))
    outputs: dict[str, Any] = {}

    def run_program() -> None:
        pulumi.Output.from_input(program()).apply(outputs.update)

    _sync_await(run_pulumi_func(run_program))
    resources = sorted(monitor.records, key=lambda r: (r.type, r.name))
    return Synthesis(stack, resources, outputs)


def run_offline(stack: str, program: Program, *, values: Mapping[str, str], secret_keys: set[str]) -> Synthesis:
    """Run `program` (which returns the stack outputs) under the offline mocks with the given config."""
    started = time.perf_counter()
    # A fresh context per run: Pulumi keeps its settings, root stack and config in context variables.
    synthesis = contextvars.Context().run(_run, stack, values, secret_keys, program)
    synthesis.seconds = time.perf_counter() - started
    return synthesis


def synthesize(
    stack: str,
    *,
    values: Mapping[str, str] | None = None,
    secret_keys: set[str] | None = None,
    repo_root: Path = REPO_ROOT,
) -> Synthesis:
    """The desired state of `stack`, from its stack file or from the given config `values`.

    Raises `infra.config.ConfigError` (every bad key) before any resource is registered.
    """
    if values is None:
        values, secret_keys = read_stack_file(stack, repo_root)
    return run_offline(
        stack,
        lambda: build(load_config(), package_reference(repo_root, require_built=False)),
        values=values,
        secret_keys=secret_keys or set(),
    )


# ---- presentation ----------------------------------------------------------------------------

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


def load_snapshot(stack: str, directory: Path = SNAPSHOT_DIR) -> list[dict[str, Any]] | None:
    """The committed `--json` snapshot of `stack`, or None when there is none."""
    path = directory / f"{stack}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def queue_replacements(current: list[dict[str, Any]], baseline: list[dict[str, Any]]) -> list[str]:
    """Warnings for queues that `pulumi up` would replace or delete compared with `baseline` (either
    loses the queue's messages): create-only settings changed, renamed, or gone from the program."""
    def queues(state: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {r["name"]: r["inputs"] for r in state if r["type"] == _QUEUE_TYPE}

    before, now = queues(baseline), queues(current)
    warnings = [
        f"queue {inputs.get('queueName', name)} ({name}) is no longer in the program: `pulumi up` will DELETE"
        " it and every message in it (a changed logical name counts as delete + create). Drain it first, or"
        " keep the resource and add an alias if only its logical name changed; prod queues are protected"
        " and the update will stop until you remove the protection deliberately."
        for name, inputs in before.items()
        if name not in now
    ]
    for name, inputs in now.items():
        old = before.get(name)
        if old is None:
            continue
        for prop in IMMUTABLE_QUEUE_PROPERTIES:
            if old.get(prop) != inputs.get(prop):
                warnings.append(
                    f"queue {inputs.get('queueName', name)} ({name}): {prop} {old.get(prop)} -> {inputs.get(prop)}"
                    " cannot change in place; `pulumi up` will REPLACE the queue and every message in it is"
                    " lost. Drain it (and its dead-letter queue) first, and stop the Function App until the"
                    " update has finished (a new queue has no duplicate history; integrator_func/README.md);"
                    " prod queues are protected and the update will stop until you remove the protection"
                    " deliberately."
                )
        if old.get("queueName") != inputs.get("queueName"):
            warnings.append(
                f"queue {name}: renamed {old.get('queueName')} -> {inputs.get('queueName')}: a new queue is"
                " created and the old one deleted with its messages. Drain it first, and stop the Function"
                " App until the update has finished."
            )
    return warnings
