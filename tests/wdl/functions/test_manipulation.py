"""JSON manipulation functions, checked against every example in Microsoft's reference."""
import pytest

from orderbridge.wdl._errors import FunctionArgumentError
from orderbridge.wdl._functions import lookup
from tests.wdl.functions._expressions import assert_same, evaluate

DOCUMENTED = [
    # The docs' input says "lastName" but their before/after objects say "surName"; the call
    # adds middleName either way.
    ("addProperty(json('{ \"firstName\": \"Sophia\", \"lastName\": \"Owen\" }'), "
     "'middleName', 'Anne')",
     {"firstName": "Sophia", "lastName": "Owen", "middleName": "Anne"}),
    ("setProperty(json('{ \"customerName\": { \"firstName\": \"Sophia\", \"surName\": \"Owen\" } }'), "
     "'customerName', addProperty(json('{ \"customerName\": { \"firstName\": \"Sophia\", "
     "\"surName\": \"Owen\" } }')['customerName'], 'middleName', 'Anne'))",
     {"customerName": {"firstName": "Sophia", "surName": "Owen", "middleName": "Anne"}}),
    ("coalesce(null, true, false)", True),
    ("coalesce(null, 'hello', 'world')", "hello"),
    ("coalesce(null, null, null)", None),
    ("removeProperty(json('{ \"firstName\": \"Sophia\", \"middleName\": \"Anne\", \"surName\": \"Owen\" }'), "
     "'middleName')", {"firstName": "Sophia", "surName": "Owen"}),
    ("removeProperty(json('{ \"customerName\": { \"firstName\": \"Sophia\", \"middleName\": \"Anne\", "
     "\"surName\": \"Owen\" } }')['customerName'], 'middleName')", {"firstName": "Sophia", "surName": "Owen"}),
    ("setProperty(json('{ \"firstName\": \"Sophia\", \"surName\": \"Owen\" }'), 'surName', 'Hartnett')",
     {"firstName": "Sophia", "surName": "Hartnett"}),
    ("setProperty(json('{ \"customerName\": { \"firstName\": \"Sophia\", \"surName\": \"Owen\" } }'), "
     "'customerName', setProperty(json('{ \"customerName\": { \"firstName\": \"Sophia\", "
     "\"surName\": \"Owen\" } }')['customerName'], 'surName', 'Hartnett'))",
     {"customerName": {"firstName": "Sophia", "surName": "Hartnett"}}),
]


@pytest.mark.parametrize(("expression", "expected"), DOCUMENTED)
def test_documented_example(expression, expected):
    assert_same(evaluate(expression), expected, expression)


def test_functions_leave_their_input_unchanged():
    original = {"a": 1, "b": {"c": 2}}
    lookup("setProperty").impl(original, "a", 5)
    lookup("addProperty").impl(original, "z", 5)
    lookup("removeProperty").impl(original, "b")
    assert original == {"a": 1, "b": {"c": 2}}


@pytest.mark.parametrize(("expression", "expected"), [
    ("removeProperty(json('{\"a\": 1}'), 'missing')", {"a": 1}),   # documented: unchanged
    ("setProperty(json('{}'), 'new', createArray(1))", {"new": [1]}),  # documented: adds
    ("coalesce('', null)", ""),                                      # '' is not null
    ("coalesce(null, json('[]'))", []),
])
def test_behaviour_beyond_the_examples(expression, expected):
    assert_same(evaluate(expression), expected, expression)


@pytest.mark.parametrize(("expression", "message"), [
    ("addProperty(json('{\"a\": 1}'), 'a', 2)", "already has it.*setProperty"),
    ("setProperty(createArray(1), 'a', 2)", "parameter 1 to be an object"),
    ("removeProperty(json('{}'), 1)", "parameter 2 to be a string"),
])
def test_bad_input_is_a_typed_error(expression, message):
    with pytest.raises(FunctionArgumentError, match=message):
        evaluate(expression)
