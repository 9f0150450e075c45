"""Conversion functions, checked against every example in Microsoft's reference."""
from decimal import Decimal

import pytest

from orderbridge.wdl._errors import FunctionArgumentError
from tests.wdl.functions._expressions import assert_same, evaluate

DOCUMENTED = [
    ("array('hello')", ["hello"]),
    ("bool(1)", True),
    ("bool(0)", False),
    ("bool(-1)", True),
    ("bool('true')", True),
    ("bool('false')", False),
    ("createArray('h', 'e', 'l', 'l', 'o')", ["h", "e", "l", "l", "o"]),
    ("float('10,000.333')", 10000.333),
    ("float('10.000,333', 'de-DE')", 10000.333),
    ("float('12,3,4,5678')", 12345678.0),
    ("float('1234567,8+')", 12345678.0),
    ("float('12345,6,78,-')", -12345678.0),
    ("float('-12,345,678,')", -12345678.0),
    ("float('12345678.-')", -12345678.0),
    ("float('.12345678')", 0.12345678),
    ("int('10')", 10),
    ("isFloat('10,000.00')", True),
    ("isFloat('10.000,00', 'de-DE')", True),
    ("isInt('10')", True),
    ("json('[1, 2, 3]')", [1, 2, 3]),
    ("json('{\"fullName\": \"Sophia Owen\"}')", {"fullName": "Sophia Owen"}),
    ("string(10)", "10"),
    ("string(decimal('1.2345678912312131'))", "1.2345678912312131"),
]


@pytest.mark.parametrize(("expression", "expected"), DOCUMENTED)
def test_documented_example(expression, expected):
    assert_same(evaluate(expression), expected, expression)


def test_documented_decimal_used_as_a_number():
    """decimal('1.2345678912312131') 'returns 1.234567891231213' when used as a number."""
    value = evaluate("decimal('1.2345678912312131')")
    assert isinstance(value, Decimal) and float(value) == 1.234567891231213


def test_documented_string_of_an_object_is_json_text():
    """The docs write string( { "name": "Sophie Owen" } ); object literals are not expression
    syntax, so the object comes from json(). Logic Apps writes compact JSON."""
    assert evaluate("string(json('{ \"name\": \"Sophie Owen\" }'))") == '{"name":"Sophie Owen"}'


@pytest.mark.parametrize(("expression", "expected"), [
    ("string(null)", ""),                        # documented: null becomes ''
    ("string(true)", "True"),
    ("string(2.5)", "2.5"),
    ("string(10.0)", "10"),
    ("string(float('1000000000000000'))", "1E+15"),        # .NET switches to E at 1e15
    ("string(float('123456789012345'))", "123456789012345"),
    ("string(float('0.00001'))", "1E-05"),
    ("string(float('0.0001'))", "0.0001"),
    ("string(createArray(1, 'a', null))", '[1,"a",null]'),
    ("string('é')", "é"),
    ("bool('TRUE')", True),
    ("bool(0.5)", True),
    ("int(' -42 ')", -42),
    ("int(3.0)", 3),
    ("isInt('1.5')", False),
    ("isInt('abc')", False),
    ("isInt('99999999999999999999')", False),
    ("isFloat('abc')", False),
    ("isFloat('1.5e3')", True),
    ("float('1.5e3')", 1500.0),
    ("float(2)", 2.0),
    ("json(null)", {}),                          # documented: null gives an empty object
    ("json('3')", 3),
    ("json('\"text\"')", "text"),
    ("array(createArray(1))", [[1]]),
])
def test_behaviour_beyond_the_examples(expression, expected):
    assert_same(evaluate(expression), expected, expression)


@pytest.mark.parametrize(("expression", "message"), [
    ("int('abc')", "cannot convert \"abc\" \\(String\\) to an integer"),
    ("int('1.5')", "isInt"),
    ("int(1.5)", "to an integer"),
    ("int('9223372036854775808')", "64-bit"),
    ("int(true)", "to an integer"),
    ("float('abc')", "isFloat"),
    ("float('1+2')", "to a float"),
    ("float('1', 'xx-YY')", "locale 'xx-YY'"),
    ("bool('yes')", "'true' or 'false'"),
    ("bool(null)", "to a boolean"),
    ("decimal('one')", "to a decimal"),
    ("json('{not json')", "not valid JSON"),
    ("json('<root/>')", "XML"),
    ("isInt(10)", "parameter 1 to be a string"),
])
def test_bad_input_is_a_typed_error(expression, message):
    with pytest.raises(FunctionArgumentError, match=message):
        evaluate(expression)
