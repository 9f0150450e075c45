"""The GitHub workflows a team that adopts orderbridge runs: valid for GitHub, and right where a
schema cannot see (previews for every stack, OIDC without secrets in files, a protected prod)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from typing import Any

import pytest

from infra.package import REPO_ROOT
from orderbridge.synth import Synthesis
from orderbridge.diff._git import stacks_of

from tests.ci.conftest import STACK_ACTION, STACK_ACTION_REF, WORKFLOWS_DIR, Job

GITHUB_OIDC_PERMISSIONS = {"id-token": "write", "contents": "read"}
ARM_VARIABLES = ("ARM_CLIENT_ID", "ARM_TENANT_ID", "ARM_SUBSCRIPTION_ID")
# Pinned: a local action, a major version (`@v7`) or a full commit.
PINNED = re.compile(r"^(\./.+|[\w.-]+/[\w./-]+@(v\d+|[0-9a-f]{40}))$")
GUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
EXPRESSION = re.compile(r"^\$\{\{ *(secrets|env|vars)\.[A-Z0-9_]+ *\}\}$")


def check_jsonschema(schema: str, *paths: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *paths],
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize("schema", ["vendor.github-workflows", "custom.github-workflows-require-timeout"])
def test_the_workflows_pass_the_github_workflow_schema(schema: str) -> None:
    files = [str(path) for path in sorted(WORKFLOWS_DIR.glob("*.yml"))]
    assert len(files) == 3

    done = check_jsonschema(schema, *files)

    assert done.returncode == 0, done.stdout + done.stderr


def test_the_shared_action_passes_the_github_action_schema() -> None:
    done = check_jsonschema("vendor.github-actions", str(STACK_ACTION))

    assert done.returncode == 0, done.stdout + done.stderr


def test_every_stack_has_a_preview_on_pull_requests_and_an_up_on_main(jobs: list[Job]) -> None:
    stacks = stacks_of(REPO_ROOT)
    runs = {(job.workflow, stack, command) for job in jobs for stack, command in job.stack_runs()}

    assert {s for w, s, c in runs if (w, c) == ("pull-request.yml", "preview")} == stacks
    assert {s for w, s, c in runs if (w, c) == ("deploy.yml", "up")} == stacks
    assert {c for _, _, c in runs} == {"preview", "up"}


def stack_jobs(jobs: list[Job]) -> list[Job]:
    return [job for job in jobs if any(True for _ in job.stack_runs())]


def test_every_job_that_reaches_azure_logs_in_by_oidc(jobs: list[Job]) -> None:
    for job in stack_jobs(jobs):
        permissions, env = job.body.get("permissions", {}), job.body.get("env", {})
        assert GITHUB_OIDC_PERMISSIONS.items() <= permissions.items(), f"{job.workflow} {job.name}: {permissions}"
        assert env.get("ARM_USE_OIDC") == "true", f"{job.workflow} {job.name}"
        for variable in ARM_VARIABLES:
            assert EXPRESSION.match(str(env.get(variable, ""))), f"{job.workflow} {job.name}: {variable}"
        if any(command == "preview" for _, command in job.stack_runs()):
            assert permissions.get("pull-requests") == "write", "the preview comments on the pull request"


def every_string(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in every_string(v)]
    if isinstance(value, list):
        return [s for v in value for s in every_string(v)]
    return [value] if isinstance(value, str) else []


def test_secrets_are_referenced_and_never_written_in_the_files(
    workflows: dict[str, dict[str, Any]], stack_action: dict[str, Any]
) -> None:
    documents = {**workflows, "pulumi-stack/action.yml": stack_action}
    texts = {name: (WORKFLOWS_DIR / name).read_text(encoding="utf-8") for name in workflows}
    texts["pulumi-stack/action.yml"] = STACK_ACTION.read_text(encoding="utf-8")

    for name, text in texts.items():
        assert not GUID.search(text), f"{name} contains an id; it belongs in a repository secret"
        assert not re.search(r"client-secret|ARM_CLIENT_SECRET|creds:|AZURE_STORAGE_KEY", text), name
    for name, document in documents.items():
        for step in (s for job in document.get("jobs", {"": document.get("runs", {})}).values()
                     for s in job.get("steps", [])):
            assert "secrets." not in step.get("run", ""), f"{name}: pass secrets to scripts through env"
        for string in every_string(document):
            for used in re.findall(r"secrets\.[A-Za-z0-9_]+", string):
                assert EXPRESSION.match(string.strip()), f"{name}: {used} must be a whole `${{{{ {used} }}}}` value"
    assert texts["pulumi-stack/action.yml"].count("${{ env.ARM_CLIENT_ID }}") == 1  # azure/login reads the env


def test_prod_is_updated_only_in_the_protected_environment_after_dev(jobs: list[Job]) -> None:
    ups = {stack: job for job in jobs for stack, command in job.stack_runs() if command == "up"}

    assert ups["prod"].body.get("environment") == "production"
    assert ups["prod"].body.get("needs") == ups["dev"].name
    # dev names no environment: its OIDC subject is the branch (repo:O/R:ref:refs/heads/main).
    assert "environment" not in ups["dev"].body


def test_previews_skip_pull_requests_from_forks(jobs: list[Job]) -> None:
    (preview,) = [job for job in stack_jobs(jobs) if job.workflow == "pull-request.yml"]

    assert preview.body["if"] == "github.event.pull_request.head.repo.full_name == github.repository"


def test_each_stack_has_its_own_concurrency_group_and_an_update_is_never_cancelled(jobs: list[Job]) -> None:
    for job in stack_jobs(jobs):
        group, (stack, command) = job.body["concurrency"]["group"], next(job.stack_runs())
        assert ("${{ matrix.stack }}" in group) if job.body.get("strategy") else (stack in group), group
        if command == "up":
            assert job.body["concurrency"]["cancel-in-progress"] is False


def uses(document: dict[str, Any]) -> list[str]:
    steps = [s for job in document.get("jobs", {}).values() for s in job.get("steps", [])]
    steps += document.get("runs", {}).get("steps", [])
    return [step["uses"] for step in steps if "uses" in step]


def test_every_action_is_pinned_and_pulumi_to_its_major_version(
    workflows: dict[str, dict[str, Any]], stack_action: dict[str, Any]
) -> None:
    used = [u for document in [*workflows.values(), stack_action] for u in uses(document)]

    assert used and all(PINNED.match(u) for u in used), [u for u in used if not PINNED.match(u)]
    assert [u for u in used if u.startswith("pulumi/actions@")] == ["pulumi/actions@v7"]
    (pulumi_step,) = [s for s in stack_action["runs"]["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert pulumi_step["with"]["diff"] is True and "comment-on-pr" in pulumi_step["with"]


def test_the_diff_job_has_the_merge_base_and_hands_its_artifact_to_the_comment_workflow(
    workflows: dict[str, dict[str, Any]]
) -> None:
    pull_request, comment = workflows["pull-request.yml"], workflows["pull-request-comment.yml"]
    diff = pull_request["jobs"]["diff"]
    (checkout,) = [s for s in diff["steps"] if s.get("uses", "").startswith("actions/checkout@")]
    (upload,) = [s for s in diff["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    (download,) = [s for job in comment["jobs"].values() for s in job["steps"]
                   if s.get("uses", "").startswith("actions/download-artifact@")]
    scripts = " ".join(s.get("run", "") for job in comment["jobs"].values() for s in job["steps"])

    assert checkout["with"]["fetch-depth"] == 0
    assert "orderbridge diff" in " ".join(s.get("run", "") for s in diff["steps"])
    assert comment["on"]["workflow_run"]["workflows"] == [pull_request["name"]]
    assert download["with"]["name"] == upload["with"]["name"]
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    assert "orderbridge-diff/comment.md" in scripts and "orderbridge-diff/pr-number" in scripts


def test_no_workflow_runs_pull_request_code_with_a_write_token(workflows: dict[str, dict[str, Any]]) -> None:
    """`pull_request_target` would run a fork's code with the base repository's token and secrets."""
    assert all("pull_request_target" not in workflow["on"] for workflow in workflows.values())
    assert "pull_request" in workflows["pull-request.yml"]["on"]


def test_the_comment_workflow_never_checks_out_the_pull_requests_code(workflows: dict[str, dict[str, Any]]) -> None:
    comment = workflows["pull-request-comment.yml"]

    assert not [u for u in uses(comment) if u.startswith("actions/checkout@") or u.startswith("./")]
    assert {"pull-requests": "write", "actions": "read"} == comment["jobs"]["comment"]["permissions"]


def test_the_stack_outputs_the_deploy_reads_are_outputs_of_the_program(
    stack_action: dict[str, Any], dev: Synthesis
) -> None:
    text = STACK_ACTION.read_text(encoding="utf-8")
    read = set(re.findall(r"steps\.pulumi\.outputs\.(\w+)", text))

    assert read == {"resourceGroupName", "functionAppName", "integratorSourceHash"}
    assert read <= set(dev.outputs)


def test_the_jobs_install_with_a_make_target_that_exists(workflows: dict[str, dict[str, Any]]) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    text = STACK_ACTION.read_text(encoding="utf-8") + "".join(
        (WORKFLOWS_DIR / name).read_text(encoding="utf-8") for name in workflows)
    targets = set(re.findall(r"\bmake ([\w./-]+)", text))

    assert targets == {"test", "install"}
    for target in targets:
        done = subprocess.run(["make", "-n", target], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
