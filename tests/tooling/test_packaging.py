"""`orderbridge package`: layout, reproducibility and the pip call, with pip replaced by a fake."""
from __future__ import annotations

import json
import subprocess
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from infra.errors import PackageNotBuilt
from infra.package import MANIFEST_NAME, package_reference, source_hash
from orderbridge.errors import PackageBuildError
from orderbridge.packaging import build_package


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A minimal checkout: integrator sources (with local noise) and one schema."""
    root = tmp_path / "repo"
    (root / "integrator_func" / "order_integration" / "__pycache__").mkdir(parents=True)
    (root / "integrator_func" / "function_app.py").write_text("app = None\n")
    (root / "integrator_func" / "host.json").write_text('{"version": "2.0"}\n')
    (root / "integrator_func" / "requirements.txt").write_text("httpx==0.28.1\n")
    (root / "integrator_func" / "order_integration" / "__init__.py").write_text("")
    (root / "integrator_func" / "order_integration" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (root / "integrator_func" / "local.settings.json").write_text('{"Values": {"ERP_API_KEY": "s3cret"}}')
    (root / "schemas").mkdir()
    (root / "schemas" / "order.schema.json").write_text("{}\n")
    (root / "topology").mkdir()
    (root / "topology" / "__init__.py").write_text("PIPELINES = ()\n")
    return root


class FakePip:
    """Records the pip command and drops a fake wheel's files into --target, as pip would."""

    def __init__(self, returncode: int = 0, stderr: str = "") -> None:
        self.commands: list[list[str]] = []
        self.returncode, self.stderr = returncode, stderr

    def __call__(self, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.commands.append(list(command))
        target = Path(command[command.index("--target") + 1])
        (target / "httpx").mkdir(parents=True, exist_ok=True)
        (target / "httpx" / "__init__.py").write_text("__version__ = '0.28.1'\n")
        return subprocess.CompletedProcess(command, self.returncode, "", self.stderr)


def test_zip_has_sources_at_root_schemas_and_topology_beside_and_wheels_in_python_packages(repo: Path) -> None:
    ref = build_package(repo, pip=FakePip())
    names = set(zipfile.ZipFile(ref.path).namelist())
    assert names == {
        "function_app.py", "host.json", "requirements.txt", "order_integration/__init__.py",
        "schemas/order.schema.json", "topology/__init__.py", ".python_packages/lib/site-packages/httpx/__init__.py",
    }, "local.settings.json (secrets) and caches must not ship"


def test_pip_is_asked_for_linux_python_311_wheels_only(repo: Path) -> None:
    pip = FakePip()
    build_package(repo, pip=pip)
    (command,) = pip.commands
    assert command[1:4] == ["-m", "pip", "install"]
    for flag, value in (("--platform", "manylinux2014_x86_64"), ("--python-version", "3.11"),
                        ("-r", str(repo / "integrator_func" / "requirements.txt"))):
        assert command[command.index(flag) + 1] == value
    assert "--only-binary=:all:" in command
    assert command[command.index("--target") + 1].endswith(".python_packages/lib/site-packages")


def test_build_is_reproducible_and_manifest_records_hashes(repo: Path) -> None:
    first = build_package(repo, pip=FakePip()).path.read_bytes()
    ref = build_package(repo, pip=FakePip())
    assert ref.path.read_bytes() == first
    manifest = json.loads((ref.path.parent / MANIFEST_NAME).read_text())
    assert manifest["sourceHash"] == source_hash(repo) == ref.source_hash
    assert not (repo / "dist" / "staging").exists()


def test_source_hash_follows_code_and_schemas_not_local_noise(repo: Path) -> None:
    before = source_hash(repo)
    (repo / "integrator_func" / "local.settings.json").write_text("{}")
    assert source_hash(repo) == before
    (repo / "schemas" / "order.schema.json").write_text('{"type": "object"}\n')
    assert source_hash(repo) != before
    changed_schemas = source_hash(repo)
    (repo / "topology" / "__init__.py").write_text("PIPELINES = ('x',)\n")
    assert source_hash(repo) != changed_schemas


def test_pip_failure_is_a_packaging_error_with_pips_message(repo: Path) -> None:
    with pytest.raises(PackageBuildError, match="no matching distribution for httpx"):
        build_package(repo, pip=FakePip(returncode=1, stderr="ERROR: no matching distribution for httpx"))


def test_missing_requirements_is_reported(repo: Path) -> None:
    (repo / "integrator_func" / "requirements.txt").unlink()
    with pytest.raises(PackageBuildError, match="requirements.txt is missing"):
        build_package(repo, pip=FakePip())


def test_synth_reference_needs_no_dist(repo: Path) -> None:
    ref = package_reference(repo, require_built=False)
    assert not (repo / "dist").exists()
    assert ref.source_hash == source_hash(repo)


def test_deployment_refuses_a_missing_or_stale_package(repo: Path) -> None:
    with pytest.raises(PackageNotBuilt, match="run `orderbridge package`"):
        package_reference(repo, require_built=True)
    build_package(repo, pip=FakePip())
    assert package_reference(repo, require_built=True).path.is_file()
    (repo / "integrator_func" / "function_app.py").write_text("app = 'changed'\n")
    with pytest.raises(PackageNotBuilt, match="other sources than the checkout"):
        package_reference(repo, require_built=True)


def test_real_pip_accepts_the_cross_platform_flags(repo: Path) -> None:
    """pip itself parses the command (offline: --no-index), so a typo in a flag would show here."""
    def offline_pip(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*command, "--no-index"], capture_output=True, text=True, check=False)

    with pytest.raises(PackageBuildError) as raised:
        build_package(repo, pip=offline_pip)
    message = str(raised.value)
    assert "httpx" in message and "no such option" not in message.lower(), message


def test_cli_package_reports_the_artifact_and_maps_errors(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from orderbridge import packaging
    from orderbridge.cli import main

    real_build = packaging.build_package
    monkeypatch.setattr(packaging, "build_package", lambda dist=None: real_build(repo, dist, pip=FakePip()))
    result = CliRunner().invoke(main, ["package", "--dist", str(repo / "out")])
    assert result.exit_code == 0, result.output
    assert f"built {repo / 'out' / 'integrator.zip'}" in result.output and f"from sources {source_hash(repo)[:16]}" in result.output

    monkeypatch.setattr(packaging, "build_package",
                        lambda dist=None: real_build(repo, dist, pip=FakePip(1, "ERROR: boom")))
    failed = CliRunner().invoke(main, ["package"])
    assert failed.exit_code == 1 and "ERROR: boom" in failed.output
