"""The error `orderbridge diff` raises when it cannot compute a diff (the CLI exits 1 with it)."""
from __future__ import annotations

from orderbridge.errors import OrderbridgeError


class DiffError(OrderbridgeError):
    """No diff could be computed: not a git checkout, an unknown ref, a tree that does not synthesize."""
