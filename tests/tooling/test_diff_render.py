"""`orderbridge diff` on desired states built here: secrets stay out of every form, data holders are
flagged, and the markdown fits one GitHub comment however large the change."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from orderbridge.diff import (
    GITHUB_COMMENT_LIMIT,
    MARKDOWN_BUDGET,
    DiffError,
    DiffReport,
    compare_states,
    render_json,
    render_markdown,
    render_text,
)
from orderbridge.diff._states import baseline_state
from orderbridge.synth import REDACTED
from orderbridge.workflow_view import load_workflow_file
from topology import ECP_TO_ERP

PLAIN_KEY = "plain-9d1e-looks-like-an-api-key"


def resource(type_: str, logical_name: str, **inputs: Any) -> dict[str, Any]:
    return {"type": f"azure-native:{type_}", "name": logical_name, "parent": None, "inputs": inputs}


def app(*settings: tuple[str, Any], **inputs: Any) -> dict[str, Any]:
    return resource("web:WebApp", "integrator-app", name="func-x",
                    siteConfig={"appSettings": [{"name": n, "value": v} for n, v in settings]}, **inputs)


def report_of(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> DiffReport:
    return DiffReport("base", "working tree", (compare_states("dev", before, after),))


def every_form(report: DiffReport) -> str:
    return render_markdown(report) + render_text(report) + render_json(report)


def test_secret_values_are_never_shown_only_that_they_changed() -> None:
    before = [app(("ERP_API_KEY", "@Microsoft.KeyVault(VaultName=kv;SecretName=erp-api-key)"),
                  ("PAYMENT_API_KEY", "old-plain-value"), ("ERP_BASE_URL", "https://erp.example/a")),
              resource("keyvault:Secret", "erp-key", properties={"value": REDACTED})]
    after = [app(("ERP_API_KEY", "@Microsoft.KeyVault(VaultName=kv;SecretName=erp-api-key-2)"),
                 ("PAYMENT_API_KEY", PLAIN_KEY), ("ERP_BASE_URL", "https://erp.example/b")),
             resource("keyvault:Secret", "erp-key", properties={"value": PLAIN_KEY})]

    report = report_of(before, after)
    shown = {s.name: (s.before, s.after, s.hidden) for s in report.stacks[0].settings}

    assert PLAIN_KEY not in every_form(report) and "old-plain-value" not in every_form(report)
    assert shown["PAYMENT_API_KEY"][2] and shown["ERP_BASE_URL"] == ("https://erp.example/a", "https://erp.example/b",
                                                                     False)
    assert shown["ERP_API_KEY"][1].endswith("SecretName=erp-api-key-2)")  # a reference is not the secret
    (secret,) = next(r for r in report.stacks[0].resources if r.name == "erp-key").changes
    assert secret.path == "properties.value"
    assert secret.before == secret.after == "(secret, not shown)"  # it was a secret: the new value may be one


@pytest.mark.parametrize("type_, name_input", [("servicebus:Namespace", "namespaceName"),
                                               ("eventgrid:Topic", "topicName"), ("keyvault:Vault", "vaultName")])
def test_renaming_or_removing_a_data_holder_is_data_loss(type_: str, name_input: str) -> None:
    before = [resource(type_, "holder", **{name_input: "old", "location": "westeurope"})]
    renamed = [resource(type_, "holder", **{name_input: "new", "location": "westeurope"})]

    (rename,) = compare_states("dev", before, renamed).data_loss
    (removal,) = compare_states("dev", before, []).data_loss

    assert f"{name_input} old -> new cannot change in place" in rename.reason and "REPLACES" in rename.reason
    assert "is no longer in the program" in removal.reason and "DELETES" in removal.reason


def test_changes_to_other_resources_lose_no_data() -> None:
    before = [resource("monitor:MetricAlert", "backlog", ruleName="a", location="global")]
    after = [resource("monitor:MetricAlert", "backlog", ruleName="b", location="westeurope")]

    stack = compare_states("dev", before, after)

    assert not stack.data_loss and [r.kind for r in stack.resources] == ["changed"]


def test_a_role_assignment_renamed_without_changing_the_grant_is_no_access_change() -> None:
    grant = {"principalId": "p-1", "principalType": "User", "scope": "/subscriptions/s/providers/x/queues/q",
             "roleDefinitionId": "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/"
                                 "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"}
    moved = compare_states("dev", [resource("authorization:RoleAssignment", "old-name", **grant)],
                           [resource("authorization:RoleAssignment", "new-name", **grant)])
    granted = compare_states("dev", [], [resource("authorization:RoleAssignment", "new-name", **grant)])

    assert not moved.access
    assert [(a.gained, a.role, a.resource) for a in granted.access] == [
        (True, "Azure Service Bus Data Sender", "queue q")]


def workflow_state(definition: dict[str, Any]) -> list[dict[str, Any]]:
    return [resource("logic:Workflow", "ecp-to-erp-workflow", workflowName=ECP_TO_ERP.workflow_name,
                     definition=definition)]


def balanced(markdown: str) -> bool:
    fences = [line for line in markdown.splitlines() if re.match(r"`{3,}", line)]
    return markdown.count("<details>") == markdown.count("</details>") and len(fences) % 2 == 0


def test_a_large_workflow_change_drops_the_flowcharts_first() -> None:
    before = load_workflow_file(ECP_TO_ERP.workflow_name)
    after = copy.deepcopy(before)
    # Actions after the retry answer: never on the happy path, so the measured cost stays the same.
    for n in range(400):
        after["actions"][f"Step_{n:03d}"] = {"type": "Compose", "inputs": f"@string({n})",
                                             "runAfter": {"Respond_with_retry": ["Succeeded"]}}
    report = report_of(workflow_state(before), workflow_state(after))

    markdown = render_markdown(report)

    assert len(markdown) <= MARKDOWN_BUDGET < GITHUB_COMMENT_LIMIT
    assert "```mermaid" not in markdown and "the flowcharts are left out" in markdown
    assert "- added `Step_399` (Compose)" in markdown and balanced(markdown)
    assert "billable executions 5 → 5 for 1 event, 23 → 23 for 10 events" in markdown


def test_a_huge_change_is_cut_with_a_note_and_every_section_closed() -> None:
    after = [resource("authorization:RoleAssignment", f"grant-{n}", principalId=f"{n:08d}-0000-0000-0000-000000000000",
                      principalType="User", roleDefinitionId=f"/r/{n}", scope=f"/s/providers/x/queues/q{n}")
             for n in range(3000)]

    markdown = render_markdown(report_of([], after))

    assert len(markdown) <= MARKDOWN_BUDGET
    assert balanced(markdown)
    assert markdown.rstrip().endswith("`orderbridge diff --format text` prints all of it.")
    assert "the rest of the diff are left out" in markdown


@pytest.mark.parametrize("content, message", [("not json", "is not JSON"),
                                              ('{"type": "x"}', "is not a list of resources"),
                                              ('[{"type": "x", "name": "y"}]', "resource #0 has no")])
def test_a_baseline_that_is_not_a_snapshot_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "dev.json"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(DiffError, match=message):
        baseline_state(path)


def test_json_leaves_out_the_absent_side_of_a_change() -> None:
    report = report_of([resource("servicebus:Queue", "q", queueName="q")],
                       [resource("servicebus:Queue", "q", queueName="q", maxDeliveryCount=5)])

    (change,) = json.loads(render_json(report))["stacks"][0]["resources"][0]["changes"]

    assert change == {"path": "maxDeliveryCount", "after": 5}


def test_a_trigger_concurrency_change_is_a_change_of_the_trigger() -> None:
    before = load_workflow_file(ECP_TO_ERP.workflow_name)
    after = copy.deepcopy(before)
    (trigger,) = after["triggers"].values()
    trigger["runtimeConfiguration"] = {"concurrency": {"runs": 25, "maximumWaitingRuns": 50}}

    report = report_of(workflow_state(before), workflow_state(after))
    ((workflow,),) = [stack.workflows for stack in report.stacks]

    (action,) = workflow.actions
    assert (action.kind, action.container) == ("changed", "(trigger)")
    assert [c.path for c in action.changes] == ["runtimeConfiguration"]
    assert "(Request, the trigger)" in render_markdown(report)
    assert "25 runs at once, 50 waiting" in workflow.flowchart_after and "runs at once" not in workflow.flowchart_before
