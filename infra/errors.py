"""Exceptions of the Pulumi program, raised before any resource is created.

InfraError                  root of every error the program raises on purpose
├── StackConfigError        the stack's config is invalid (every bad key listed, with what to do)
├── WorkflowDefinitionError a file in workflows/ is missing, not JSON, or not shaped as expected
├── PackageNotBuilt         dist/integrator.zip is missing or was built from other sources
└── PulumiInternalsChanged  a Pulumi SDK upgrade changed an internal that infra.pulumi_internals uses
"""
from __future__ import annotations


class InfraError(Exception):
    """Root of every error the Pulumi program raises on purpose."""


class StackConfigError(InfraError):
    """The stack configuration is invalid; `problems` lists every bad key with what to do."""

    def __init__(self, stack: str, problems: list[str]) -> None:
        self.stack = stack
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"stack '{stack}' has {len(self.problems)} configuration problem(s) "
            f"(fix them in Pulumi.{stack}.yaml or with `pulumi config set`):\n{lines}"
        )


class WorkflowDefinitionError(InfraError):
    """A workflow file is missing, not JSON, or not shaped as orderbridge expects."""


class PackageNotBuilt(InfraError):
    """`pulumi up` needs dist/integrator.zip built from the checkout's sources: run `orderbridge package`."""


class PulumiInternalsChanged(InfraError):
    """A Pulumi SDK upgrade removed or changed an internal that `infra.pulumi_internals` relies on."""
