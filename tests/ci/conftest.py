"""The GitHub workflows and the composite action they share, parsed once."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.package import REPO_ROOT

WORKFLOWS_DIR = REPO_ROOT / ".github" / "workflows"
STACK_ACTION = REPO_ROOT / ".github" / "actions" / "pulumi-stack" / "action.yml"
STACK_ACTION_REF = "./.github/actions/pulumi-stack"


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as true.
    if True in document:
        document["on"] = document.pop(True)
    return document


@dataclass(frozen=True)
class Job:
    """One job of one workflow file."""

    workflow: str
    name: str
    body: dict[str, Any]

    @property
    def steps(self) -> list[dict[str, Any]]:
        return self.body.get("steps", [])

    def stack_runs(self) -> Iterator[tuple[str, str]]:
        """(stack, command) of every use of the pulumi-stack action; a matrix stack yields each value."""
        for step in self.steps:
            if step.get("uses") == STACK_ACTION_REF:
                stack, command = step["with"]["stack"], step["with"]["command"]
                if stack == "${{ matrix.stack }}":
                    yield from ((s, command) for s in self.body["strategy"]["matrix"]["stack"])
                else:
                    yield stack, command


@pytest.fixture(scope="session")
def workflows() -> dict[str, dict[str, Any]]:
    return {path.name: load(path) for path in sorted(WORKFLOWS_DIR.glob("*.yml"))}


@pytest.fixture(scope="session")
def jobs(workflows: dict[str, dict[str, Any]]) -> list[Job]:
    return [Job(file, name, body) for file, workflow in workflows.items() for name, body in workflow["jobs"].items()]


@pytest.fixture(scope="session")
def stack_action() -> dict[str, Any]:
    return load(STACK_ACTION)
