"""What `orderbridge diff` computes: per stack, the desired state of the working tree against a base."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from orderbridge.diff._errors import DiffError
from orderbridge.diff._git import exported_tree, repository_root, resolve_base, stacks_of
from orderbridge.diff._resources import (
    AccessChange,
    DataLoss,
    ResourceChange,
    SettingChange,
    access_changes,
    data_losses,
    resource_changes,
    setting_changes,
)
from orderbridge.diff._states import State, baseline_state, tree_state
from orderbridge.diff._workflows import WorkflowChange, workflow_changes

WORKING_TREE = "working tree"


@dataclass(frozen=True)
class StackDiff:
    """Everything that differs in one stack."""

    stack: str
    note: str  # why one side is empty (a stack that is new or gone), else ""
    resources: tuple[ResourceChange, ...]
    data_loss: tuple[DataLoss, ...]
    access: tuple[AccessChange, ...]
    settings: tuple[SettingChange, ...]
    workflows: tuple[WorkflowChange, ...]

    def count(self, kind: str) -> int:
        return sum(1 for r in self.resources if r.kind == kind)


@dataclass(frozen=True)
class DiffReport:
    """The diff of every compared stack, with what was compared."""

    base: str
    head: str
    stacks: tuple[StackDiff, ...]

    @property
    def loses_data(self) -> bool:
        return any(stack.data_loss for stack in self.stacks)


def compare_states(stack: str, before: State | None, after: State | None) -> StackDiff:
    """The diff of two desired states of `stack`; None is a side without the stack."""
    note = "new stack: the base has no stack file" if before is None else (
        "stack removed: the working tree has no stack file" if after is None else "")
    old, new = before or [], after or []
    return StackDiff(stack, note, tuple(resource_changes(old, new)), tuple(data_losses(old, new)),
                     tuple(access_changes(old, new)), tuple(setting_changes(old, new)),
                     tuple(workflow_changes(old, new)))


def _working_root(start: Path) -> Path:
    try:
        return repository_root(start)
    except DiffError:
        if (start / "Pulumi.yaml").is_file():
            return start.resolve()
        raise


def diff_against_baseline(start: Path, baseline: Path, stack: str) -> DiffReport:
    """The working tree's `stack` against a snapshot file."""
    root = _working_root(start)
    before = baseline_state(baseline)
    after = tree_state(root, stack, WORKING_TREE)
    if after is None:
        raise DiffError(f"the working tree {root} has no Pulumi.{stack}.yaml to compare with {baseline}")
    return DiffReport(f"snapshot {baseline}", WORKING_TREE, (compare_states(stack, before, after),))


def diff_against_commit(start: Path, base_ref: str | None, stacks: Sequence[str] = ()) -> DiffReport:
    """The working tree against a commit (default: the merge base with main), for `stacks` or every stack."""
    root = repository_root(start)
    commit = resolve_base(root, base_ref)
    with exported_tree(root, commit) as base_tree:
        known = stacks_of(root) | stacks_of(base_tree)
        names = list(stacks) or sorted(known)
        unknown = [s for s in names if s not in known]
        if unknown or not names:
            raise DiffError(f"no Pulumi.<stack>.yaml for {', '.join(unknown) or 'any stack'} in the working tree"
                            f" or in {commit.label} (known stacks: {', '.join(sorted(known)) or 'none'})")
        diffs = tuple(
            compare_states(stack, tree_state(base_tree, stack, f"base {commit.label}"),
                           tree_state(root, stack, WORKING_TREE))
            for stack in names
        )
    return DiffReport(commit.label, WORKING_TREE, diffs)
