"""`orderbridge package`: build the Function App's deployment zip in `dist/`.

The zip holds `integrator_func/*` at its root, `schemas/` beside `function_app.py`, and the Python
dependencies for Linux / Python 3.11 under `.python_packages/lib/site-packages`, the layout the Python
worker loads when the platform does no remote build
(https://learn.microsoft.com/azure/azure-functions/python-build-options). The Pulumi program only
records the package's source hash (a tag on the Function App); the zip itself is deployed after
`pulumi up` with One Deploy (README). Synth and tests never build or download anything.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_NAME = "integrator.zip"
MANIFEST_NAME = "integrator.manifest.json"
SITE_PACKAGES = Path(".python_packages/lib/site-packages")
# Local-only files that must not ship (settings may hold secrets; caches are build noise).
_EXCLUDED_NAMES = {"__pycache__", ".python_packages", "local.settings.json", ".venv", ".pytest_cache"}
_EXCLUDED_SUFFIXES = {".pyc", ".pyo"}
# A fixed timestamp makes the zip byte-for-byte reproducible.
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)

PipRunner = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]


class PackagingError(RuntimeError):
    """The deployment package cannot be built or is missing/stale for a deployment."""


@dataclass(frozen=True)
class PackageRef:
    """What the Pulumi program needs to know about the package: where it is and what it was built from."""

    path: Path
    source_hash: str


def _source_files(repo_root: Path) -> Iterator[tuple[str, Path]]:
    """(archive name, file) for everything from the repo that goes into the zip, in a stable order."""
    sources = ((repo_root / "integrator_func", ""), (repo_root / "schemas", "schemas/"))
    for base, prefix in sources:
        if not base.is_dir():
            raise PackagingError(f"{base} does not exist; run from an orderbridge checkout")
        for path in sorted(base.rglob("*")):
            relative = path.relative_to(base)
            if path.is_dir() or _EXCLUDED_NAMES & set(relative.parts) or path.suffix in _EXCLUDED_SUFFIXES:
                continue
            yield prefix + relative.as_posix(), path


def source_hash(repo_root: Path = REPO_ROOT) -> str:
    """SHA-256 over the names and bytes of the package's own sources (not the downloaded wheels)."""
    digest = hashlib.sha256()
    for name, path in _source_files(repo_root):
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def package_reference(repo_root: Path = REPO_ROOT, *, require_built: bool) -> PackageRef:
    """The package for the current sources; with `require_built`, check that `dist/` holds it."""
    ref = PackageRef(repo_root / "dist" / PACKAGE_NAME, source_hash(repo_root))
    if not require_built:
        return ref
    manifest_path = ref.path.parent / MANIFEST_NAME
    if not ref.path.is_file() or not manifest_path.is_file():
        raise PackagingError(f"{ref.path} is missing: run `orderbridge package` before `pulumi up`")
    built_from = json.loads(manifest_path.read_text(encoding="utf-8")).get("sourceHash")
    if built_from != ref.source_hash:
        raise PackagingError(
            f"{ref.path} was built from other sources than the checkout (built {str(built_from)[:16]},"
            f" now {ref.source_hash[:16]}): run `orderbridge package` again"
        )
    return ref


def pip_command(requirements: Path, target: Path) -> list[str]:
    """pip arguments that fetch Linux x86-64 / CPython 3.11 wheels only, whatever this machine is."""
    return [
        sys.executable, "-m", "pip", "install", "--quiet",
        "--target", str(target),
        "--platform", "manylinux2014_x86_64",
        "--python-version", "3.11",
        "--implementation", "cp",
        "--only-binary=:all:",
        "-r", str(requirements),
    ]


def _run_pip(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, check=False)


def _zip(staging: Path, archive: Path) -> None:
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(staging).as_posix(), date_time=_ZIP_TIMESTAMP)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())


def build_package(
    repo_root: Path = REPO_ROOT, dist: Path | None = None, *, pip: PipRunner = _run_pip
) -> PackageRef:
    """Stage sources and Linux wheels, zip them reproducibly into `dist/`, and write the manifest."""
    dist = dist or repo_root / "dist"
    requirements = repo_root / "integrator_func" / "requirements.txt"
    if not requirements.is_file():
        raise PackagingError(f"{requirements} is missing: the package needs its runtime dependencies listed")
    staging = dist / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name, path in _source_files(repo_root):
        target = staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    result = pip(pip_command(requirements, staging / SITE_PACKAGES))
    if result.returncode != 0:
        raise PackagingError(
            f"pip could not fetch Linux/Python 3.11 wheels for {requirements} (exit {result.returncode}):\n"
            f"{result.stderr.strip()}\nEvery dependency needs a manylinux2014_x86_64 cp311 wheel."
        )
    ref = PackageRef(dist / PACKAGE_NAME, source_hash(repo_root))
    _zip(staging, ref.path)
    shutil.rmtree(staging)
    manifest = {
        "sourceHash": ref.source_hash,
        "zipSha256": hashlib.sha256(ref.path.read_bytes()).hexdigest(),
    }
    (dist / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return ref
