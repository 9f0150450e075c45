"""Built-in Azure roles orderbridge assigns, and one way to assign them.

Every assignment is a data-plane role on the narrowest scope the platform allows (a queue, a topic,
a container, the vault). Role definition ids are the fixed built-in ids listed at
https://learn.microsoft.com/azure/role-based-access-control/built-in-roles.
"""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization


@dataclass(frozen=True)
class Role:
    """A built-in role: display name and its (tenant-independent) definition id."""

    name: str
    id: str


SERVICE_BUS_DATA_SENDER = Role("Azure Service Bus Data Sender", "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39")
SERVICE_BUS_DATA_RECEIVER = Role("Azure Service Bus Data Receiver", "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0")
STORAGE_BLOB_DATA_CONTRIBUTOR = Role("Storage Blob Data Contributor", "ba92f5b4-2d11-453d-a403-e96b0029c9fe")
STORAGE_BLOB_DATA_READER = Role("Storage Blob Data Reader", "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1")
STORAGE_BLOB_DATA_OWNER = Role("Storage Blob Data Owner", "b7e6dc6d-f1e8-4753-8033-0f276bb0955b")
KEY_VAULT_SECRETS_USER = Role("Key Vault Secrets User", "4633458b-17de-408a-b874-0445c86b69e6")
EVENTGRID_DATA_SENDER = Role("EventGrid Data Sender", "d5a91429-5739-47e2-a06b-3470a27159e7")

DATA_PLANE_ROLES = (
    SERVICE_BUS_DATA_SENDER,
    SERVICE_BUS_DATA_RECEIVER,
    STORAGE_BLOB_DATA_CONTRIBUTOR,
    STORAGE_BLOB_DATA_READER,
    STORAGE_BLOB_DATA_OWNER,
    KEY_VAULT_SECRETS_USER,
    EVENTGRID_DATA_SENDER,
)


@dataclass(frozen=True)
class Grantee:
    """Who receives a role: an object id and its principal type.

    Managed identities are `ServicePrincipal`; operators may be users, groups or pipelines, so their
    type is left to Azure (None).
    """

    principal_id: pulumi.Input[str]
    principal_type: str | None = "ServicePrincipal"


def _definition_id(subscription_id: pulumi.Input[str], role: Role) -> pulumi.Output[str]:
    return pulumi.Output.concat(
        "/subscriptions/", subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", role.id
    )


def grant(
    name: str,
    role: Role,
    grantee: Grantee,
    scope: pulumi.Input[str],
    subscription_id: pulumi.Input[str],
    parent: pulumi.Resource,
) -> authorization.RoleAssignment:
    """Assign `role` to `grantee` on `scope`; the role's display name goes into the description."""
    return authorization.RoleAssignment(
        name,
        principal_id=grantee.principal_id,
        # A fresh managed identity needs its type stated or the assignment can fail replication checks
        # (https://learn.microsoft.com/azure/role-based-access-control/role-assignments-template#new-service-principal).
        principal_type=grantee.principal_type,
        role_definition_id=_definition_id(subscription_id, role),
        scope=scope,
        description=role.name,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def grant_operators(
    name: str,
    roles: tuple[Role, ...],
    operator_ids: tuple[str, ...],
    scope: pulumi.Input[str],
    subscription_id: pulumi.Input[str],
    parent: pulumi.Resource,
) -> None:
    """Give every operator in `operator_ids` each of `roles` on `scope` (dead-letter inspection and replay)."""
    for operator in operator_ids:
        for role in roles:
            # Named by operator id, not position, so removing one operator leaves the others untouched.
            slug = role.name.lower().replace(" ", "-")
            grant(f"{name}-{slug}-{operator}", role, Grantee(operator, None), scope, subscription_id, parent)
