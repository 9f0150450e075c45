"""Exceptions of the orderbridge tooling; the CLI turns each into a one-line message with what to do.

OrderbridgeError            root of every error the tooling raises on purpose
├── SynthError              a stack file cannot be read for synthesis
├── PackageBuildError       the integrator zip cannot be built (missing requirements, no Linux wheels)
├── orderbridge.wdl.WdlError  the workflow engine's own tree (see orderbridge/wdl/_errors.py)
├── orderbridge.local.errors.LocalStackError  the local stack cannot start or run as asked
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
