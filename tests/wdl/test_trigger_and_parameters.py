"""The Request trigger (method, relative path, schema validation) and workflow parameters."""
from __future__ import annotations

import pytest

from orderbridge.wdl import DefinitionError, TriggerInput, VirtualClock, run

from tests.wdl.helpers import definition

ECHO = {"Echo": {"type": "Compose", "runAfter": {}, "inputs": {
    "body": "@triggerBody()", "headers": "@triggerOutputs()['headers']", "path": "@triggerOutputs()?['relativePathParameters']",
    "queries": "@triggerOutputs()?['queries']"}}}


def test_trigger_outputs_carry_body_headers_queries_and_path_parameters() -> None:
    trigger = {"type": "Request", "kind": "Http",
               "inputs": {"method": "POST", "relativePath": "/orders/{orderId}/lines/{line}"}}
    result = run(definition(ECHO, trigger=trigger), clock=VirtualClock(), trigger=TriggerInput(
        body=[{"id": 1}], headers={"aeg-event-type": "Notification"}, relative_path="/orders/O-1/lines/3",
        queries={"sig": "abc"}))
    assert result.action("Echo").outputs == {"body": [{"id": 1}], "headers": {"aeg-event-type": "Notification"},
                                             "path": {"orderId": "O-1", "line": "3"}, "queries": {"sig": "abc"}}
    assert result.trigger.status == "Succeeded"


def test_relative_path_parameters_reach_the_workflow_percent_decoded() -> None:
    trigger = {"type": "Request", "kind": "Http", "inputs": {"method": "GET", "relativePath": "/items/{word}"}}
    result = run(definition(ECHO, trigger=trigger), clock=VirtualClock(),
                 trigger=TriggerInput(method="GET", relative_path="/items/wow%25wee%3f"))
    assert result.action("Echo").outputs["path"] == {"word": "wow%wee?"}


def test_a_request_with_the_wrong_method_does_not_start_the_run() -> None:
    result = run(definition(ECHO), trigger=TriggerInput(method="GET"), clock=VirtualClock())
    assert result.status == "Failed"
    assert result.response is not None and result.response.status_code == 405
    assert result.all_records == []


def test_schema_validation_rejects_a_mismatching_body_when_enabled() -> None:
    trigger = {"type": "Request", "kind": "Http", "operationOptions": "EnableSchemaValidation",
               "inputs": {"method": "POST", "schema": {"type": "array"}}}
    rejected = run(definition(ECHO, trigger=trigger), trigger=TriggerInput(body={"not": "array"}), clock=VirtualClock())
    assert rejected.response is not None and rejected.response.status_code == 400
    assert rejected.trigger.error_code == "TriggerInputSchemaMismatch"
    accepted = run(definition(ECHO, trigger=trigger), trigger=TriggerInput(body=[]), clock=VirtualClock())
    assert accepted.status == "Succeeded"


def test_without_schema_validation_any_body_is_accepted_as_in_azure() -> None:
    trigger = {"type": "Request", "kind": "Http", "inputs": {"method": "POST", "schema": {"type": "array"}}}
    result = run(definition(ECHO, trigger=trigger), trigger=TriggerInput(body={"x": 1}), clock=VirtualClock())
    assert result.status == "Succeeded"


def test_parameters_use_given_values_then_defaults() -> None:
    actions = {"Show": {"type": "Compose", "inputs": "@{parameters('base')}/@{parameters('queue')}", "runAfter": {}}}
    declared = {"base": {"type": "String"}, "queue": {"type": "String", "defaultValue": "online-orders"}}
    result = run(definition(actions, parameters=declared), trigger=TriggerInput(), parameters={"base": "http://x"},
                 clock=VirtualClock())
    assert result.action("Show").outputs == "http://x/online-orders"


def test_parameter_problems_are_reported_together() -> None:
    declared = {"base": {"type": "String"}, "count": {"type": "Int"}}
    with pytest.raises(DefinitionError) as caught:
        run(definition({}, parameters=declared), trigger=TriggerInput(), parameters={"count": "3", "typo": 1},
            clock=VirtualClock())
    message = str(caught.value)
    assert "'typo' is not declared" in message
    assert "'base' has no value" in message
    assert "'count' must be of type Int" in message


def test_workflow_outputs_are_evaluated_on_success() -> None:
    result = run(definition({"Make": {"type": "Compose", "inputs": 5, "runAfter": {}}},
                            outputs={"made": {"type": "Int", "value": "@outputs('Make')"}}),
                 trigger=TriggerInput(), clock=VirtualClock(), workflow_name="wf", run_id="R1")
    assert result.outputs == {"made": 5}
    assert result.run_id == "R1"


def test_workflow_function_describes_the_run() -> None:
    result = run(definition({"Who": {"type": "Compose", "inputs": "@workflow()", "runAfter": {}}}),
                 trigger=TriggerInput(), clock=VirtualClock(), workflow_name="order-events-processor", run_id="R9")
    info = result.action("Who").outputs
    assert (info["name"], info["run"]["name"]) == ("order-events-processor", "R9")


def test_unsupported_action_type_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError, match="action type 'Function' is not supported"):
        run(definition({"F": {"type": "Function", "inputs": {}}}), trigger=TriggerInput(), clock=VirtualClock())


def test_split_on_is_refused_rather_than_ignored() -> None:
    trigger = {"type": "Request", "kind": "Http", "inputs": {"method": "POST"}, "splitOn": "@triggerBody()"}
    with pytest.raises(DefinitionError, match="splitOn"):
        run(definition({}, trigger=trigger), trigger=TriggerInput(body=[1, 2]), clock=VirtualClock())


def test_failing_workflow_outputs_fail_the_run_with_the_reason() -> None:
    result = run(definition({}, outputs={"bad": {"type": "Int", "value": "@div(1, 0)"}}), trigger=TriggerInput(),
                 clock=VirtualClock())
    assert (result.status, result.error_code) == ("Failed", "InvalidTemplate")
    assert "outputs.bad" in result.error_message


def test_a_parameter_default_that_is_an_arm_template_expression_is_named_as_such() -> None:
    templated = definition(ECHO, parameters={"retries": {"type": "Int", "defaultValue": "[parameters('retries')]"}})
    with pytest.raises(DefinitionError) as raised:
        run(templated, trigger=TriggerInput(), clock=VirtualClock())
    assert raised.value.reason == (
        "workflow parameters are wrong: 'retries' is \"[parameters('retries')]\", an ARM template expression that "
        "Resource Manager replaces when the template is deployed; pass the deployed value. Pass parameters={...} "
        "matching the definition's 'parameters'")
