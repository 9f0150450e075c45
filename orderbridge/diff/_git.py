"""The two trees a diff compares: the working tree, and the base commit exported into a temp dir.

The base is exported with `git archive`, so nothing in the checkout changes. Its `.orderbridge/` is
the checkout's own, so the base's synthesis lands in (and is read from) the checkout's content cache.
"""
from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from orderbridge.diff._errors import DiffError

# Tried in order when no --base is given: a local main, then the remote one (CI checkouts have only
# `origin/main`, and only with `fetch-depth: 0`).
DEFAULT_BRANCHES = ("main", "origin/main")
CACHE_HOME = ".orderbridge"


@dataclass(frozen=True)
class BaseCommit:
    """The commit the working tree is compared with, and how the reader should call it."""

    sha: str
    label: str


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DiffError(f"git {' '.join(args)} failed in {root}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def repository_root(start: Path) -> Path:
    """The top of the git checkout that holds `start`."""
    try:
        return Path(_git(start, "rev-parse", "--show-toplevel")).resolve()
    except DiffError as exc:
        raise DiffError(f"{start} is not inside a git checkout; `orderbridge diff --base` compares git trees"
                        " (use --baseline FILE to compare with a snapshot instead)") from exc


def _commit_of(root: Path, ref: str) -> str | None:
    done = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=root,
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def resolve_base(root: Path, ref: str | None) -> BaseCommit:
    """The commit `ref` names, or by default the merge base of HEAD with main."""
    if ref is not None:
        sha = _commit_of(root, ref)
        if sha is None:
            raise DiffError(f"--base {ref!r} is not a commit in {root} (in CI, check out with fetch-depth: 0)")
        return BaseCommit(sha, f"{ref} ({sha[:10]})")
    for branch in DEFAULT_BRANCHES:
        if _commit_of(root, branch) is not None:
            sha = _git(root, "merge-base", "HEAD", branch)
            return BaseCommit(sha, f"merge base with {branch} ({sha[:10]})")
    raise DiffError(f"neither {' nor '.join(DEFAULT_BRANCHES)} exists in {root}: pass --base GIT-REF, or fetch"
                    " the main branch (in CI, check out with fetch-depth: 0)")


@contextmanager
def exported_tree(root: Path, commit: BaseCommit) -> Iterator[Path]:
    """The files of `commit`, in a temp dir removed afterwards, sharing the checkout's synthesis cache."""
    archive = subprocess.run(["git", "archive", "--format=tar", commit.sha], cwd=root, capture_output=True,
                             check=False)
    if archive.returncode != 0:
        raise DiffError(f"git archive {commit.sha} failed: {archive.stderr.decode(errors='replace').strip()}")
    with tempfile.TemporaryDirectory(prefix="orderbridge-base-") as temp:
        tree = Path(temp)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tree, filter="data")
        (root / CACHE_HOME).mkdir(exist_ok=True)
        if not (tree / CACHE_HOME).exists():  # a committed cache is not ours to replace
            (tree / CACHE_HOME).symlink_to(root / CACHE_HOME, target_is_directory=True)
        yield tree


def stacks_of(tree: Path) -> set[str]:
    """The stacks a tree declares (its `Pulumi.<stack>.yaml` files)."""
    return {p.name[len("Pulumi."):-len(".yaml")] for p in tree.glob("Pulumi.*.yaml")}
