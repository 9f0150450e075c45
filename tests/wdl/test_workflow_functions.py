"""Workflow functions against the documented examples of the function reference
(https://learn.microsoft.com/azure/logic-apps/workflow-definition-language-functions-reference)."""
from __future__ import annotations

from typing import Any

import pytest

from orderbridge.wdl import (
    EvaluationContext,
    ExpressionEvaluationError,
    HttpResponse,
    TriggerInput,
    VirtualClock,
    evaluate,
    run,
)

from tests.wdl.helpers import FakeServer, definition

GET_USER_HEADERS = {"Pragma": "no-cache", "Content-Type": "application/json; charset=utf-8", "Content-Length": "339"}
GET_USER_BODY = {"FullName": "Contoso Corporation", "Location": "Generic Town, USA", "Id": 283541717,
                 "UserName": "ContosoInc", "FollowersCount": 172, "StatusesCount": 93, "FriendsCount": 126,
                 "FavouritesCount": 46}


def compose(value: Any, run_after: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"type": "Compose", "inputs": value, "runAfter": run_after or {}}


def test_outputs_action_outputs_body_and_action_body_of_get_user() -> None:
    clock = VirtualClock()
    server = FakeServer(clock).reply("https://twitter/", HttpResponse(200, GET_USER_HEADERS, GET_USER_BODY))
    after = {"Get_user": ["Succeeded"]}
    result = run(definition({
        "Get_user": {"type": "Http", "inputs": {"method": "GET", "uri": "https://twitter/users/ContosoInc"},
                     "runAfter": {}},
        "Outputs": compose("@outputs('Get_user')", after),
        "Action_outputs": compose("@actionOutputs('Get_user')", after),
        "Body": compose("@body('Get_user')", after),
        "Action_body": compose("@actionBody('Get_user')", after),
        "Status": compose("@actions('Get_user').status", after),
    }), trigger=TriggerInput(), http=server, clock=clock)
    documented = {"statusCode": 200, "headers": GET_USER_HEADERS, "body": GET_USER_BODY}
    assert result.action("Outputs").outputs == documented
    assert result.action("Action_outputs").outputs == documented
    assert result.action("Body").outputs == GET_USER_BODY
    assert result.action("Action_body").outputs == GET_USER_BODY
    assert result.action("Status").outputs == "Succeeded"


def test_parameters_full_name_example() -> None:
    context = EvaluationContext(parameters={"fullName": "Sophia Owen"})
    assert evaluate("@parameters('fullName')", context) == "Sophia Owen"


def test_variables_num_items_example() -> None:
    assert evaluate("@variables('numItems')", EvaluationContext(variables={"numItems": 20})) == 20


def test_iteration_indexes_documented_until_example() -> None:
    # The documented definition, verbatim apart from the trigger around it.
    actions = {
        "Create_counter_variable": {"type": "InitializeVariable", "inputs": {"variables": [
            {"name": "myCounter", "type": "Integer", "value": 0}]}, "runAfter": {}},
        "Create_current_index_variable": {"type": "InitializeVariable", "inputs": {"variables": [
            {"name": "myCurrentLoopIndex", "type": "Integer", "value": 0}]},
            "runAfter": {"Create_counter_variable": ["Succeeded"]}},
        "Until_Max_Increment": {
            "type": "Until",
            "actions": {
                "Assign_current_index_to_counter": {"type": "SetVariable", "inputs": {
                    "name": "myCurrentLoopIndex", "value": "@variables('myCounter')"},
                    "runAfter": {"Increment_variable": ["Succeeded"]}},
                "Compose": {"inputs": "'Current index: ' @{iterationIndexes('Until_Max_Increment')}",
                            "runAfter": {"Assign_current_index_to_counter": ["Succeeded"]}, "type": "Compose"},
                "Increment_variable": {"type": "IncrementVariable", "inputs": {"name": "myCounter", "value": 1},
                                       "runAfter": {}},
            },
            "expression": "@equals(variables('myCounter'), 5)",
            "limit": {"count": 60, "timeout": "PT1H"},
            "runAfter": {"Create_current_index_variable": ["Succeeded"]},
        },
        "Final_index": compose("@variables('myCurrentLoopIndex')", {"Until_Max_Increment": ["Succeeded"]}),
    }
    result = run(definition(actions), trigger=TriggerInput(), clock=VirtualClock())
    assert [r.outputs for r in result.records("Compose")] == [f"'Current index: ' {i}" for i in range(5)]
    assert result.action("Final_index").outputs == 5


def test_item_and_items_inside_a_for_each_loop() -> None:
    result = run(definition({"myForEachLoopName": {
        "type": "Foreach", "foreach": "@triggerBody()", "runAfter": {}, "actions": {
            "Send_an_email": compose({"body": "@item().body", "same": "@items('myForEachLoopName')"})}}}),
        trigger=TriggerInput(body=[{"body": "hi"}, {"body": "bye"}]), clock=VirtualClock())
    assert [r.outputs for r in result.records("Send_an_email")] == [
        {"body": "hi", "same": {"body": "hi"}}, {"body": "bye", "same": {"body": "bye"}}]


FEED = "https://feeds.a.dj.com/rss/RSSMarketsMain.xml"


def test_trigger_form_data_examples() -> None:
    form = "feedUrl=https%3A%2F%2Ffeeds.a.dj.com%2Frss%2FRSSMarketsMain.xml"
    context = EvaluationContext(trigger={"outputs": {"body": form}})
    assert evaluate("@triggerFormDataValue('feedUrl')", context) == FEED
    assert evaluate("@triggerFormDataMultiValues('feedUrl')", context) == [FEED]


def test_trigger_form_data_value_with_several_matches_is_an_error_as_documented() -> None:
    context = EvaluationContext(trigger={"outputs": {"body": "feedUrl=a&feedUrl=b"}})
    with pytest.raises(ExpressionEvaluationError, match="use triggerFormDataMultiValues"):
        evaluate("@triggerFormDataValue('feedUrl')", context)


def test_multipart_bodies() -> None:
    multipart = {"$content-type": "multipart/form-data",
                 "$multipart": [{"headers": {"Content-Disposition": "form-data; name=a"}, "body": "first"},
                                {"headers": {}, "body": {"$content": "c2Vjb25k"}}]}
    context = EvaluationContext(trigger={"outputs": {"body": multipart}},
                                actions={"Upload": {"outputs": {"body": multipart}}})
    assert evaluate("@triggerMultipartBody(0)", context) == "first"
    assert evaluate("@multipartBody('Upload', 1)", context) == {"$content": "c2Vjb25k"}
    with pytest.raises(ExpressionEvaluationError, match="part 2 does not exist"):
        evaluate("@multipartBody('Upload', 2)", context)


def test_workflow_run_name_example_and_documented_properties() -> None:
    result = run(definition({"Who": compose({"run": "@workflow().run.name", "all": "@workflow()"})}),
                 trigger=TriggerInput(), clock=VirtualClock(), workflow_name="wf", run_id="08585")
    outputs = result.action("Who").outputs
    assert outputs["run"] == "08585"
    assert set(outputs["all"]) == {"name", "type", "id", "location", "run", "tags"}


def test_result_items_have_the_documented_shape() -> None:
    result = run(definition({
        "My_Scope": {"type": "Scope", "runAfter": {},
                     "actions": {"Example_Action_That_Failed": compose("@div(1, 0)")}},
        "Filter_array": {"type": "Query", "runAfter": {"My_Scope": ["Failed"]},
                         "inputs": {"from": "@result('My_Scope')", "where": "@equals(item()['status'], 'Failed')"}},
    }), trigger=TriggerInput(), clock=VirtualClock(), run_id="08587307213861835591296330354")
    (failed,) = result.action("Filter_array").outputs["body"]
    assert {"name", "inputs", "outputs", "startTime", "endTime", "trackingId", "clientTrackingId", "code",
            "status"} <= set(failed)
    assert (failed["name"], failed["status"]) == ("Example_Action_That_Failed", "Failed")
    assert failed["clientTrackingId"] == "08587307213861835591296330354"


def test_utc_now_and_guid_inside_a_run_come_from_the_injected_clock_and_generator() -> None:
    from datetime import datetime, timezone

    ids = iter(["11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"])
    result = run(definition({
        "Before": compose({"at": "@utcNow()", "id": "@guid()"}),
        "Pause": {"type": "Wait", "inputs": {"interval": {"count": 90, "unit": "Second"}}, "runAfter": {"Before": []}},
        "After": compose({"at": "@utcNow('HH:mm:ss')", "id": "@guid()"}, {"Pause": []}),
    }), trigger=TriggerInput(), clock=VirtualClock(datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        guid=lambda: next(ids))
    assert result.action("Before").outputs == {"at": "2030-01-02T03:04:05.0000000Z",
                                               "id": "11111111-1111-1111-1111-111111111111"}
    assert result.action("After").outputs == {"at": "03:05:35", "id": "22222222-2222-2222-2222-222222222222"}


def test_actions_gives_the_documented_record_and_reads_null_safely_when_there_are_no_outputs() -> None:
    """actions('X') is the action's run record: name, inputs, outputs, startTime, endTime, status, code,
    error… (result() returns the same objects: workflow-definition-language-functions-reference#result).
    An action that failed before sending (InvalidTemplate) has no outputs, so
    actions('X')?['outputs']?['statusCode'] is null where outputs('X')?['statusCode'] may not be safe."""
    clock = VirtualClock()
    server = FakeServer(clock).reply("https://api/", HttpResponse(404, {}, {"error": "NotFound"}))
    failed_after = {"Broken": ["Failed"]}
    result = run(definition({
        "Broken": {"type": "Http", "inputs": {"method": "GET", "uri": "@json('{}')['missing']"}, "runAfter": {}},
        "Sent": {"type": "Http", "inputs": {"method": "GET", "uri": "https://api/x"}, "runAfter": {}},
        "Broken_record": compose("@actions('Broken')", failed_after),
        "Broken_status": compose("@coalesce(actions('Broken')?['outputs']?['statusCode'], 'none')", failed_after),
        "Sent_status": compose("@actions('Sent')?['outputs']?['statusCode']", {"Sent": ["Failed"]}),
    }), trigger=TriggerInput(), http=server, clock=clock)

    record = result.action("Broken_record").outputs
    assert {key: record[key] for key in ("name", "status", "code")} == {
        "name": "Broken", "status": "Failed", "code": "InvalidTemplate"}
    assert record["error"]["code"] == "InvalidTemplate" and "missing" in record["error"]["message"]
    assert record["outputs"] is None and record["startTime"] and record["endTime"]
    assert result.action("Broken_status").outputs == "none"
    assert result.action("Sent_status").outputs == 404
    assert server.requests and all(r.url == "https://api/x" for r in server.requests)
