"""Errors of the local stack, under the tooling's root so the CLI prints them as one line."""
from __future__ import annotations

from orderbridge.errors import OrderbridgeError


class LocalStackError(OrderbridgeError):
    """The local stack cannot start or run as asked (a port, the state dir, a missing tool)."""
