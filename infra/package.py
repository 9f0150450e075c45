"""The integrator package as the Pulumi program sees it: which sources it is built from, and whether
`dist/` holds one built from the checkout's sources.

The program records the sources' hash as a tag on the Function App; `orderbridge package` builds the
zip from the same file list (`source_files`), and One Deploy ships it after `pulumi up` (README).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from infra.errors import PackageNotBuilt

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_NAME = "integrator.zip"
MANIFEST_NAME = "integrator.manifest.json"
# Folders shipped in the zip, and where: the app at its root, with the contracts and the topology
# declaration it imports beside `function_app.py`.
_SOURCES = (("integrator_func", ""), ("schemas", "schemas/"), ("topology", "topology/"))
# Local-only files that must not ship (settings may hold secrets; caches are build noise).
_EXCLUDED_NAMES = {"__pycache__", ".python_packages", "local.settings.json", ".venv", ".pytest_cache"}
_EXCLUDED_SUFFIXES = {".pyc", ".pyo"}


@dataclass(frozen=True)
class PackageRef:
    """What the Pulumi program needs to know about the package: where it is and what it was built from."""

    path: Path
    source_hash: str


def source_files(repo_root: Path = REPO_ROOT) -> Iterator[tuple[str, Path]]:
    """(archive name, file) for everything from the repo that goes into the zip, in a stable order."""
    for folder, prefix in _SOURCES:
        base = repo_root / folder
        if not base.is_dir():
            raise PackageNotBuilt(f"{base} does not exist; run from an orderbridge checkout")
        for path in sorted(base.rglob("*")):
            relative = path.relative_to(base)
            if path.is_dir() or _EXCLUDED_NAMES & set(relative.parts) or path.suffix in _EXCLUDED_SUFFIXES:
                continue
            yield prefix + relative.as_posix(), path


def source_hash(repo_root: Path = REPO_ROOT) -> str:
    """SHA-256 over the names and bytes of the package's own sources (not the downloaded wheels)."""
    digest = hashlib.sha256()
    for name, path in source_files(repo_root):
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def package_reference(repo_root: Path = REPO_ROOT, *, require_built: bool) -> PackageRef:
    """The package for the current sources; with `require_built`, check that `dist/` holds it."""
    ref = PackageRef(repo_root / "dist" / PACKAGE_NAME, source_hash(repo_root))
    if not require_built:
        return ref
    manifest_path = ref.path.parent / MANIFEST_NAME
    if not ref.path.is_file() or not manifest_path.is_file():
        raise PackageNotBuilt(f"{ref.path} is missing: run `orderbridge package` before `pulumi up`")
    built_from = json.loads(manifest_path.read_text(encoding="utf-8")).get("sourceHash")
    if built_from != ref.source_hash:
        raise PackageNotBuilt(
            f"{ref.path} was built from other sources than the checkout (built {str(built_from)[:16]},"
            f" now {ref.source_hash[:16]}): run `orderbridge package` again"
        )
    return ref
