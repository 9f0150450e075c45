"""`orderbridge package`: build the Function App's deployment zip in `dist/`.

The zip holds `integrator_func/*` at its root, `schemas/` and `topology/` beside `function_app.py`
(`infra.package.source_files`, the list the source hash is computed over), and the Python
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
from collections.abc import Callable, Sequence
from pathlib import Path

from infra.package import MANIFEST_NAME, PACKAGE_NAME, REPO_ROOT, PackageRef, source_files, source_hash
from orderbridge.errors import PackageBuildError

SITE_PACKAGES = Path(".python_packages/lib/site-packages")
# A fixed timestamp makes the zip byte-for-byte reproducible.
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)

PipRunner = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]


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
        raise PackageBuildError(f"{requirements} is missing: the package needs its runtime dependencies listed")
    staging = dist / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name, path in source_files(repo_root):
        target = staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    result = pip(pip_command(requirements, staging / SITE_PACKAGES))
    if result.returncode != 0:
        raise PackageBuildError(
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
