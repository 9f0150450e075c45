"""How many examples a property test draws: its full count under `make test-deep`
(ORDERBRIDGE_DEEP_PROPERTIES=1), a fixed share of it in `make test`, which must stay within the
suite's time budget. Every property still runs in `make test`; only the number of draws differs."""
from __future__ import annotations

import os

EVERYDAY_SHARE = 0.15


def examples(full: int) -> int:
    """The number of examples to draw for a property whose full count is `full`."""
    if os.environ.get("ORDERBRIDGE_DEEP_PROPERTIES") == "1":
        return full
    return max(10, round(full * EVERYDAY_SHARE))
