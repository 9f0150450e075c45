"""A stack's desired state in the `orderbridge synth --json` form, from a tree or from a snapshot file.

A tree is synthesized by its own code: a Python subprocess whose path is that tree (infra/ and
workflows/ differ between trees, and `infra` locates the workflow files by its own location). The
child refuses to run if it would import another tree's `infra`. The state is cached by the tree's
content (`orderbridge.synth`'s content key) in `.orderbridge/cache/`, so each side is computed once
and a repeated diff starts no Python at all.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from infra.errors import InfraError
from orderbridge.diff._errors import DiffError
from orderbridge.synth import CACHE_DIR, content_key

State = list[dict[str, Any]]

_CHILD = """
import json, sys
from pathlib import Path
import infra
tree = Path.cwd().resolve()
if Path(infra.__file__).resolve().parent.parent != tree:
    sys.exit(f"synthesis would import infra from {infra.__file__}, not from the tree {tree}")
from orderbridge.synth import synthesize
json.dump(synthesize(sys.argv[1]).as_json(), sys.stdout)
"""
_STDERR_LINES = 15
_SYNTH_TIMEOUT_SECONDS = 600
_CACHE_FORMAT = "diff-state-v1"
_KEPT_PER_STACK = 6  # a few base and head trees per stack


def tree_state(tree: Path, stack: str, label: str) -> State | None:
    """The desired state of `stack` as the code in `tree` builds it; None when the tree has no such stack."""
    if not (tree / f"Pulumi.{stack}.yaml").is_file():
        return None
    try:
        cached = tree / CACHE_DIR / f"{_CACHE_FORMAT}-{stack}-{content_key(tree, stack)}.json"
    except InfraError as exc:
        raise DiffError(f"the {label} is not a whole orderbridge tree: {exc}") from exc
    try:
        return checked_state(_json(cached.read_text(encoding="utf-8"), str(cached)), str(cached))
    except (OSError, DiffError):
        pass  # not cached yet, or unreadable: synthesize again
    state = _synthesized(tree, stack, label)
    _store(cached, state)
    return state


def _store(path: Path, state: State) -> None:
    """Write atomically (parallel test workers), and keep only the newest few per stack."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8") as f:
        json.dump(state, f)
    os.replace(f.name, path)
    same_stack = [p for p in path.parent.glob(f"{_CACHE_FORMAT}-*.json")
                  if p.name.rsplit("-", 1)[0] == path.name.rsplit("-", 1)[0]]
    for old in sorted(same_stack, key=os.path.getmtime)[:-_KEPT_PER_STACK]:
        old.unlink(missing_ok=True)


def _synthesized(tree: Path, stack: str, label: str) -> State:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), str(tree / "integrator_func")])}
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD, stack], cwd=tree, env=env, capture_output=True,
                              text=True, timeout=_SYNTH_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired as exc:
        raise DiffError(f"synthesizing stack {stack} of the {label} took over {_SYNTH_TIMEOUT_SECONDS} s") from exc
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-_STDERR_LINES:])
        raise DiffError(f"synthesizing stack {stack} of the {label} failed:\n{tail}")
    return checked_state(_json(done.stdout, f"the synthesis of stack {stack} of the {label}"), label)


def baseline_state(path: Path) -> State:
    """The snapshot in `path` (the `orderbridge synth --json` form, e.g. tests/snapshots/dev.json)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DiffError(f"cannot read the baseline {path}: {exc.strerror}") from exc
    return checked_state(_json(text, str(path)), str(path))


def _json(text: str, origin: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DiffError(f"{origin} is not JSON: {exc}") from exc


def checked_state(value: Any, origin: str) -> State:
    """`value` if it is a list of resources with a string type and name and an inputs object."""
    if not isinstance(value, list):
        raise DiffError(f"{origin} is not a list of resources (the `orderbridge synth --json` form)")
    for index, resource in enumerate(value):
        if not (isinstance(resource, dict) and isinstance(resource.get("type"), str)
                and isinstance(resource.get("name"), str) and isinstance(resource.get("inputs"), dict)):
            raise DiffError(f"{origin}: resource #{index} has no string type and name and no inputs object")
    return value
