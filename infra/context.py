"""What every component needs to know about the deployment it belongs to."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class Deployment:
    """Resource group, region, tags and the protection policy of one stack."""

    resource_group_name: pulumi.Input[str]
    location: str
    tags: Mapping[str, str]
    subscription_id: pulumi.Input[str]
    tenant_id: pulumi.Input[str]
    protect_data: bool

    def data_options(self, parent: pulumi.Resource, **extra: object) -> pulumi.ResourceOptions:
        """Options for resources that hold data (queues, vault, storage): protected in prod.

        `protect` stops `pulumi destroy`/replacement; `retain_on_delete` keeps the Azure resource even
        if someone removes the protection and the code (https://www.pulumi.com/docs/iac/concepts/options/).
        """
        return pulumi.ResourceOptions(
            parent=parent,
            protect=self.protect_data,
            retain_on_delete=self.protect_data,
            **extra,  # type: ignore[arg-type]
        )
