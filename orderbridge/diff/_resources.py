"""Resources added, changed and removed; the replacements that lose data; access; app settings."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from infra.roles import DATA_PLANE_ROLES
from orderbridge.diff._changes import ABSENT, SECRET, Change, holds_secret, leaf_changes
from orderbridge.diff._states import State
from orderbridge.synth import queue_replacements

QUEUE = "azure-native:servicebus:Queue"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
WEB_APP = "azure-native:web:WebApp"
WORKFLOW = "azure-native:logic:Workflow"
APP_SETTINGS_PATH = "siteConfig.appSettings"
# Compared by their own sections, not property by property.
SECTION_PATHS = {WEB_APP: APP_SETTINGS_PATH, WORKFLOW: "definition"}



@dataclass(frozen=True)
class _DataHolder:
    """A kind of resource whose replacement or removal loses what it holds."""

    kind: str
    name_input: str
    holds: str
    replaced_by: tuple[str, ...]  # inputs whose change replaces the resource


# Every property in a resource's URL path replaces it (pulumi-azure-native#77), and Azure cannot move
# a resource to another location in place (pulumi-azure-native#3053). Queues also have create-only
# settings, which `orderbridge.synth.queue_replacements` knows.
DATA_HOLDERS: dict[str, _DataHolder] = {
    QUEUE: _DataHolder("queue", "queueName", "its messages and its dead-letter queue",
                       ("resourceGroupName", "namespaceName")),
    "azure-native:servicebus:Namespace": _DataHolder(
        "namespace", "namespaceName", "every queue in it with their messages",
        ("resourceGroupName", "namespaceName", "location")),
    "azure-native:eventgrid:Topic": _DataHolder(
        "topic", "topicName", "the events Event Grid is still retrying; publishers need the new endpoint and their"
        " roles again", ("resourceGroupName", "topicName", "location")),
    "azure-native:keyvault:Vault": _DataHolder(
        "vault", "vaultName", "the API keys in it; a deleted vault stays soft-deleted and keeps its name taken",
        ("resourceGroupName", "vaultName", "location")),
}
# App settings whose values are not shown even when they are not Pulumi secrets.
_SECRET_SETTING = re.compile(r"KEY|SECRET|PASSWORD|TOKEN|CONNECTION_?STRING|SAS", re.IGNORECASE)
_KEY_VAULT_REFERENCE = "@Microsoft.KeyVault("
_ROLE_NAMES = {role.id: role.name for role in DATA_PLANE_ROLES}


@dataclass(frozen=True)
class ResourceChange:
    """A resource `pulumi up` would create, update or delete."""

    kind: str  # "added" | "changed" | "removed"
    type: str
    name: str
    changes: tuple[Change, ...] = ()
    sections: tuple[str, ...] = ()  # other sections that describe the change (app settings, workflow)

    @property
    def short_type(self) -> str:
        return self.type.removeprefix("azure-native:")


@dataclass(frozen=True)
class DataLoss:
    """A replacement or removal that loses what the resource holds."""

    type: str
    name: str
    reason: str


@dataclass(frozen=True)
class AccessChange:
    """A principal gaining or losing a role on a resource."""

    gained: bool
    principal_id: str
    principal_type: str
    role: str
    resource: str
    assignment: str  # the role assignment's logical name, which often says who it is for


@dataclass(frozen=True)
class SettingChange:
    """An app setting of a Function App added, removed or changed; `hidden` values are never shown."""

    app: str
    name: str
    before: str | None
    after: str | None
    hidden: bool


def _by_key(state: State) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["type"], r["name"]): r for r in state}


def _lookup(inputs: dict[str, Any], path: str) -> Any:
    value: Any = inputs
    for part in path.split("."):
        value = value.get(part, ABSENT) if isinstance(value, dict) else ABSENT
    return value


def _without(inputs: dict[str, Any], path: str) -> dict[str, Any]:
    head, _, rest = path.partition(".")
    if head not in inputs:
        return inputs
    if not rest:
        return {k: v for k, v in inputs.items() if k != head}
    inner = inputs[head]
    return {**inputs, head: _without(inner, rest) if isinstance(inner, dict) else inner}


def resource_changes(before: State, after: State) -> list[ResourceChange]:
    """Added, removed and changed resources, in type then name order."""
    old, new = _by_key(before), _by_key(after)
    found = [ResourceChange("added", *key) for key in new.keys() - old.keys()]
    found += [ResourceChange("removed", *key) for key in old.keys() - new.keys()]
    for key in old.keys() & new.keys():
        old_inputs, new_inputs = old[key]["inputs"], new[key]["inputs"]
        if old_inputs == new_inputs:
            continue
        section = SECTION_PATHS.get(key[0])
        sections: tuple[str, ...] = ()
        if section is not None:
            if _lookup(old_inputs, section) != _lookup(new_inputs, section):
                sections = (section,)
            old_inputs, new_inputs = _without(old_inputs, section), _without(new_inputs, section)
        found.append(ResourceChange("changed", *key, tuple(leaf_changes(old_inputs, new_inputs)), sections))
    return sorted(found, key=lambda c: (c.type, c.name, c.kind))


def data_losses(before: State, after: State) -> list[DataLoss]:
    """Replacements and removals of queues, the namespace, topics and the vault."""
    old, new = _by_key(before), _by_key(after)
    losses: list[DataLoss] = []
    for (type_, name), resource in sorted(old.items()):
        holder = DATA_HOLDERS.get(type_)
        if holder is None:
            continue
        current = new.get((type_, name))
        label = f"{holder.kind} {resource['inputs'].get(holder.name_input, name)} ({name})"
        if type_ == QUEUE:
            warnings = queue_replacements([current] if current else [], [resource])
            losses += [DataLoss(type_, name, warning) for warning in warnings]
        elif current is None:
            losses.append(DataLoss(type_, name, f"{label} is no longer in the program: `pulumi up` DELETES it and"
                                                f" {holder.holds}"))
        if current is not None:
            losses += [
                DataLoss(type_, name, f"{label}: {prop} {resource['inputs'].get(prop)} ->"
                                      f" {current['inputs'].get(prop)} cannot change in place; `pulumi up` REPLACES"
                                      f" it and loses {holder.holds}")
                for prop in holder.replaced_by
                if resource["inputs"].get(prop) != current["inputs"].get(prop)
            ]
    return losses


def _grants(state: State) -> dict[tuple[str, str, str], dict[str, Any]]:
    grants = {}
    for resource in state:
        if resource["type"] == ROLE_ASSIGNMENT:
            inputs = resource["inputs"]
            key = (str(inputs.get("principalId")), str(inputs.get("roleDefinitionId")), str(inputs.get("scope")))
            grants[key] = resource
    return grants


def _scope_label(scope: str) -> str:
    """`queue online-orders` for `.../namespaces/sb/queues/online-orders`; the scope itself otherwise."""
    parts = scope.rstrip("/").split("/")
    if len(parts) >= 2 and "providers" in parts:
        return f"{parts[-2].removesuffix('s')} {parts[-1]}"
    return scope


def _role_label(role_definition_id: str, description: Any) -> str:
    guid = role_definition_id.rsplit("/", 1)[-1]
    return _ROLE_NAMES.get(guid) or (str(description) if description else guid)


def access_changes(before: State, after: State) -> list[AccessChange]:
    """Who gains or loses which role on which resource (a re-named assignment with the same grant is neither)."""
    old, new = _grants(before), _grants(after)
    changes = []
    for gained, keys, source in ((True, new.keys() - old.keys(), new), (False, old.keys() - new.keys(), old)):
        for principal, role_id, scope in keys:
            resource = source[(principal, role_id, scope)]
            changes.append(AccessChange(
                gained, principal, str(resource["inputs"].get("principalType") or "any type"),
                _role_label(role_id, resource["inputs"].get("description")), _scope_label(scope), resource["name"],
            ))
    return sorted(changes, key=lambda c: (c.resource, c.role, c.principal_id, c.gained))


def _settings(resource: dict[str, Any] | None) -> dict[str, Any]:
    if resource is None:
        return {}
    listed = _lookup(resource["inputs"], APP_SETTINGS_PATH)
    return {s.get("name"): s.get("value") for s in listed if isinstance(s, dict)} if isinstance(listed, list) else {}


def _is_hidden(name: str, value: Any) -> bool:
    if holds_secret(value):
        return True
    if isinstance(value, str) and value.startswith(_KEY_VAULT_REFERENCE):
        return False  # a reference names the secret's place in the vault, not the secret
    return value is not None and bool(_SECRET_SETTING.search(name))


def _shown(value: Any, hidden: bool) -> str | None:
    return None if value is None else SECRET if hidden else str(value)


def setting_changes(before: State, after: State) -> list[SettingChange]:
    """App settings of each Function App, compared by name; secret values are replaced before they leave here."""
    old, new = _by_key(before), _by_key(after)
    changes = []
    for key in sorted(k for k in old.keys() | new.keys() if k[0] == WEB_APP):
        was, now = _settings(old.get(key)), _settings(new.get(key))
        for name in sorted(was.keys() | now.keys(), key=str):
            if was.get(name) == now.get(name):
                continue
            hidden = _is_hidden(str(name), was.get(name)) or _is_hidden(str(name), now.get(name))
            changes.append(SettingChange(key[1], str(name), _shown(was.get(name), hidden),
                                         _shown(now.get(name), hidden), hidden))
    return changes
