"""Exceptions of the orderbridge tooling; the CLI turns each into a one-line message with what to do.

OrderbridgeError            root of every error the tooling raises on purpose
├── SynthError              a stack file cannot be read for synthesis
├── PackageBuildError       the integrator zip cannot be built (missing requirements, no Linux wheels)
├── orderbridge.wdl.WdlError  the workflow engine's own tree (see orderbridge/wdl/_errors.py)
├── orderbridge.diff.DiffError  no diff could be computed (not a git checkout, an unknown ref, a tree that does not synthesize)
├── orderbridge.workflow_cost.WorkflowCostError  a workflow's happy path cannot be measured (unknown workflow, no 200)
├── orderbridge.workflow_view.WorkflowViewError  a workflow cannot be shown (no such file, an unreadable definition)
├── orderbridge.local.errors.LocalStackError  the local stack's own tree (see orderbridge/local/errors.py)
└── orderbridge.operations.OperationError  an operations command (refetch) could not finish:
    ├── ServiceBusUnavailable   the namespace or the local broker cannot be reached
    └── MessagesStayParked      some parked messages were left parked, each with its reason

Errors of the Pulumi program the tooling runs (`infra.errors.InfraError`) keep their own root: the
program is deployed without the tooling.
"""
from __future__ import annotations


class OrderbridgeError(Exception):
    """Root of every error the tooling raises on purpose."""


class SynthError(OrderbridgeError):
    """A stack file cannot be read for synthesis."""


class PackageBuildError(OrderbridgeError):
    """The integrator package cannot be built."""
