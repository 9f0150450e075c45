"""Compose, ParseJson, Response, variables and the data operations Select/Query/Join/Table."""
from __future__ import annotations

from typing import Any

import pytest

from orderbridge.wdl import TriggerInput, VirtualClock, run

from tests.wdl.helpers import definition

ORDER_SCHEMA = {"type": "object", "required": ["id", "lines"],
                "properties": {"id": {"type": "string"}, "lines": {"type": "array", "items": {"type": "object"}}}}


def run_actions(actions: dict[str, Any], body: Any = None):
    return run(definition(actions), trigger=TriggerInput(body=body), clock=VirtualClock())


def test_compose_outputs_the_evaluated_inputs() -> None:
    result = run_actions({"Make": {"type": "Compose", "inputs": {"id": "@triggerBody()['id']", "n": 1}, "runAfter": {}},
                          "Use": {"type": "Compose", "inputs": "@outputs('Make')['id']", "runAfter": {"Make": []}}},
                         body={"id": "X"})
    assert result.action("Make").outputs == {"id": "X", "n": 1}
    assert result.action("Use").outputs == "X"


def test_parse_json_parses_text_and_validates_the_schema() -> None:
    result = run_actions({
        "Parse": {"type": "ParseJson", "inputs": {"content": "@triggerBody()", "schema": ORDER_SCHEMA}, "runAfter": {}},
        "Id": {"type": "Compose", "inputs": "@body('Parse')['id']", "runAfter": {"Parse": []}},
    }, body='{"id": "O-1", "lines": [{"sku": "A"}]}')
    assert result.action("Parse").outputs == {"body": {"id": "O-1", "lines": [{"sku": "A"}]}}
    assert result.action("Id").outputs == "O-1"


@pytest.mark.parametrize(("body", "code", "fragment"), [
    ({"id": 5, "lines": []}, "ValidationFailed", "id: 5 is not of type 'string'"),
    ({"lines": []}, "ValidationFailed", "'id' is a required property"),
    ("{not json", "InvalidJSON", "not valid JSON"),
])
def test_parse_json_fails_on_schema_mismatch(body: Any, code: str, fragment: str) -> None:
    parse = run_actions({"Parse": {"type": "ParseJson", "inputs": {"content": "@triggerBody()", "schema": ORDER_SCHEMA},
                                   "runAfter": {}}}, body=body).action("Parse")
    assert (parse.status, parse.error_code) == ("Failed", code)
    assert fragment in parse.error_message


def test_response_sets_status_headers_and_body_once() -> None:
    result = run_actions({
        "Reply": {"type": "Response", "inputs": {"statusCode": "@triggerBody()['code']", "headers": {"X-N": 1},
                                                 "body": {"ok": True}}, "runAfter": {}},
        "Again": {"type": "Response", "inputs": {"statusCode": 500}, "runAfter": {"Reply": []}},
    }, body={"code": 201})
    assert result.response is not None
    assert (result.response.status_code, result.response.headers, result.response.body) == (201, {"X-N": "1"},
                                                                                           {"ok": True})
    assert result.action("Again").error_code == "ActionResponseAlreadySent"


def test_variables_initialize_set_increment_decrement_and_append() -> None:
    actions = {
        "Init": {"type": "InitializeVariable", "runAfter": {}, "inputs": {"variables": [
            {"name": "count", "type": "integer", "value": 1},
            {"name": "names", "type": "array", "value": []},
            {"name": "text", "type": "string", "value": "a"},
            {"name": "ratio", "type": "float", "value": 0.5}]}},
        "Loop": {"type": "Foreach", "foreach": "@triggerBody()", "operationOptions": "Sequential",
                 "runAfter": {"Init": []}, "actions": {
                     "Add": {"type": "IncrementVariable", "inputs": {"name": "count", "value": "@item()"}},
                     "Remember": {"type": "AppendToArrayVariable", "inputs": {"name": "names", "value": "n@{item()}"},
                                  "runAfter": {"Add": []}},
                     "Extend": {"type": "AppendToStringVariable", "inputs": {"name": "text", "value": "@item()"},
                                "runAfter": {"Add": []}}}},
        "Down": {"type": "DecrementVariable", "inputs": {"name": "count"}, "runAfter": {"Loop": []}},
        "Half": {"type": "SetVariable", "inputs": {"name": "ratio", "value": 2}, "runAfter": {"Down": []}},
        "Show": {"type": "Compose", "runAfter": {"Half": []}, "inputs": {
            "count": "@variables('count')", "names": "@variables('names')", "text": "@variables('text')",
            "ratio": "@variables('ratio')"}},
    }
    result = run_actions(actions, body=[2, 3])
    assert result.action("Show").outputs == {"count": 5, "names": ["n2", "n3"], "text": "a23", "ratio": 2}
    assert result.action("Down").outputs == {"body": {"name": "count", "value": 5}}


@pytest.mark.parametrize(("action", "code"), [
    ({"type": "SetVariable", "inputs": {"name": "missing", "value": 1}}, "InvalidOperation"),
    ({"type": "SetVariable", "inputs": {"name": "count", "value": "text"}}, "InvalidOperation"),
    ({"type": "IncrementVariable", "inputs": {"name": "label", "value": 1}}, "InvalidOperation"),
    ({"type": "AppendToArrayVariable", "inputs": {"name": "count", "value": 1}}, "InvalidOperation"),
    ({"type": "InitializeVariable", "inputs": {"variables": [{"name": "count", "type": "integer"}]}},
     "InvalidOperation"),
    ({"type": "InitializeVariable", "inputs": {"variables": [{"name": "x", "type": "integer", "value": "1"}]}},
     "InvalidVariableValue"),
])
def test_variable_misuse_fails_the_action(action: dict[str, Any], code: str) -> None:
    result = run_actions({
        "Init": {"type": "InitializeVariable", "runAfter": {}, "inputs": {"variables": [
            {"name": "count", "type": "integer", "value": 1}, {"name": "label", "type": "string", "value": "a"}]}},
        "Misuse": {**action, "runAfter": {"Init": []}},
    })
    misuse = result.action("Misuse")
    assert (misuse.status, misuse.error_code) == ("Failed", code)


LINES = [{"sku": "A", "qty": 2, "price": 1.5}, {"sku": "B", "qty": 0, "price": 3}, {"sku": "C", "qty": 1, "price": 2}]


def test_select_maps_each_item() -> None:
    result = run_actions({"Pick": {"type": "Select", "runAfter": {}, "inputs": {
        "from": "@triggerBody()", "select": {"code": "@item()['sku']", "n": "@item()['qty']"}}}}, body=LINES)
    assert result.action("Pick").outputs == {"body": [{"code": "A", "n": 2}, {"code": "B", "n": 0},
                                                     {"code": "C", "n": 1}]}


def test_query_filters_items() -> None:
    result = run_actions({"Keep": {"type": "Query", "runAfter": {}, "inputs": {
        "from": "@triggerBody()", "where": "@greater(item()['qty'], 0)"}}}, body=LINES)
    assert [line["sku"] for line in result.action("Keep").outputs["body"]] == ["A", "C"]


def test_join_writes_items_with_the_separator() -> None:
    result = run_actions({"Skus": {"type": "Join", "runAfter": {}, "inputs": {"from": ["A", 1, 2.5], "joinWith": ";"}}})
    assert result.action("Skus").outputs == {"body": "A;1;2.5"}


def test_table_builds_csv_from_columns_or_keys_and_html() -> None:
    result = run_actions({
        "Csv": {"type": "Table", "runAfter": {}, "inputs": {"from": "@triggerBody()", "format": "CSV"}},
        "Columns": {"type": "Table", "runAfter": {}, "inputs": {"from": "@triggerBody()", "format": "CSV", "columns": [
            {"header": "Item", "value": "@item()['sku']"}, {"header": "Qty", "value": "@item()['qty']"}]}},
        "Html": {"type": "Table", "runAfter": {}, "inputs": {"from": [{"a": "<b>"}], "format": "HTML"}},
    }, body=LINES)
    assert result.action("Csv").outputs["body"] == "sku,qty,price\r\nA,2,1.5\r\nB,0,3\r\nC,1,2\r\n"
    assert result.action("Columns").outputs["body"] == "Item,Qty\r\nA,2\r\nB,0\r\nC,1\r\n"
    assert result.action("Html").outputs["body"] == (
        "<table><thead><tr><th>a</th></tr></thead><tbody><tr><td>&lt;b&gt;</td></tr></tbody></table>")


def test_select_from_a_non_array_fails() -> None:
    pick = run_actions({"Pick": {"type": "Select", "runAfter": {}, "inputs": {"from": "@triggerBody()",
                                                                              "select": "@item()"}}},
                       body={"a": 1}).action("Pick")
    assert pick.status == "Failed" and "'from' must be an array" in pick.error_message
