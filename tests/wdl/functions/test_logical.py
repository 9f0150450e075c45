"""Logical comparison functions, checked against every example in Microsoft's reference."""
import pytest

from orderbridge.wdl._errors import FunctionArgumentError
from tests.wdl.functions._expressions import assert_same, evaluate

DOCUMENTED = [
    ("and(true, true)", True),
    ("and(false, true)", False),
    ("and(false, false)", False),
    ("and(equals(1, 1), equals(2, 2))", True),
    ("and(equals(1, 1), equals(1, 2))", False),
    ("and(equals(1, 2), equals(1, 3))", False),
    ("equals(true, 1)", True),
    ("equals('abc', 'abcd')", False),
    ("greater(10, 5)", True),
    ("greater('apple', 'banana')", False),
    ("greaterOrEquals(5, 5)", True),
    ("greaterOrEquals('apple', 'banana')", False),
    ("if(equals(1, 1), 'yes', 'no')", "yes"),
    ("less(5, 10)", True),
    ("less('banana', 'apple')", False),
    ("lessOrEquals(10, 10)", True),
    ("lessOrEquals('apply', 'apple')", False),
    ("not(false)", True),
    ("not(true)", False),
    ("not(equals(1, 2))", True),
    ("not(equals(1, 1))", False),
    ("or(true, false)", True),
    ("or(false, false)", False),
    ("or(equals(1, 1), equals(1, 2))", True),
    ("or(equals(1, 2), equals(1, 3))", False),
]


@pytest.mark.parametrize(("expression", "expected"), DOCUMENTED)
def test_documented_example(expression, expected):
    assert_same(evaluate(expression), expected, expression)


@pytest.mark.parametrize(("expression", "expected"), [
    ("equals(null, '')", True),              # the docs: null compares as an empty string
    ("equals(1, 1.0)", True),
    ("equals(false, 0)", True),
    ("equals('1', 1)", False),
    ("equals('abc', 'ABC')", False),
    ("equals(createArray(1, 'a'), createArray(1.0, 'a'))", True),
    ("equals(json('{\"a\": [1, {\"b\": null}]}'), json('{\"a\": [1, {\"b\": \"\"}]}'))", True),
    ("equals(json('{\"a\": 1}'), json('{\"a\": 1, \"b\": 2}'))", False),
    ("greater(2.5, 2)", True),
    ("equals(decimal('0.1'), 0.1)", True),
    ("less(decimal('0.1'), 0.2)", True),
    ("less(null, 'a')", True),
    ("lessOrEquals(-1, -1.0)", True),
    ("if(false, 'yes', createArray(1))", [1]),
])
def test_comparison_type_rules(expression, expected):
    assert_same(evaluate(expression), expected, expression)


@pytest.mark.parametrize(("expression", "function"), [
    ("greater(1, '1')", "greater"),
    ("less(true, false)", "less"),
    ("and(true, 'true')", "and"),
    ("or(1, true)", "or"),
    ("not('false')", "not"),
    ("if('yes', 1, 2)", "if"),
])
def test_wrong_types_fail_naming_the_function(expression, function):
    with pytest.raises(FunctionArgumentError, match=f"'{function}'"):
        evaluate(expression)
