"""Loading workflow files: the trigger literals Azure needs are set from config, bad files are named."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra import workflow_definitions as wd

NAMES = ("order-events-processor", "erp-events-processor")


@pytest.fixture
def workflows_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private workflows/ folder, so a test can write broken files without touching the real ones."""
    monkeypatch.setattr(wd, "WORKFLOWS_DIR", tmp_path)
    wd._read.cache_clear()
    yield tmp_path
    wd._read.cache_clear()


def write(folder: Path, name: str, definition: object) -> None:
    (folder / f"{name}.json").write_text(json.dumps(definition), encoding="utf-8")


@pytest.mark.parametrize("name", NAMES)
def test_loaded_definition_is_the_file_with_only_the_trigger_concurrency_set(name: str) -> None:
    on_disk = json.loads(wd.workflow_path(name).read_text(encoding="utf-8"))
    loaded = wd.load_definition(name, trigger_concurrency=7, maximum_waiting_runs=40)
    trigger = wd.trigger_name(name)
    assert loaded["triggers"][trigger]["runtimeConfiguration"]["concurrency"] == {
        "runs": 7,
        "maximumWaitingRuns": 40,
    }
    loaded["triggers"][trigger]["runtimeConfiguration"].pop("concurrency")
    on_disk["triggers"][trigger].setdefault("runtimeConfiguration", {}).pop("concurrency", None)
    assert loaded == on_disk


def test_loading_twice_does_not_leak_one_stacks_values_into_the_other() -> None:
    first = wd.load_definition(NAMES[0], trigger_concurrency=5, maximum_waiting_runs=15)
    second = wd.load_definition(NAMES[0], trigger_concurrency=25, maximum_waiting_runs=50)
    trigger = wd.trigger_name(NAMES[0])
    assert first["triggers"][trigger]["runtimeConfiguration"]["concurrency"]["runs"] == 5
    assert second["triggers"][trigger]["runtimeConfiguration"]["concurrency"]["runs"] == 25


@pytest.mark.parametrize(
    ("runs", "waiting", "message"),
    [
        (0, 20, "trigger concurrency must be 1..100"),
        (101, 100, "trigger concurrency must be 1..100"),
        (10, 19, "maximumWaitingRuns must be 20..100"),
        (10, 101, "maximumWaitingRuns must be 20..100"),
    ],
)
def test_concurrency_outside_azures_limits_is_refused(runs: int, waiting: int, message: str) -> None:
    with pytest.raises(wd.WorkflowDefinitionError, match=message):
        wd.load_definition(NAMES[0], trigger_concurrency=runs, maximum_waiting_runs=waiting)


def test_missing_file_is_named(workflows_dir: Path) -> None:
    with pytest.raises(wd.WorkflowDefinitionError, match=r"nowhere\.json does not exist"):
        wd.trigger_name("nowhere")


def test_invalid_json_is_named_with_the_file(workflows_dir: Path) -> None:
    (workflows_dir / "broken.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(wd.WorkflowDefinitionError, match=r"broken\.json is not valid JSON"):
        wd.declared_parameters("broken")


def test_a_second_trigger_is_refused(workflows_dir: Path) -> None:
    write(workflows_dir, "two", {"triggers": {"a": {"type": "Request"}, "b": {"type": "Recurrence"}}})
    with pytest.raises(wd.WorkflowDefinitionError, match=r"exactly one trigger, of type Request; found \['a', 'b'\]"):
        wd.trigger_name("two")


def test_loop_parallelism_must_be_set_on_purpose(workflows_dir: Path) -> None:
    write(workflows_dir, "default", {"triggers": {"t": {"type": "Request"}}, "actions": {"Loop": {"type": "Foreach"}}})
    with pytest.raises(wd.WorkflowDefinitionError, match="repetitions on purpose"):
        wd.loop_parallelism("default")


@pytest.mark.parametrize("name", NAMES)
def test_real_workflows_bound_their_loops(name: str) -> None:
    assert 1 <= wd.loop_parallelism(name) <= 50
