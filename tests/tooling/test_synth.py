"""`orderbridge synth`: the snapshot is current, secrets are redacted, queue replacements warn."""
from __future__ import annotations

import copy
import json
import runpy
import time
from pathlib import Path

import pulumi
import pytest
from click.testing import CliRunner

from infra.errors import StackConfigError
from infra import package
from orderbridge import synth
from orderbridge.cli import main
from infra.package import REPO_ROOT
from orderbridge.synth import (
    REDACTED,
    SNAPSHOT_DIR,
    Synthesis,
    load_snapshot,
    queue_replacements,
    read_stack_file,
    run_offline,
    synthesize,
)


def test_snapshot_is_current(stack: Synthesis) -> None:
    committed = load_snapshot(stack.stack)
    assert committed is not None, f"{SNAPSHOT_DIR / stack.stack}.json missing: run `make snapshots`"
    now = {(r["type"], r["name"]): r for r in stack.as_json()}
    before = {(r["type"], r["name"]): r for r in committed}
    changed = sorted(
        [f"{t} {n} (changed)" for (t, n), r in now.items() if (t, n) in before and before[(t, n)] != r]
        + [f"{t} {n} (new)" for (t, n) in now.keys() - before.keys()]
        + [f"{t} {n} (removed)" for (t, n) in before.keys() - now.keys()]
    )
    assert not changed, (
        f"tests/snapshots/{stack.stack}.json is stale (changed: {', '.join(changed)}): run `make snapshots`"
        " and commit the diff for review"
    )


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_synth_of_a_stack_takes_under_five_seconds(name: str) -> None:
    # CPU time of this process (Pulumi's worker threads included), so that other suites sharing the
    # two cores do not make the measurement flaky; the synthesis itself reports its wall time.
    started = time.process_time()
    synthesize(name)
    assert time.process_time() - started < 5


def test_json_lists_the_topology_with_secrets_redacted() -> None:
    result = CliRunner().invoke(main, ["synth", "--stack", "dev", "--json"])
    assert result.exit_code == 0, result.output
    state = json.loads(result.stdout)
    assert {"type", "name", "parent", "inputs"} == set(state[0])
    by_name = {r["name"]: r for r in state}
    assert by_name["secrets-ecp-api-key"]["inputs"]["properties"]["value"] == REDACTED
    subscription = by_name["ecp-to-erp-subscription"]["inputs"]
    assert subscription["destination"]["endpointUrl"] == REDACTED
    assert subscription["retryPolicy"]["maxDeliveryAttempts"] == 30
    assert subscription["deadLetterWithResourceIdentity"]["deadLetterDestination"]["blobContainerName"] == (
        "ecp-order-events-deadletters"
    )
    assert "offline-placeholder" not in result.stdout and "sig=" not in result.stdout
    assert by_name["ecp-to-erp-queue"]["parent"] == "ecp-to-erp"
    assert by_name["resource-group"]["parent"] is None


def test_table_shows_types_names_and_key_settings(dev: Synthesis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synth, "synthesize", lambda stack: dev)
    result = CliRunner().invoke(main, ["synth", "--stack", "dev"])
    assert result.exit_code == 0, result.output
    line = next(l for l in result.stdout.splitlines() if l.startswith("servicebus:Queue") and "erp-to-ecp-queue" in l)
    assert "queueName=order-updates" in line and "requiresSession=true" in line
    assert "Azure resources" in result.stdout.splitlines()[-1]


def test_invalid_config_fails_naming_the_key(tmp_path: Path) -> None:
    stack_file = (REPO_ROOT / "Pulumi.dev.yaml").read_text(encoding="utf-8")
    (tmp_path / "Pulumi.broken.yaml").write_text(
        stack_file.replace("orderbridge:eventBatchSize: 1", "orderbridge:eventBatchSize: 9999"), encoding="utf-8"
    )
    with pytest.raises(StackConfigError, match="orderbridge:eventBatchSize"):
        synthesize("broken", repo_root=tmp_path)


def test_unknown_stack_is_a_clear_cli_error() -> None:
    result = CliRunner().invoke(main, ["synth", "--stack", "nope"])
    assert result.exit_code == 1
    assert "no stack file" in result.output and "dev, prod" in result.output


def test_changing_sessions_of_a_queue_warns_about_replacement(dev: Synthesis) -> None:
    baseline = dev.as_json()
    current = copy.deepcopy(baseline)
    queue = next(r for r in current if r["name"] == "ecp-to-erp-queue")
    queue["inputs"]["requiresSession"] = True
    (warning,) = queue_replacements(current, baseline)
    assert "online-orders" in warning and "requiresSession False -> True" in warning and "REPLACE" in warning


@pytest.mark.parametrize("logical_name", ["ecp-to-erp-parking-queue", "erp-to-ecp-queue"])
def test_removing_a_queue_warns_about_deletion(dev: Synthesis, logical_name: str) -> None:
    baseline = dev.as_json()
    current = [r for r in baseline if r["name"] != logical_name]
    queue_name = next(r for r in baseline if r["name"] == logical_name)["inputs"]["queueName"]
    (warning,) = queue_replacements(current, baseline)
    assert f"queue {queue_name} ({logical_name})" in warning and "DELETE" in warning


def test_renaming_a_queues_logical_name_warns_about_deletion(dev: Synthesis) -> None:
    baseline = dev.as_json()
    current = copy.deepcopy(baseline)
    next(r for r in current if r["name"] == "erp-to-ecp-queue")["name"] = "erp-to-ecp-updates-queue"
    (warning,) = queue_replacements(current, baseline)
    assert "queue order-updates (erp-to-ecp-queue)" in warning and "alias" in warning


def test_unchanged_queues_do_not_warn(dev: Synthesis) -> None:
    assert queue_replacements(dev.as_json(), dev.as_json()) == []


def test_cli_prints_the_replacement_warning_against_a_baseline(
    tmp_path: Path, dev: Synthesis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(synth, "synthesize", lambda stack: dev)
    baseline = dev.as_json()
    next(r for r in baseline if r["name"] == "erp-to-ecp-queue")["inputs"]["requiresDuplicateDetection"] = False
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(baseline), encoding="utf-8")
    result = CliRunner().invoke(main, ["synth", "--stack", "dev", "--baseline", str(path)])
    assert result.exit_code == 0
    assert "WARNING: queue order-updates" in result.stderr and "requiresDuplicateDetection" in result.stderr


def test_main_program_reads_config_builds_and_exports_with_a_built_package(
    dev: Synthesis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`__main__.py` as `pulumi up` runs it: it insists on a built package and exports build()'s outputs."""
    requested: list[bool] = []
    real_reference = package.package_reference

    def reference(repo_root: Path = REPO_ROOT, *, require_built: bool) -> package.PackageRef:
        requested.append(require_built)
        return real_reference(repo_root, require_built=False)  # no dist/ offline

    monkeypatch.setattr(package, "package_reference", reference)

    def main_program() -> dict:
        runpy.run_path(str(REPO_ROOT / "__main__.py"))
        return dict(pulumi.runtime.get_root_resource().outputs)

    values, secret_keys = read_stack_file("dev")
    ran = run_offline("dev", main_program, values=values, secret_keys=secret_keys)
    assert requested == [True]
    assert ran.outputs == dev.outputs
    assert ran.as_json() == dev.as_json()
