"""Azure names derived from the stack, in one place, so no name is written twice.

Names fixed by the contracts between the engineers (topics, queues, workflows) live in
`topology.pipelines`; this module derives the per-stack names of shared resources.
"""
from __future__ import annotations

from dataclasses import dataclass

from infra.config import PROJECT


@dataclass(frozen=True)
class Names:
    """Physical names for one stack; `suffix` keeps globally unique names unique across tenants.

    `infra.config.MAX_STACK_AND_SUFFIX` limits stack name + suffix so that the longest
    names (storage accounts and the vault, 24 characters at most) never need truncating.
    """

    stack: str
    suffix: str = ""

    def _dashed(self, kind: str) -> str:
        return f"{kind}-{PROJECT}-{self.stack}{self.suffix}"

    def _compact(self, kind: str) -> str:
        # Storage account names: 3-24 lowercase letters and digits, globally unique
        # (https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftstorage).
        return f"st{PROJECT}{self.stack}{kind}{self.suffix}"

    @property
    def resource_group(self) -> str:
        return self._dashed("rg")

    @property
    def log_workspace(self) -> str:
        return self._dashed("log")

    @property
    def app_insights(self) -> str:
        return self._dashed("appi")

    @property
    def action_group(self) -> str:
        return self._dashed("ag")

    @property
    def action_group_short(self) -> str:
        # Action group short names are at most 12 characters.
        return f"ob-{self.stack}"[:12]

    @property
    def service_bus(self) -> str:
        return self._dashed("sb")

    @property
    def key_vault(self) -> str:
        # Key Vault names are 3-24 characters.
        return self._dashed("kv")

    @property
    def dead_letter_storage(self) -> str:
        return self._compact("dl")

    @property
    def function_storage(self) -> str:
        return self._compact("fn")

    @property
    def function_plan(self) -> str:
        return self._dashed("plan")

    @property
    def function_app(self) -> str:
        return self._dashed("func")

    @property
    def function_identity(self) -> str:
        return self._dashed("id")
