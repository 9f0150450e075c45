"""`orderbridge diff` over a small git repository made here: a copy of this checkout committed as
`main`, and a branch that changes a workflow action, a queue setting that forces replacement, and
a role. Each side is synthesized by its own tree's code; the base side is the copy of this checkout,
so it comes from the content cache the session's `dev` synthesis filled."""
from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from infra.package import REPO_ROOT
from orderbridge.cli import DATA_LOSS_EXIT, main
from orderbridge.diff import DiffReport, StackDiff, diff_against_commit, render_json, render_markdown, render_text
from orderbridge.synth import Synthesis
from orderbridge.synth._cache import CACHE_DIR, content_key
from topology import ECP_TO_ERP, ERP_TO_ECP

WORKFLOW_FILE = f"workflows/{ECP_TO_ERP.workflow_name}.json"
OLD_PUBLISHER = "33333333-3333-3333-3333-333333333333"
NEW_PUBLISHER = "44444444-4444-4444-4444-444444444444"
# What synthesis reads, and the snapshots (one test compares with them).
_COPIED = ("__main__.py", "Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "infra", "integrator_func", "orderbridge",
           "schemas", "topology", "workflows", "tests/snapshots")
_NOT_COPIED = shutil.ignore_patterns("__pycache__", ".python_packages", "local.settings.json")


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=orderbridge-test", "-c", "user.email=test@example.invalid",
                           "-c", "commit.gpgsign=false", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout


def replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path} no longer has exactly one {old!r}: update this test's change"
    path.write_text(text.replace(old, new), encoding="utf-8")


def change_the_workflow(root: Path) -> None:
    """An action added on the happy path, a runAfter edge and an expression changed."""
    path = root / WORKFLOW_FILE
    definition = json.loads(path.read_text(encoding="utf-8"))
    loop = definition["actions"]["For_each_event"]["actions"]
    loop["Note_the_order"] = {"type": "Compose", "inputs": "@items('For_each_event')?['id']",
                              "runAfter": {"Send_order_to_queue": ["Succeeded"]}}
    loop["Classify_failure"]["runAfter"]["Send_order_to_queue"].append("TimedOut")
    loop["Park_event"]["inputs"]["uri"] += "?timeout=5"
    path.write_text(json.dumps(definition, indent=2, sort_keys=True) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, dev: Synthesis) -> Path:
    """`main`: this checkout; `change` (checked out): the three changes, committed."""
    root = tmp_path_factory.mktemp("adopter")
    for name in _COPIED:
        source, target = REPO_ROOT / name, root / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=_NOT_COPIED)
        else:
            shutil.copy(source, target)
    cached = REPO_ROOT / CACHE_DIR / f"synth-dev-{content_key(REPO_ROOT, 'dev')}.json"
    (root / CACHE_DIR).mkdir(parents=True)
    shutil.copy(cached, root / CACHE_DIR)  # filled by the session's `dev` fixture
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--message=base")
    git(root, "checkout", "--quiet", "-b", "change")
    change_the_workflow(root)
    replace_once(root / "infra/pipeline.py", "args.queues, requires_session=False,", "args.queues, requires_session=True,")
    replace_once(root / "Pulumi.dev.yaml", OLD_PUBLISHER, NEW_PUBLISHER)
    git(root, "commit", "--quiet", "--all", "--message=change")
    return root


@pytest.fixture(scope="module")
def report(repo: Path) -> DiffReport:
    return diff_against_commit(repo, None, ["dev"])


@pytest.fixture(scope="module")
def dev_diff(report: DiffReport) -> StackDiff:
    (stack,) = report.stacks
    return stack


def test_the_base_is_the_merge_base_with_main(repo: Path, report: DiffReport) -> None:
    assert report.base == f"merge base with main ({git(repo, 'rev-parse', 'main').strip()[:10]})"


def test_the_workflow_change_is_shown_action_by_action(dev_diff: StackDiff) -> None:
    (workflow,) = dev_diff.workflows
    actions = {(a.kind, a.name): a for a in workflow.actions}

    assert workflow.workflow == ECP_TO_ERP.workflow_name
    assert set(actions) == {("added", "Note_the_order"), ("changed", "Park_event")}
    assert actions["added", "Note_the_order"].container == "For_each_event"
    edges = {(e.predecessor, e.action): (e.before, e.after) for e in workflow.edges}
    assert edges == {
        ("Send_order_to_queue", "Note_the_order"): (None, ("Succeeded",)),
        ("Send_order_to_queue", "Classify_failure"): (("Failed", "Skipped"), ("Failed", "Skipped", "TimedOut")),
    }
    ((action, expression),) = workflow.expressions
    assert action == "Park_event" and expression.path == "inputs.uri"
    assert expression.after == expression.before + "?timeout=5"


def test_the_billable_executions_are_measured_on_both_versions(dev_diff: StackDiff) -> None:
    (workflow,) = dev_diff.workflows
    before = {c.events: c.total for c in workflow.cost_before}
    after = {c.events: c.total for c in workflow.cost_after}

    assert (before, after) == ({1: 5, 10: 23}, {1: 6, 10: 33})  # one more action per event


def test_the_queue_setting_that_forces_replacement_is_marked_as_data_loss(dev_diff: StackDiff) -> None:
    losses = {loss.name: loss.reason for loss in dev_diff.data_loss}

    assert set(losses) == {f"{ECP_TO_ERP.key}-parking-queue", f"{ERP_TO_ECP.key}-parking-queue"}
    assert all("requiresSession False -> True" in reason and "REPLACE" in reason for reason in losses.values())


def test_the_role_change_names_the_principal_the_role_and_the_resource(dev_diff: StackDiff) -> None:
    access = {(a.gained, a.principal_id, a.role, a.resource) for a in dev_diff.access}

    assert access == {
        (True, NEW_PUBLISHER, "EventGrid Data Sender", f"topic {ERP_TO_ECP.topic_name}"),
        (False, OLD_PUBLISHER, "EventGrid Data Sender", f"topic {ERP_TO_ECP.topic_name}"),
    }


def test_nothing_else_changed(dev_diff: StackDiff) -> None:
    changed = {(r.kind, r.short_type, r.name) for r in dev_diff.resources}

    assert changed == {
        ("changed", "logic:Workflow", f"{ECP_TO_ERP.key}-workflow"),
        ("changed", "servicebus:Queue", f"{ECP_TO_ERP.key}-parking-queue"),
        ("changed", "servicebus:Queue", f"{ERP_TO_ECP.key}-parking-queue"),
        ("added", "authorization:RoleAssignment", f"{ERP_TO_ECP.key}-publisher-{NEW_PUBLISHER}"),
        ("removed", "authorization:RoleAssignment", f"{ERP_TO_ECP.key}-publisher-{OLD_PUBLISHER}"),
    }
    assert not dev_diff.settings


def test_the_markdown_shows_all_three_in_collapsible_sections(report: DiffReport) -> None:
    markdown = render_markdown(report)

    assert "> [!CAUTION]" in markdown and "LOSE DATA" in markdown
    assert markdown.count("<details>") == markdown.count("</details>") >= 4
    assert f"| gains | `{NEW_PUBLISHER}` | User | EventGrid Data Sender | topic {ERP_TO_ECP.topic_name} |" in markdown
    assert "billable executions 5 → 6 for 1 event, 23 → 33 for 10 events" in markdown
    assert "- added `Note_the_order` (Compose, in For_each_event)" in markdown
    assert "`Send_order_to_queue` → `Classify_failure`: Failed, Skipped → Failed, Skipped, TimedOut" in markdown
    assert "```mermaid" in markdown and "a_Note_the_order" in markdown  # the flowchart after


def test_text_and_json_carry_the_same_diff(report: DiffReport) -> None:
    text, data = render_text(report), json.loads(render_json(report))

    assert f"{NEW_PUBLISHER} (User) gains EventGrid Data Sender on topic {ERP_TO_ECP.topic_name}" in text
    assert "added action Note_the_order (Compose, in For_each_event)" in text
    assert data["losesData"] is True
    assert {loss["name"] for loss in data["stacks"][0]["data_loss"]} == {
        f"{ECP_TO_ERP.key}-parking-queue", f"{ERP_TO_ECP.key}-parking-queue"}


@pytest.fixture
def in_repo(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(repo)
    yield repo


def test_the_command_exits_0_with_a_diff(in_repo: Path) -> None:
    result = CliRunner().invoke(main, ["diff", "--stack", "dev", "--format", "markdown"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("## orderbridge diff") and "LOSE DATA" in result.output


def test_data_loss_fails_the_command_when_asked(in_repo: Path) -> None:
    result = CliRunner().invoke(main, ["diff", "--stack", "dev", "--fail-on-data-loss"])

    assert result.exit_code == DATA_LOSS_EXIT and "DATA LOSS" in result.output


def test_no_change_is_a_diff_too(in_repo: Path) -> None:
    result = CliRunner().invoke(main, ["diff", "--base", "HEAD", "--stack", "dev", "--fail-on-data-loss"])

    assert result.exit_code == 0, result.output
    assert "no changes" in result.output


def test_a_snapshot_can_be_the_base(in_repo: Path) -> None:
    result = CliRunner().invoke(main, ["diff", "--baseline", "tests/snapshots/dev.json", "--stack", "dev",
                                       "--format", "json"])

    assert result.exit_code == 0, result.output
    (stack,) = json.loads(result.output)["stacks"]
    assert {a["principal_id"] for a in stack["access"]} == {NEW_PUBLISHER, OLD_PUBLISHER}


@pytest.mark.parametrize("args, message", [
    (["--base", "no-such-ref"], "--base 'no-such-ref' is not a commit"),
    (["--stack", "qa"], "no Pulumi.<stack>.yaml for qa"),
    (["--baseline", "tests/snapshots/dev.json"], "give exactly one --stack"),
])
def test_what_cannot_be_compared_is_one_error_message(in_repo: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["diff", *args])

    assert result.exit_code in (1, 2) and message in result.output, result.output
    assert "Traceback" not in result.output
