"""Key Vault in RBAC mode holding the ECP and ERP API keys, referenced from Function App settings."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import keyvault

from infra.config import SecretText
from infra.context import Deployment


@dataclass(frozen=True)
class VaultArgs:
    deployment: Deployment
    vault_name: str
    secrets: Mapping[str, SecretText]


class SecretsVault(pulumi.ComponentResource):
    """The vault and its secrets; values come from Pulumi secrets and stay secret in state."""

    def __init__(self, name: str, args: VaultArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orderbridge:secrets:SecretsVault", name, None, opts)
        deployment = args.deployment
        self.vault_name = args.vault_name
        self.vault = keyvault.Vault(
            f"{name}-vault",
            vault_name=args.vault_name,
            resource_group_name=deployment.resource_group_name,
            location=deployment.location,
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=deployment.tenant_id,
                sku=keyvault.SkuArgs(family="A", name="standard"),
                enable_rbac_authorization=True,
                enable_soft_delete=True,
                soft_delete_retention_in_days=90 if deployment.protect_data else 7,
                # Purge protection cannot be switched off again and Azure rejects an explicit `false`,
                # so it is left unset outside prod
                # (https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview#purge-protection).
                enable_purge_protection=True if deployment.protect_data else None,
            ),
            tags=dict(deployment.tags),
            opts=deployment.data_options(self),
        )
        self.secrets = {
            secret_name: keyvault.Secret(
                f"{name}-{secret_name}",
                secret_name=secret_name,
                vault_name=self.vault.name,
                resource_group_name=deployment.resource_group_name,
                properties=keyvault.SecretPropertiesArgs(
                    value=pulumi.Output.secret(value.reveal()), content_type="text/plain"
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for secret_name, value in args.secrets.items()
        }
        self.register_outputs({"vault_id": self.vault.id})

    def reference(self, secret_name: str) -> str:
        """An app-setting Key Vault reference to the latest version of `secret_name`
        (https://learn.microsoft.com/azure/app-service/app-service-key-vault-references#source-app-settings-from-key-vault)."""
        if secret_name not in self.secrets:
            raise KeyError(f"vault {self.vault_name} holds no secret '{secret_name}'; it has {sorted(self.secrets)}")
        return f"@Microsoft.KeyVault(VaultName={self.vault_name};SecretName={secret_name})"
