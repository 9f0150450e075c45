"""Collection functions, checked against every example in Microsoft's reference."""
import pytest

from orderbridge.wdl._errors import FunctionArgumentError
from tests.wdl.functions._expressions import assert_same, evaluate

ELISE = {"first": "Elise", "last": "Renee"}
AMALIE = {"first": "Amalie", "last": "Rose"}

DOCUMENTED = [
    ("chunk('abcdefghijklmnopqrstuvwxyz', 10)", ["abcdefghij", "klmnopqrst", "uvwxyz"]),
    ("chunk(createArray(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12), 5)",
     [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11, 12]]),
    ("contains('hello world', 'world')", True),
    ("contains('hello world', 'universe')", False),
    ("empty('')", True),
    ("empty('abc')", False),
    ("first('hello')", "h"),
    ("first(createArray(0, 1, 2))", 0),
    ("intersection(createArray(1, 2, 3), createArray(101, 2, 1, 10), createArray(6, 8, 1, 2))", [1, 2]),
    ("join(createArray('a', 'b', 'c'), '.')", "a.b.c"),
    ("last('abcd')", "d"),
    ("last(createArray(0, 1, 2, 3))", 3),
    ("length('abcd')", 4),
    ("length(createArray(0, 1, 2, 3))", 4),
    ("reverse(createArray(0, 1, 2, 3))", [3, 2, 1, 0]),
    ("skip(createArray(0, 1, 2, 3), 1)", [1, 2, 3]),
    ("sort(createArray(2, 1, 0, 3))", [0, 1, 2, 3]),
    ("sort(createArray(json('{ \"first\": \"Amalie\", \"last\": \"Rose\" }'), "
     "json('{ \"first\": \"Elise\", \"last\": \"Renee\" }')), 'last')", [ELISE, AMALIE]),
    ("take('abcde', 3)", "abc"),
    ("take(createArray(0, 1, 2, 3, 4), 3)", [0, 1, 2]),
    ("union(createArray(1, 2, 3), createArray(1, 2, 10, 101))", [1, 2, 3, 10, 101]),
]


@pytest.mark.parametrize(("expression", "expected"), DOCUMENTED)
def test_documented_example(expression, expected):
    assert_same(evaluate(expression), expected, expression)


@pytest.mark.parametrize(("expression", "expected"), [
    ("contains(createArray(1, 'a', createArray(2)), createArray(2))", True),
    ("contains(createArray(1, 2), '1')", False),
    ("contains(json('{\"Key\": 1}'), 'Key')", True),
    ("contains(json('{\"Key\": 1}'), 'key')", False),      # documented as case-sensitive
    ("contains('Hello', 'hello')", False),
    ("empty(null)", True),
    ("empty(json('{}'))", True),
    ("empty(createArray(null))", False),
    ("first('')", None),
    ("last(json('[]'))", None),
    ("take('ab', 5)", "ab"),
    ("skip(createArray(1), 3)", []),
    ("join(createArray(1, null, 2.5, true), '-')", "1--2.5-True"),
    ("union(json('{\"a\": 1, \"b\": 1}'), json('{\"b\": 2}'))", {"a": 1, "b": 2}),
    ("intersection(json('{\"a\": 1, \"b\": 1}'), json('{\"b\": 2, \"c\": 3}'))", {"b": 2}),
    ("sort(createArray('b', 'a', 'C'))", ["C", "a", "b"]),   # ordinal order
    ("sort(createArray(2.5, 1, 2))", [1, 2, 2.5]),
])
def test_behaviour_beyond_the_examples(expression, expected):
    assert_same(evaluate(expression), expected, expression)


def test_results_are_new_values_not_views_of_the_input():
    original = [3, 1, 2]
    from orderbridge.wdl._functions import lookup
    lookup("sort").impl(original)
    lookup("reverse").impl(original)
    assert original == [3, 1, 2]


@pytest.mark.parametrize(("expression", "message"), [
    ("length(json('{}'))", "a string or an array"),
    ("length(5)", "a string or an array"),
    ("empty(0)", "a string, an array or an object"),
    ("chunk('abc', 0)", "length of 1 or more"),
    ("take('abc', -1)", "zero or a positive"),
    ("union(createArray(1), json('{}'))", "all arrays or all objects"),
    ("sort(createArray(1, 'a'))", "one primitive type"),
    ("sort(createArray(json('{\"a\": 1}')), 'b')", "cannot find the key 'b'"),
    ("join('abc', ',')", "an array"),
])
def test_bad_input_is_a_typed_error(expression, message):
    with pytest.raises(FunctionArgumentError, match=message):
        evaluate(expression)
