"""Leaf-level differences between two JSON values, with secrets kept out of them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orderbridge.synth import REDACTED


class _Absent:
    """The value on the side of a change where the property does not exist."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Any = _Absent()
SECRET = "(secret, not shown)"


@dataclass(frozen=True)
class Change:
    """One property that differs; a side that is or holds a secret is `SECRET` on both sides."""

    path: str
    before: Any
    after: Any

    @property
    def is_expression(self) -> bool:
        """Whether either side is a Workflow Definition Language expression (`@...` or `@{...}`)."""
        return any(isinstance(v, str) and (v.startswith("@") or "@{" in v) for v in (self.before, self.after))


def holds_secret(value: Any) -> bool:
    """Whether `value` is, or contains, a redacted secret."""
    if isinstance(value, dict):
        return any(holds_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(holds_secret(v) for v in value)
    return value == REDACTED


def leaf_changes(before: Any, after: Any, path: str = "") -> list[Change]:
    """Every leaf that differs, by dotted path (`a.b[2].c`); lists of another length differ as a whole."""
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        return [change for key in sorted(set(before) | set(after))
                for change in leaf_changes(before.get(key, ABSENT), after.get(key, ABSENT),
                                           f"{path}.{key}" if path else key)]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [change for index, (b, a) in enumerate(zip(before, after))
                for change in leaf_changes(b, a, f"{path}[{index}]")]
    if holds_secret(before) or holds_secret(after):
        # A secret that became plain text (or the reverse) shows neither side: the plain side may be the secret.
        return [Change(path, SECRET, SECRET)]
    return [Change(path, before, after)]
