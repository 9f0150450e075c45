"""String functions, checked against every example in Microsoft's reference."""
import uuid

import pytest

from orderbridge.wdl._errors import FunctionArgumentError
from orderbridge.wdl._functions import lookup
from tests.wdl.functions._expressions import assert_same, evaluate

DOCUMENTED = [
    ("toLower('Hello')", "hello"),
    ("concat('Sophia', 'Owen')", "SophiaOwen"),
    ("concat('Hello', 'World')", "HelloWorld"),
    ("endsWith('hello world', 'world')", True),
    ("endsWith('hello world', 'universe')", False),
    ("indexOf('hello world', 'world')", 6),
    ("lastIndexOf('hello world hello world', 'world')", 18),
    ("lastIndexOf('hello world hello world', '')", 22),
    ("nthIndexOf('123456789123465789', '1', 1)", 0),
    ("nthIndexOf('123456789123465789', '1', 2)", 9),
    ("nthIndexOf('123456789123465789', '12', 2)", 9),
    ("nthIndexOf('123456789123465789', '6', 4)", -1),
    ("replace('the old string', 'old', 'new')", "the new string"),
    ("slice('Hello World', 2)", "llo World"),
    ("slice('Hello World', 30)", ""),
    ("slice('Hello World', 10, 2)", ""),
    ("slice('Hello World', 0)", "Hello World"),
    ("slice('Hello World', 2, 5)", "llo"),
    ("slice('Hello World', 6, 20)", "World"),
    ("slice('Hello World', -2)", "ld"),
    ("slice('Hello World', 3, -1)", "lo Worl"),
    ("slice('Hello World', 3, 3)", ""),
    ("split('a_b_c', '_')", ["a", "b", "c"]),
    ("split('a_b_c', ' ')", ["a_b_c"]),
    ("startsWith('hello world', 'hello')", True),
    ("startsWith('hello world', 'greetings')", False),
    ("substring('hello world', 6, 5)", "world"),
    ("toLower('Hello World')", "hello world"),
    ("toUpper('Hello World')", "HELLO WORLD"),
    ("trim(' Hello World  ')", "Hello World"),
]


@pytest.mark.parametrize(("expression", "expected"), DOCUMENTED)
def test_documented_example(expression, expected):
    assert_same(evaluate(expression), expected, expression)


@pytest.mark.parametrize(("expression", "expected"), [
    ("startsWith('Hello World', 'hELLO')", True),         # documented as case-insensitive
    ("indexOf('Hello World', 'WORLD')", 6),
    ("indexOf('abc', 'x')", -1),
    ("lastIndexOf('', 'a')", -1),                          # documented empty-string rules
    ("lastIndexOf('', '')", 0),
    ("nthIndexOf('abcabc', 'abc', -1)", 3),                # negative counts from the end
    ("nthIndexOf('aaa', 'aa', 2)", 1),
    ("replace('a-a-A', 'a', 'b')", "b-b-A"),               # documented as case-sensitive
    ("substring('hello', 2)", "llo"),
    ("substring('hello', 0, 5)", "hello"),
    ("concat('n=', 1, ', f=', 2.5, ', b=', true, ', null=', null)", "n=1, f=2.5, b=True, null="),
    ("concat('a')", "a"),
    ("toUpper('straße')", "STRAßE"),                       # one character stays one character
    ("length(toLower('İstanbul'))", 8),
])
def test_behaviour_beyond_the_examples(expression, expected):
    assert_same(evaluate(expression), expected, expression)


@pytest.mark.parametrize(("expression", "message"), [
    ("substring('hello world', 6, 6)", "use slice"),       # the documented error past the end
    ("substring('hello', -1, 2)", "zero or positive"),
    ("replace('abc', '', 'x')", "empty string"),
    ("nthIndexOf('abc', 'a', 0)", "occurrence 0"),
    ("toUpper(1)", "parameter 1 to be a string"),
    ("split(createArray('a'), ',')", "parameter 1 to be a string"),
])
def test_bad_input_is_a_typed_error(expression, message):
    with pytest.raises(FunctionArgumentError, match=f"(?i){message}"):
        evaluate(expression)


class FixedEnvironment:
    def __init__(self, guid: str) -> None:
        self.guid = guid

    def now(self):
        raise AssertionError("guid() must not read the clock")

    def new_guid(self) -> str:
        return self.guid


DOC_GUID = "c2ecc88d-88c8-4096-912c-d6f2e2b138ce"


@pytest.mark.parametrize(("expression", "expected"), [
    ("guid()", DOC_GUID),                                   # documented
    ("guid('P')", "(c2ecc88d-88c8-4096-912c-d6f2e2b138ce)"),  # documented
    ("guid('N')", "c2ecc88d88c84096912cd6f2e2b138ce"),
    ("guid('D')", DOC_GUID),
    ("guid('B')", "{c2ecc88d-88c8-4096-912c-d6f2e2b138ce}"),
    ("guid('X')", "{0xc2ecc88d,0x88c8,0x4096,{0x91,0x2c,0xd6,0xf2,0xe2,0xb1,0x38,0xce}}"),
])
def test_guid_formats_the_environment_guid(expression, expected):
    assert evaluate(expression, FixedEnvironment(DOC_GUID)) == expected


def test_guid_is_new_each_call_and_rejects_unknown_formats():
    spec = lookup("GUID")
    env = type("Env", (), {"new_guid": staticmethod(lambda: str(uuid.uuid4())), "now": None})()
    first, second = spec.impl(env), spec.impl(env)
    assert first != second and uuid.UUID(first) and spec.needs_env
    with pytest.raises(FunctionArgumentError, match="'N', 'D', 'B', 'P' or 'X'"):
        spec.impl(env, "Q")
