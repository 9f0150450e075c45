"""A stack's synthesis, cached on disk by the content of everything the program reads.

The key hashes the files the Pulumi program, the mocks and the integrator package are made of, the
stack file, and the Pulumi SDK versions; any change to one of them is a new key, so a cached state
is never stale. The cache lives in `.orderbridge/cache/` (ignored by git) and holds at most a few
entries per stack: older ones are removed when a new one is written.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path

from infra.errors import InfraError
from infra.package import source_files
from orderbridge.synth._state import Synthesis, SynthResource

CACHE_DIR = Path(".orderbridge") / "cache"
_PROGRAM_SOURCES = ("infra", "workflows", "orderbridge/synth")
_KEPT_PER_STACK = 3


def _program_files(repo_root: Path, stack: str) -> Iterator[tuple[str, Path]]:
    yield from source_files(repo_root)
    for folder in _PROGRAM_SOURCES:
        for path in sorted((repo_root / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                yield path.relative_to(repo_root).as_posix(), path
    for name in ("__main__.py", "Pulumi.yaml", f"Pulumi.{stack}.yaml"):
        if (repo_root / name).is_file():
            yield name, repo_root / name


def content_key(repo_root: Path, stack: str) -> str:
    """A hash of every input of `stack`'s synthesis."""
    digest = hashlib.sha256(f"{version('pulumi')}\0{version('pulumi-azure-native')}\0".encode())
    for name, path in _program_files(repo_root, stack):
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


def cached_synthesis(stack: str, repo_root: Path, synthesize: Callable[[], Synthesis]) -> Synthesis:
    """The cached synthesis of `stack` for the tree's current content, else `synthesize()` stored."""
    try:
        key = content_key(repo_root, stack)
    except InfraError:
        return synthesize()  # not a whole checkout: nothing to key on, and the program reports why
    directory = repo_root / CACHE_DIR
    path = directory / f"synth-{stack}-{key}.json"
    try:
        return _load(path)
    except (OSError, ValueError, TypeError, KeyError):
        pass  # absent or unreadable: synthesize again
    synthesis = synthesize()
    _store(path, synthesis)
    for old in sorted(directory.glob(f"synth-{stack}-*.json"), key=os.path.getmtime)[:-_KEPT_PER_STACK]:
        old.unlink(missing_ok=True)
    return synthesis


def _load(path: Path) -> Synthesis:
    data = json.loads(path.read_text(encoding="utf-8"))
    resources = [
        SynthResource(**{**r, "replace_on_changes": tuple(r["replace_on_changes"]),
                         "dependencies": tuple(r["dependencies"])})
        for r in data["resources"]
    ]
    return Synthesis(data["stack"], resources, data["outputs"], data["seconds"])


def _store(path: Path, synthesis: Synthesis) -> None:
    """Write atomically, so parallel test workers never read half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "stack": synthesis.stack,
        "resources": [dataclasses.asdict(r) for r in synthesis.resources],
        "outputs": synthesis.outputs,
        "seconds": synthesis.seconds,
    }
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(f.name, path)
