"""The expression grammar: literals, calls, accessors, null-safe forms and syntax errors."""
from __future__ import annotations

import pytest

from orderbridge.wdl import EvaluationContext, ExpressionEvaluationError, ExpressionSyntaxError, evaluate
from orderbridge.wdl._expressions import parse_expression

ORDER = {"id": "O-1", "lines": [{"sku": "A", "qty": 2}], "customer": None}


def with_order() -> EvaluationContext:
    return EvaluationContext(parameters={"order": ORDER, "n": 3})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("'it''s'", "it's"),
        ("''", ""),
        ("42", 42),
        ("-7", -7),
        ("2.5", 2.5),
        ("1e3", 1000.0),
        ("true", True),
        ("false", False),
        ("null", None),
    ],
)
def test_literals_keep_their_json_type(text: str, expected: object) -> None:
    value = evaluate("@" + text)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("parameters('order').id", "O-1"),
        ("parameters('order')['id']", "O-1"),
        ("parameters('order')['lines'][0]['sku']", "A"),
        ("parameters('order').lines[0].qty", 2),
        ("parameters('order')?['missing']", None),
        ("parameters('order')?.missing", None),
        ("parameters('order')['customer']?['name']", None),
        ("parameters('order')?['lines']?[5]", None),
        ("parameters('order')['ID']", "O-1"),
        ("  parameters( 'order' ) [ 'id' ] ", "O-1"),
    ],
)
def test_property_and_index_access(text: str, expected: object) -> None:
    assert evaluate("@" + text, with_order()) == expected


def test_index_can_be_an_expression() -> None:
    context = EvaluationContext(parameters={"order": ORDER, "key": "id"})
    assert evaluate("@parameters('order')[parameters('key')]", context) == "O-1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("parameters('order')['missing']", "property 'missing' doesn't exist"),
        ("parameters('order')['customer']['name']", "the value is null"),
        ("parameters('order')['lines'][3]", "out of range"),
        ("parameters('order')['lines']['sku']", "integer index"),
        ("parameters('n').x", "cannot be selected on a value of type Integer"),
    ],
)
def test_access_without_question_mark_fails_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ExpressionEvaluationError, match=message) as caught:
        evaluate("@" + text, with_order())
    assert caught.value.expression == text


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("concat('a'", 10),
        ("concat('a',)", 11),
        ("'unterminated", 0),
        ("concat(\"a\")", 7),
        ("foo", 0),
        ("concat('a') 'b'", 12),
        ("x.", 0),
        ("", 0),
    ],
)
def test_syntax_errors_name_the_position(text: str, position: int) -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        parse_expression(text)
    assert caught.value.position == position
    assert caught.value.expression == text


def test_double_quotes_get_a_hint() -> None:
    with pytest.raises(ExpressionSyntaxError, match="single quotes"):
        parse_expression('length("Hello")')


def test_calls_are_collected_with_literal_arguments_for_lint() -> None:
    expression = parse_expression("concat(body('Get_order')['id'], parameters('base'), item())")
    assert [(c.name, c.literal_args) for c in expression.calls] == [
        ("body", ("Get_order",)),
        ("parameters", ("base",)),
        ("item", ()),
        ("concat", (None, None, None)),
    ]


def test_unknown_function_is_an_error_naming_it_never_null() -> None:
    from orderbridge.wdl import UnknownFunctionError

    with pytest.raises(UnknownFunctionError, match="'frobnicate'"):
        evaluate("@frobnicate(1)")


def test_a_documented_function_the_engine_lacks_is_not_called_unknown() -> None:
    from orderbridge.wdl import UnknownFunctionError

    with pytest.raises(UnknownFunctionError) as raised:
        evaluate("@xml('<a/>')")
    assert raised.value.reason == ("the function 'xml' is not supported by orderbridge.wdl "
                                   "(it is a Workflow Definition Language function)")


def test_argument_count_is_checked_when_parsing() -> None:
    from orderbridge.wdl import FunctionArgumentError

    with pytest.raises(FunctionArgumentError, match="'body' takes 1 argument"):
        parse_expression("body()")


def test_a_parsed_expression_evaluates_many_times_with_different_contexts() -> None:
    expression = parse_expression("parameters('n')")
    assert [expression.evaluate(EvaluationContext(parameters={"n": n})) for n in (1, 2, 3)] == [1, 2, 3]
