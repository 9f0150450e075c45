"""`orderbridge workflow show`: the flowchart is read off the definition and the billing off a run."""
from __future__ import annotations

import copy
import re

import pytest
from click.testing import CliRunner

from infra.workflow_definitions import WORKFLOWS_DIR
from orderbridge.cli import main
from orderbridge.workflow_view import EVERY_ORDER, WHEN_RUN, build_view, load_workflow_file, show, render_text
from topology import ECP_TO_ERP, PIPELINES

WORKFLOW_NAMES = [p.workflow_name for p in PIPELINES]
README = WORKFLOWS_DIR / "README.md"


def embedded_mermaid(name: str) -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(rf"<!-- workflow-show: {re.escape(name)} -->\n```mermaid\n(.*?)\n```\n<!-- /workflow-show -->",
                      text, re.DOTALL)
    assert found, f"workflows/README.md has no Mermaid block for {name}"
    return found.group(1)


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_the_readme_embeds_the_current_flowchart_of_each_workflow(name: str) -> None:
    assert embedded_mermaid(name) == show(load_workflow_file(name), name, "mermaid"), (
        f"workflows/README.md is stale: paste `orderbridge workflow show {name} --format mermaid`"
    )


def billing_of(view_text: str) -> dict[str, str]:
    """Action name -> its billing note, from the text tree."""
    return {m.group(1): m.group(2) for m in re.finditer(r"(\w+)  .*?(billed on the happy path|billed only when it runs)",
                                                        view_text)}


def test_actions_the_happy_path_runs_are_billed_on_it_and_the_failure_paths_only_when_they_run() -> None:
    name = ECP_TO_ERP.workflow_name
    billing = billing_of(show(load_workflow_file(name), name, "text"))

    assert billing["Get_order_from_ECP"] == billing["Send_order_to_queue"] == EVERY_ORDER
    assert billing["Classify_failure"] == billing["Park_event"] == billing["Respond_with_retry"] == WHEN_RUN


def test_an_action_added_to_the_happy_path_is_measured_as_billed_and_raises_the_cost() -> None:
    name = ECP_TO_ERP.workflow_name
    definition = copy.deepcopy(load_workflow_file(name))
    loop = definition["actions"]["For_each_event"]["actions"]
    loop["Note_the_order"] = {"type": "Compose", "inputs": "@items('For_each_event')?['id']",
                              "runAfter": {"Send_order_to_queue": ["Succeeded"]}}

    text = show(definition, name, "text")

    assert billing_of(text)["Note_the_order"] == EVERY_ORDER
    assert "Note_the_order  Compose · billed on the happy path  after Send_order_to_queue: Succeeded" in text
    assert text.splitlines()[0] == f"{name} (billable executions: 6 for 1 event, 33 for 10 events)"


BRANCHY = {
    "triggers": {"manual": {"type": "Request", "kind": "Http"}},
    "actions": {
        "Check": {
            "type": "If", "expression": "@equals(1, 1)",
            "actions": {"end": {"type": "Compose", "inputs": "yes"}},
            "else": {"actions": {"Other": {"type": "Compose", "inputs": "no"}}},
        },
        "Each": {"type": "Foreach", "foreach": "@createArray(1, 2)", "operationOptions": "Sequential",
                 "runAfter": {"Check": ["Succeeded", "Failed"]},
                 "actions": {"Inner": {"type": "Compose", "inputs": "@item()"}}},
    },
}


def test_branches_loops_and_edges_are_drawn_and_an_unmeasured_workflow_says_so() -> None:
    text = show(BRANCHY, "branchy", "text")
    mermaid = show(BRANCHY, "branchy", "mermaid")

    assert "happy path not measured: no pipeline declares workflow 'branchy'" in text.splitlines()[0]
    assert "[if true]" in text and "[if false]" in text
    assert "Each  Foreach · loop, one at a time · billed only when it runs  after Check: Failed, Succeeded" in text
    assert 'a_Check -->|"Failed, Succeeded"| a_Each' in mermaid
    assert 'subgraph a_Check__0 ["if true"]' in mermaid and 'subgraph a_Check__1 ["if false"]' in mermaid
    # An action named like a Mermaid keyword still gets its own node.
    assert re.search(r'^\s+a_end\["end<br/>', mermaid, re.MULTILINE)
    assert "  a_manual --> a_Check\n" in mermaid and "a_manual --> a_Each" not in mermaid


def test_the_loop_concurrency_of_the_file_is_shown() -> None:
    view = build_view(load_workflow_file(ECP_TO_ERP.workflow_name), ECP_TO_ERP.workflow_name)

    assert "loop, 10 in parallel" in render_text(view)


def test_an_unknown_workflow_is_an_error_that_lists_the_known_ones() -> None:
    result = CliRunner().invoke(main, ["workflow", "show", "order-event-processor"])

    assert result.exit_code == 1
    assert "no workflow 'order-event-processor'" in result.output
    assert all(name in result.output for name in WORKFLOW_NAMES)


def test_the_command_prints_mermaid() -> None:
    result = CliRunner().invoke(main, ["workflow", "show", ECP_TO_ERP.workflow_name, "--format", "mermaid"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == embedded_mermaid(ECP_TO_ERP.workflow_name)
