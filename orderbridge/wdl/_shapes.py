"""Reading definitions of any shape: a misplaced list or string must become a clear problem, not a crash."""
from __future__ import annotations

from typing import Any


def as_object(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_array(value: Any) -> list[Any]:
    """`value` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []
