"""The topology is declared once: every other source reads it, and the layers import downwards only."""
from __future__ import annotations

import ast
import io
import subprocess
import tokenize
from pathlib import Path

import pytest

from topology import PIPELINES

REPO_ROOT = Path(__file__).resolve().parents[2]


def _sources() -> list[Path]:
    """Every tracked (or new, unignored) Python file outside the tests."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()
    return [REPO_ROOT / name for name in listed if not name.startswith("tests/") and (REPO_ROOT / name).is_file()]


def _string_literals(path: Path) -> set[object]:
    """The plain string literals of a file (f-strings are built from names, not written out)."""
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    strings = [t.string for t in tokens if t.type == tokenize.STRING]
    return {ast.literal_eval(s) for s in strings if "f" not in s[: s.find(s[-1])].lower()}


@pytest.mark.parametrize(
    "name",
    [n for p in PIPELINES for n in (p.queue_name, p.parking_queue_name, p.function_name, p.topic_name, p.workflow_name)],
)
def test_each_name_is_written_in_exactly_one_source(name: str) -> None:
    holders = sorted(str(p.relative_to(REPO_ROOT)) for p in _sources() if name in _string_literals(p))
    assert holders == ["topology/pipelines.py"], f"{name!r} is written in {holders}: read it from topology instead"


def _imported_packages(folder: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")) if folder.is_dir() else [folder]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and not n.level}
        found[str(path.relative_to(REPO_ROOT))] = {name.split(".")[0] for name in names}
    return found


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("__main__.py", {"orderbridge"}),
        ("infra", {"orderbridge"}),
        ("integrator_func", {"orderbridge", "infra"}),  # deployed alone, with topology and schemas
        ("topology", {"orderbridge", "infra", "order_integration", "pulumi", "pulumi_azure_native", "azure"}),
    ],
)
def test_lower_layers_do_not_import_the_layers_above(layer: str, forbidden: set[str]) -> None:
    offenders = {f: sorted(p & forbidden) for f, p in _imported_packages(REPO_ROOT / layer).items() if p & forbidden}
    assert not offenders, f"{layer} must not import {sorted(forbidden)}: {offenders}"


def test_the_readme_glossary_names_each_direction_as_declared() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    for p in PIPELINES:
        row = (
            f"| {p.key} | `{p.topic_name}` (`{p.event_type}`) | `{p.workflow_name}` | `{p.queue_name}` |"
            f" `{p.parking_queue_name}` | `{p.function_name}` | {p.target.upper()} |"
        )
        assert row in readme, f"README glossary row for {p.key} should read:\n{row}"
