"""Comparing the desired state with a committed snapshot: the queue changes that lose messages."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infra.messaging import IMMUTABLE_QUEUE_PROPERTIES
from infra.package import REPO_ROOT
from orderbridge.synth._mocks import QUEUE_TYPE

SNAPSHOT_DIR = REPO_ROOT / "tests" / "snapshots"


def load_snapshot(stack: str, directory: Path = SNAPSHOT_DIR) -> list[dict[str, Any]] | None:
    """The committed `--json` snapshot of `stack`, or None when there is none."""
    path = directory / f"{stack}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def queue_replacements(current: list[dict[str, Any]], baseline: list[dict[str, Any]]) -> list[str]:
    """Warnings for queues that `pulumi up` would replace or delete compared with `baseline` (either
    loses the queue's messages): create-only settings changed, renamed, or gone from the program."""
    def queues(state: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {r["name"]: r["inputs"] for r in state if r["type"] == QUEUE_TYPE}

    before, now = queues(baseline), queues(current)
    warnings = [
        f"queue {inputs.get('queueName', name)} ({name}) is no longer in the program: `pulumi up` will DELETE"
        " it and every message in it (a changed logical name counts as delete + create). Drain it first, or"
        " keep the resource and add an alias if only its logical name changed; prod queues are protected"
        " and the update will stop until you remove the protection deliberately."
        for name, inputs in before.items()
        if name not in now
    ]
    for name, inputs in now.items():
        old = before.get(name)
        if old is None:
            continue
        for prop in IMMUTABLE_QUEUE_PROPERTIES:
            if old.get(prop) != inputs.get(prop):
                warnings.append(
                    f"queue {inputs.get('queueName', name)} ({name}): {prop} {old.get(prop)} -> {inputs.get(prop)}"
                    " cannot change in place; `pulumi up` will REPLACE the queue and every message in it is"
                    " lost. Drain it (and its dead-letter queue) first, and stop the Function App until the"
                    " update has finished (a new queue has no duplicate history; integrator_func/README.md);"
                    " prod queues are protected and the update will stop until you remove the protection"
                    " deliberately."
                )
        if old.get("queueName") != inputs.get("queueName"):
            warnings.append(
                f"queue {name}: renamed {old.get('queueName')} -> {inputs.get('queueName')}: a new queue is"
                " created and the old one deleted with its messages. Drain it first, and stop the Function"
                " App until the update has finished."
            )
    return warnings
