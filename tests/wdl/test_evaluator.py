"""evaluate(): the whole-string form keeps types, @{} interpolates to text, @@ escapes, recursion."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from orderbridge.wdl import EvaluationContext, LoopFrame, VirtualClock, WorkflowContextError, evaluate

CONTEXT = EvaluationContext(parameters={"myBirthMonth": "January", "myAge": 42, "price": 2.5,
                                        "flag": True, "nothing": None, "customer": {"name": "Sophie Owen"},
                                        "list": [1, "a"]})


# The documented table: https://learn.microsoft.com/azure/logic-apps/logic-apps-workflow-definition-language#expressions
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sophia Owen", "Sophia Owen"),
        ("array[1]", "array[1]"),
        ("@@", "@"),
        (" @", " @"),
        ("@parameters('myBirthMonth')", "January"),
        ("@{parameters('myBirthMonth')}", "January"),
        ("@parameters('myAge')", 42),
        ("@{parameters('myAge')}", "42"),
        ("My age is @{parameters('myAge')}", "My age is 42"),
        ("@concat('My age is ', string(parameters('myAge')))", "My age is 42"),
        ("My age is @@{parameters('myAge')}", "My age is @{parameters('myAge')}"),
    ],
)
def test_documented_expression_examples(value: str, expected: object) -> None:
    result = evaluate(value, CONTEXT)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("x@{parameters('customer')}", 'x{"name":"Sophie Owen"}'),
        ("[@{parameters('list')}]", '[[1,"a"]]'),
        ("<@{parameters('nothing')}>", "<>"),
        ("@{parameters('flag')}", "True"),
        ("@{parameters('price')}", "2.5"),
        ("@{'a}b'}!", "a}b!"),
        ("@{parameters('myAge')}@{parameters('myAge')}", "4242"),
        ("mail@example.com", "mail@example.com"),
    ],
)
def test_interpolation_writes_values_as_string_does(value: str, expected: str) -> None:
    assert evaluate(value, CONTEXT) == expected


def test_whole_string_expression_keeps_objects_and_null() -> None:
    assert evaluate("@parameters('customer')", CONTEXT) == {"name": "Sophie Owen"}
    assert evaluate("@parameters('nothing')", CONTEXT) is None


def test_objects_and_arrays_are_evaluated_recursively_other_values_pass_through() -> None:
    value = {"a": ["@parameters('myAge')", 1.5, None, True], "b": {"c": "Age @{parameters('myAge')}"}, "d": 7}
    assert evaluate(value, CONTEXT) == {"a": [42, 1.5, None, True], "b": {"c": "Age 42"}, "d": 7}


def test_without_context_pure_functions_work_and_workflow_functions_raise_clearly() -> None:
    assert evaluate("@concat('a', 'b')") == "ab"
    with pytest.raises(WorkflowContextError, match=r"triggerbody\(\) needs a workflow run"):
        evaluate("@triggerBody()")


def test_workflow_functions_read_the_context() -> None:
    context = EvaluationContext(
        trigger={"outputs": {"headers": {"h": "1"}, "body": {"orderId": "O-9"}}},
        actions={"Get": {"outputs": {"statusCode": 200, "body": {"n": 1}}, "status": "Succeeded"},
                 "Make": {"outputs": [1, 2], "status": "Succeeded"}},
        variables={"count": 3},
        loops=(LoopFrame("Outer", "o", 0), LoopFrame("Inner", "i", 4)),
        workflow={"name": "wf"},
    )
    assert evaluate("@triggerBody()?['orderId']", context) == "O-9"
    assert evaluate("@triggerOutputs()['headers']['h']", context) == "1"
    assert evaluate("@trigger()['outputs']['body']['orderId']", context) == "O-9"
    assert evaluate("@body('Get')['n']", context) == 1
    assert evaluate("@actionBody('Get')['n']", context) == 1
    assert evaluate("@outputs('Get')['statusCode']", context) == 200
    assert evaluate("@actionOutputs('Make')", context) == [1, 2]
    assert evaluate("@actions('Get')['status']", context) == "Succeeded"
    assert evaluate("@variables('count')", context) == 3
    assert evaluate("@item()", context) == "i"
    assert evaluate("@items('Outer')", context) == "o"
    assert evaluate("@iterationIndexes('Inner')", context) == 4
    assert evaluate("@workflow()['name']", context) == "wf"
    assert evaluate("@TRIGGERBODY()?['orderId']", context) == "O-9"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("@body('Nope')", "the action 'Nope' has not run"),
        ("@variables('nope')", "variable 'nope' is not initialized"),
        ("@parameters('nope')", "parameter 'nope' is not found"),
        ("@items('Nope')", "not an enclosing loop"),
        ("@body('Make')", "no body"),
    ],
)
def test_workflow_function_errors_say_what_is_missing(value: str, message: str) -> None:
    context = EvaluationContext(actions={"Make": {"outputs": 1}}, loops=(LoopFrame("Loop", 1, 0),))
    with pytest.raises(Exception, match=message):
        evaluate(value, context)


def test_form_data_values_come_from_a_form_encoded_trigger_body() -> None:
    context = EvaluationContext(trigger={"outputs": {"body": "a=1&b=x&b=y"}})
    assert evaluate("@triggerFormDataValue('a')", context) == "1"
    assert evaluate("@triggerFormDataMultiValues('b')", context) == ["x", "y"]


def test_clock_and_guid_come_from_the_context() -> None:
    clock = VirtualClock(datetime(2030, 5, 6, 7, 8, 9, tzinfo=timezone.utc))
    context = EvaluationContext(clock=clock, guid=lambda: "00000000-0000-0000-0000-000000000001")
    assert evaluate("@utcNow('yyyy-MM-dd HH:mm:ss')", context) == "2030-05-06 07:08:09"
    assert evaluate("@guid()", context) == "00000000-0000-0000-0000-000000000001"


def test_errors_carry_expression_text() -> None:
    with pytest.raises(Exception) as caught:
        evaluate("Total: @{div(1, 0)}")
    assert caught.value.expression == "div(1, 0)"


def test_if_evaluates_both_branches_like_azure() -> None:
    # Azure evaluates both arguments of if(); a failing branch fails even when not taken.
    with pytest.raises(Exception, match="div"):
        evaluate("@if(true, 1, div(1, 0))")


def test_context_can_be_a_plain_mapping_of_context_fields() -> None:
    assert evaluate("@{parameters('a')}-@{variables('b')}", {"parameters": {"a": 1}, "variables": {"b": 2}}) == "1-2"
    with pytest.raises(WorkflowContextError, match="unknown keys \\['params'\\]"):
        evaluate("@parameters('a')", {"params": {"a": 1}})
