"""A locked-down storage account with private blob containers (used for Event Grid dead letters and
for the Function App's host storage and deployment package)."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import storage

from infra.context import Deployment


@dataclass(frozen=True)
class StorageArgs:
    deployment: Deployment
    account_name: str
    containers: tuple[str, ...]


class HardenedStorage(pulumi.ComponentResource):
    """StorageV2 account: no public blobs, no shared keys (Entra only), HTTPS and TLS 1.2 only."""

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orderbridge:storage:HardenedStorage", name, None, opts)
        deployment = args.deployment
        self.account_name = args.account_name
        self.account = storage.StorageAccount(
            f"{name}-account",
            account_name=args.account_name,
            resource_group_name=deployment.resource_group_name,
            location=deployment.location,
            kind="StorageV2",
            sku=storage.SkuArgs(name="Standard_LRS"),
            allow_blob_public_access=False,
            # Every reader and writer here uses a managed identity (Event Grid dead-lettering, the
            # Functions host, the deployment), so account keys and SAS are switched off.
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            enable_https_traffic_only=True,
            minimum_tls_version="TLS1_2",
            tags=dict(deployment.tags),
            opts=deployment.data_options(self),
        )
        self.containers = {
            container: storage.BlobContainer(
                f"{name}-{container}",
                container_name=container,
                account_name=self.account.name,
                resource_group_name=deployment.resource_group_name,
                public_access="None",
                opts=deployment.data_options(self),
            )
            for container in args.containers
        }
        self.register_outputs({"account_id": self.account.id})

    @property
    def blob_endpoint(self) -> str:
        """The account's blob endpoint, known from its name (public Azure cloud)."""
        return f"https://{self.account_name}.blob.core.windows.net"
