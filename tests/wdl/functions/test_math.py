"""Math functions, checked against every example in Microsoft's reference."""
from decimal import Decimal

import pytest

from orderbridge.wdl._errors import FunctionArgumentError
from tests.wdl.functions._expressions import assert_same, evaluate

DOCUMENTED = [
    ("add(1, 1.5)", 2.5),
    ("div(10,5)", 2),
    ("div(11,5)", 2),
    ("div(11,5.0)", 2.2),
    ("div(11.0,5)", 2.2),
    ("max(1, 2, 3)", 3),
    ("max(createArray(1, 2, 3))", 3),
    ("min(1, 2, 3)", 1),
    ("min(createArray(1, 2, 3))", 1),
    ("mod(3, 2)", 1),
    ("mod(-5, 2)", -1),
    ("mod(4, -3)", 1),
    ("mul(1, 2)", 2),
    ("mul(1.5, 2)", 3.0),       # documented as 3: a float operand gives a float
    ("range(1, 4)", [1, 2, 3, 4]),
    ("sub(10.3, .3)", 10.0),    # documented as 10: a float operand gives a float
    ("string(add(decimal('1.2345678912312131'), decimal('1.2345678912312131')))", "2.4691357824624262"),
]


@pytest.mark.parametrize(("expression", "expected"), DOCUMENTED)
def test_documented_example(expression, expected):
    assert_same(evaluate(expression), expected, expression)


def test_documented_decimal_sum_used_as_a_number():
    """add(decimal(x), decimal(x)) 'returns 2.469135782462426' when used as a number."""
    value = evaluate("add(decimal('1.2345678912312131'), decimal('1.2345678912312131'))")
    assert isinstance(value, Decimal) and float(value) == 2.469135782462426


def test_documented_rand_stays_in_the_half_open_range():
    seen = {evaluate("rand(1, 5)") for _ in range(400)}
    assert seen == {1, 2, 3, 4}


@pytest.mark.parametrize(("expression", "expected"), [
    ("div(-11, 5)", -2),          # truncates toward zero like C#, not toward -infinity
    ("div(11, -5)", -2),
    ("div(-11, -5)", 2),
    ("mod(-5.5, 2)", -1.5),
    ("add(2, 3)", 5),
    ("sub(2, 3)", -1),
    ("max(1, 2.5, 2)", 2.5),
    ("min(createArray(3, -1.5))", -1.5),
    ("range(0, 0)", []),
    ("add(decimal('0.1'), 0.2)", Decimal("0.3")),
])
def test_type_rules(expression, expected):
    assert_same(evaluate(expression), expected, expression)


@pytest.mark.parametrize(("expression", "message"), [
    ("div(1, 0)", "divide by zero"),
    ("mod(1, 0.0)", "divide by zero"),
    ("add('1', 2)", "parameter 1 to be an integer or a float"),
    ("add(true, 2)", "parameter 1 to be an integer or a float"),
    ("mul(9223372036854775807, 2)", "64-bit"),
    ("max(json('[]'))", "empty array"),
    ("max(1, 'a')", "parameter 2"),
    ("rand(5, 5)", "greater than the minimum"),
    ("range(0, 100001)", "between 0 and 100,000"),
    ("range(2147483647, 1)", "2,147,483,647"),
])
def test_bad_input_is_a_typed_error(expression, message):
    with pytest.raises(FunctionArgumentError, match=message):
        evaluate(expression)
