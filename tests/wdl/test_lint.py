"""lint(): each defect of the issue is caught in a seeded bad definition, with its action path."""
from __future__ import annotations

from typing import Any

import pytest

from orderbridge.wdl import lint
from infra.workflow_definitions import WORKFLOWS_DIR

from tests.wdl.helpers import definition


def compose(value: Any, run_after: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"type": "Compose", "inputs": value, "runAfter": run_after or {}}


def problems(found: list[Any]) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in found]


def test_a_clean_definition_has_no_problems() -> None:
    clean = definition({
        "Init": {"type": "InitializeVariable", "runAfter": {},
                 "inputs": {"variables": [{"name": "n", "type": "integer", "value": 0}]}},
        "Get": {"type": "Http", "runAfter": {"Init": []},
                "inputs": {"method": "GET", "uri": "@{parameters('base')}/x?n=@{variables('n')}"}},
        "Each": {"type": "Foreach", "foreach": "@body('Get')", "runAfter": {"Get": []}, "actions": {
            "Inner": compose("@items('Each')"), "Next": compose("@outputs('Inner')", {"Inner": []})}},
        "Done": compose("@body('Get')", {"Each": ["Succeeded", "Failed"]}),
    }, parameters={"base": {"type": "String"}})
    assert lint(clean) == []


@pytest.mark.parametrize(("actions", "path", "fragment"), [
    ({"A": compose("@concat('a'")}, "actions.A.inputs", "expected ')'"),
    ({"A": compose("x @{length(}")}, "actions.A.inputs", "ends too early"),
    ({"A": compose("@frobnicate(1)")}, "actions.A.inputs", "unknown function 'frobnicate'"),
    ({"A": compose(1, {"Ghost": []})}, "actions.A", "runAfter names 'Ghost'"),
    ({"A": compose(1, {"B": []}), "B": compose(1, {"A": []})}, "actions.A", "cycle"),
    ({"A": compose("@parameters('nope')")}, "actions.A.inputs", "parameters('nope') is not declared"),
    ({"A": compose("@body('Missing')")}, "actions.A.inputs", "body('Missing') names an action that does not exist"),
    ({"A": compose("@outputs('B')"), "B": compose(1)}, "actions.A.inputs", "cannot have run before 'A'"),
    ({"A": compose(1), "B": compose("@body('A')", {"C": []}), "C": compose(1)}, "actions.B.inputs",
     "body('A') names an action that cannot have run before 'B'"),
    ({"A": {"type": "Function", "inputs": {}}}, "actions.A", "action type 'Function' is not supported"),
    ({"A": compose("@variables('never')")}, "actions.A.inputs", "variables('never') is never initialized"),
    ({"A": compose("@items('Nope')")}, "actions.A.inputs", "does not name an enclosing loop"),
    ({"A": {"type": "Scope", "runAfter": {}, "actions": {"Deep": compose("@body('Gone')")}}},
     "actions.A.actions.Deep.inputs", "does not exist"),
    ({"A": compose(1, {"B": ["Sometimes"]}), "B": compose(1)}, "actions.A", "unknown status"),
    ({"A": {**compose(1), "runtimeConfiguration": {"secureData": {"properties": ["outputs"]}}}}, "actions.A",
     "Compose actions don't support securing outputs"),
    ({"A": {"type": "Scope", "actions": {}, "runtimeConfiguration": {"secureData": {"properties": ["inputs"]}}}},
     "actions.A", "Scope actions don't support securing inputs"),
    ({"A": {**compose(1), "trackedProperties": {"x": 1},
            "runtimeConfiguration": {"secureData": {"properties": ["inputs"]}}}}, "actions.A", "trackedProperties"),
    ({"A": {"type": "Http", "inputs": {"method": "GET", "uri": "http://x",
                                       "retryPolicy": {"type": "fixed", "count": 3, "interval": "PT1S"}}}},
     "actions.A", "must be between PT5S and P1D"),
    ({"A": {"type": "Http", "inputs": {"method": "GET", "uri": "http://x"}, "limit": {"timeout": "10s"}}},
     "actions.A", "not an ISO 8601 duration"),
    ({"A": {"type": "Foreach", "foreach": "@createArray(1)", "actions": {},
            "runtimeConfiguration": {"concurrency": {"repetitions": 0}}}}, "actions.A", "repetitions must be 1..50"),
    ({"A": {"type": "Until", "expression": "@true", "actions": {}, "limit": {"count": 0}}}, "actions.A",
     "limit.count must be 1..5000"),
])
def test_each_seeded_defect_is_reported_at_its_path(actions: dict[str, Any], path: str, fragment: str) -> None:
    found = problems(lint(definition(actions)))
    assert any(p == path and fragment in m for p, m in found), found


def test_schema_and_content_version_are_optional() -> None:
    """The schema reference marks both optional: a definition without them deploys."""
    bare = definition({"A": compose(1)})
    del bare["$schema"], bare["contentVersion"]
    assert lint(bare) == []


def test_inner_actions_of_a_finished_container_can_be_referenced_after_it() -> None:
    ok = definition({"Try": {"type": "Scope", "runAfter": {}, "actions": {"Step": compose(1)}},
                     "Poll": {"type": "Until", "expression": "@true", "runAfter": {}, "actions": {"Check": compose(2)}},
                     "After": compose("@outputs('Step')", {"Try": ["Failed"]}),
                     "Polled": compose("@outputs('Check')", {"Poll": []})})
    assert lint(ok) == []


def test_actions_inside_a_foreach_cannot_be_read_from_outside_it() -> None:
    bad = definition({"Each": {"type": "Foreach", "foreach": "@createArray(1)", "runAfter": {},
                               "actions": {"Step": compose(1), "Same_loop": compose("@outputs('Step')", {"Step": []})}},
                      "After": compose("@outputs('Step')", {"Each": []})})
    assert problems(lint(bad)) == [("actions.After.inputs", "outputs('Step') reads an action inside Foreach 'Each', "
                                                             "which has one result per iteration; read it inside "
                                                             "that loop")]


def test_unsupported_trigger_is_reported() -> None:
    bad = definition({}, trigger={"type": "Recurrence", "recurrence": {"frequency": "Minute", "interval": 1}})
    assert problems(lint(bad)) == [("triggers.manual", "trigger type 'Recurrence' is not supported (Request only)")]


@pytest.mark.parametrize("name", ["order-events-processor", "erp-events-processor"])
def test_the_project_workflows_lint_clean(name: str) -> None:
    import json

    workflow = json.loads((WORKFLOWS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    assert problems(lint(workflow)) == []


def test_split_on_with_a_response_action_is_reported() -> None:
    trigger = {"type": "Request", "kind": "Http", "inputs": {"method": "POST"}, "splitOn": "@triggerBody()"}
    bad = definition({"Reply": {"type": "Response", "inputs": {"statusCode": 200}, "runAfter": {}}}, trigger=trigger)
    assert problems(lint(bad)) == [("triggers.manual",
                                    "splitOn cannot be combined with a Response action (actions.Reply)")]


def loop(kind: str, inner: dict[str, Any]) -> dict[str, Any]:
    if kind == "Foreach":
        return {"type": "Foreach", "foreach": "@triggerBody()", "runAfter": {}, "actions": inner}
    return {"type": "Until", "expression": "@equals(1, 1)", "limit": {"count": 2}, "runAfter": {}, "actions": inner}


RESPOND = {"type": "Response", "kind": "Http", "inputs": {"statusCode": 200}, "runAfter": {}}
STOP = {"type": "Terminate", "inputs": {"runStatus": "Cancelled"}, "runAfter": {}}
INIT = {"type": "InitializeVariable", "runAfter": {}, "inputs": {"variables": [{"name": "n", "type": "integer"}]}}


@pytest.mark.parametrize("kind", ["Foreach", "Until"])
@pytest.mark.parametrize(("name", "action"), [("Respond", RESPOND), ("Stop", STOP)])
def test_response_and_terminate_inside_a_loop_are_reported(kind: str, name: str, action: dict[str, Any]) -> None:
    """Azure refuses these on save (logic-apps-workflow-actions-triggers#response-action, #terminate-action)."""
    found = problems(lint(definition({"Loop": loop(kind, {"Scope": {
        "type": "Scope", "runAfter": {}, "actions": {name: action}}})})))
    assert found == [(f"actions.Loop.actions.Scope.actions.{name}",
                      f"a {action['type']} action cannot be inside the {kind} loop 'Loop'; move it after the loop")]


def test_response_and_terminate_outside_loops_are_fine() -> None:
    found = lint(definition({"Scope": {"type": "Scope", "runAfter": {}, "actions": {"Respond": RESPOND}},
                             "Stop": {**STOP, "runAfter": {"Scope": ["Failed"]}}}))
    assert found == []


def test_initialize_variable_below_the_top_level_is_reported() -> None:
    found = problems(lint(definition({"Scope": {"type": "Scope", "runAfter": {}, "actions": {"Init": INIT}}})))
    assert found == [("actions.Scope.actions.Init",
                      "InitializeVariable must be a top-level action, not inside 'Scope'; "
                      "move it to the workflow's top level")]


def test_expressions_in_the_trigger_are_checked() -> None:
    trigger = {"type": "Request", "kind": "Http",
               "inputs": {"method": "POST", "relativePath": "@{parameters('nope')}/@{body('Make')}"},
               "conditions": [{"expression": "@frobnicate(1)"}]}
    found = problems(lint(definition({"Make": compose(1)}, trigger=trigger)))
    assert [path for path, _ in found] == ["triggers.manual.inputs.relativePath"] * 2 + [
        "triggers.manual.conditions[0].expression"]
    assert "parameters('nope') is not declared" in found[0][1]
    assert "body('Make') names an action that cannot have run before" in found[1][1]
    assert "unknown function 'frobnicate'" in found[2][1]


def test_expressions_in_the_workflow_outputs_are_checked() -> None:
    outputs = {"good": {"type": "String", "value": "@outputs('Make')"},
               "bad": {"type": "String", "value": "@{parameters('nope')}@{outputs('Ghost')}@{outputs('Inner')}"}}
    actions = {"Make": compose(1), "Each": {"type": "Foreach", "foreach": "@triggerBody()", "runAfter": {},
                                            "actions": {"Inner": compose(2)}}}
    found = problems(lint(definition(actions, outputs=outputs)))
    assert [path for path, _ in found] == ["outputs.bad.value"] * 3
    assert "parameters('nope') is not declared" in found[0][1]
    assert "outputs('Ghost') names an action that does not exist" in found[1][1]
    assert "outputs('Inner') reads an action inside Foreach 'Each'" in found[2][1]


def test_an_expression_in_runtime_configuration_is_reported() -> None:
    """runtimeConfiguration takes literals (trigger concurrency is set when the file is loaded)."""
    trigger = {"type": "Request", "kind": "Http", "inputs": {"method": "POST"},
               "runtimeConfiguration": {"concurrency": {"runs": "@parameters('runs')"}}}
    each = {"type": "Foreach", "foreach": "@triggerBody()", "runAfter": {}, "actions": {},
            "runtimeConfiguration": {"concurrency": {"repetitions": "1@{parameters('runs')}"}}}
    found = problems(lint(definition({"Each": each}, trigger=trigger, parameters={"runs": {"type": "Int"}})))
    paths = [path for path, message in found if "takes literals" in message]
    assert paths == ["triggers.manual.runtimeConfiguration.concurrency.runs",
                     "actions.Each.runtimeConfiguration.concurrency.repetitions"]


def test_an_until_condition_may_read_the_actions_inside_the_loop() -> None:
    """The reference's own Until example tests `outputs('HTTP')` of the HTTP action inside the loop."""
    loop = definition({"Poll": {"type": "Until", "expression": "@equals(outputs('Count'), 3)", "limit": {"count": 5},
                                "actions": {"Count": compose("@iterationIndexes('Poll')")}},
                       "After": compose("@outputs('Count')", {"Poll": []})})
    assert lint(loop) == []


def test_only_the_until_condition_may_read_inside_the_loop_before_it_runs() -> None:
    loop = definition({"Poll": {"type": "Until", "expression": "@true", "limit": {"count": 1},
                                "actions": {"Count": compose(1)}},
                       "Before": compose("@outputs('Count')")})
    assert problems(lint(loop)) == [("actions.Before.inputs", "outputs('Count') names an action that cannot have "
                                                              "run before 'Before'; add it to the runAfter chain")]


def test_an_until_limit_from_parameters_is_checked_as_an_expression() -> None:
    loop = {"Poll": {"type": "Until", "expression": "@true", "limit": {"count": "@parameters('attempts')"},
                     "actions": {"Tick": compose(1)}}}
    assert lint(definition(loop, parameters={"attempts": {"type": "Int", "defaultValue": 3}})) == []
    assert problems(lint(definition(loop))) == [
        ("actions.Poll.limit.count", "parameters('attempts') is not declared in the definition's parameters "
                                     "(declared: [])")]


def test_a_documented_function_the_engine_lacks_is_named_as_unsupported_not_unknown() -> None:
    found = problems(lint(definition({"A": compose("@xpath(xml(triggerBody()), '/a')")})))
    assert found == [("actions.A.inputs", f"the function '{name}' is not supported by orderbridge.wdl (it is a "
                                          "Workflow Definition Language function) "
                                          "(in \"xpath(xml(triggerBody()), '/a')\")")
                     for name in ("xml", "xpath")]


def test_arm_template_expressions_are_named_as_deploy_time_text_in_every_position() -> None:
    templated = definition(
        {"Show": compose("[variables('greeting')]"), "Literal": compose("[[not an expression]"),
         "Poll": {"type": "Until", "expression": "@true", "limit": {"count": "[parameters('attempts')]"},
                  "actions": {}}},
        parameters={"base": {"type": "String", "defaultValue": "[parameters('baseUrl')]"}},
        trigger={"type": "Request", "kind": "Http", "inputs": {"method": "GET", "relativePath": "[variables('path')]"}},
        outputs={"id": {"type": "String", "value": "[resourceGroup().id]"}})
    found = [(path, message.split(" is an ARM")[0]) for path, message in problems(lint(templated))]
    assert found == [("parameters.base.defaultValue", '"[parameters(\'baseUrl\')]"'),
                     ("triggers.manual.inputs.relativePath", '"[variables(\'path\')]"'),
                     ("actions.Show.inputs", '"[variables(\'greeting\')]"'),
                     ("actions.Poll.limit.count", '"[parameters(\'attempts\')]"'),
                     ("outputs.id.value", "'[resourceGroup().id]'")]
    assert problems(lint(templated))[0][1].endswith(
        "is an ARM template expression, evaluated by Resource Manager when the template is deployed, not Workflow "
        "Definition Language; lint and run the definition as deployed, or use @parameters('…') for a workflow "
        "parameter")


def test_encode_uri_component_with_extra_arguments_is_reported_precisely_not_refused() -> None:
    found = problems(lint(definition({"A": compose("@{encodeURIComponent('a b', 'c')}")})))
    assert found == [("actions.A.inputs", (
        "encodeURIComponent() is documented with 1 argument(s) but is given 2 (https://learn.microsoft.com/azure/"
        "logic-apps/workflow-definition-language-functions-reference#encodeUriComponent); Azure deploys such calls, "
        "but what it does with the other arguments is not documented, so orderbridge.wdl fails this expression "
        "when it is evaluated (in \"encodeURIComponent('a b', 'c')\")"))]


def test_a_loop_name_differing_only_in_case_is_reported_with_what_the_docs_leave_open() -> None:
    loop = definition({"For_each": {"type": "Foreach", "foreach": "@createArray(1)",
                                    "actions": {"Show": compose("@items('For_Each')")}}})
    assert problems(lint(loop)) == [("actions.For_each.actions.Show.inputs", (
        "items('For_Each') does not name an enclosing loop; 'For_each' differs only in letter case: the docs do "
        "not say whether Azure matches action and loop names case-insensitively, so orderbridge.wdl matches them "
        "exactly"))]
