"""The shape of a library entry and of the environment the engine hands to clock/guid functions."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Protocol


@dataclass(frozen=True)
class FunctionSpec:
    """One expression function: the engine checks the argument count, then calls `impl`."""

    name: str
    impl: Callable[..., Any]
    min_args: int
    max_args: int | None
    needs_env: bool = False


class FunctionEnvironment(Protocol):
    """What `utcNow()`, `getFutureTime()`, `guid()`… need from the running workflow."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def new_guid(self) -> str:
        """A fresh GUID in the 'D' format (32 hex digits with hyphens)."""
        ...
