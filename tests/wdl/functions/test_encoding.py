"""Encoding and URI functions, checked against every example in Microsoft's reference."""
import pytest

from orderbridge.wdl._errors import FunctionArgumentError
from tests.wdl.functions._expressions import assert_same, evaluate

DOCUMENTED = [
    ("base64('hello')", "aGVsbG8="),
    ("base64ToString('aGVsbG8=')", "hello"),
    ("dataUri('hello')", "data:text/plain;charset=utf-8;base64,aGVsbG8="),
    ("dataUriToString('data:text/plain;charset=utf-8;base64,aGVsbG8=')", "hello"),
    ("decodeUriComponent('https%3A%2F%2Fcontoso.com')", "https://contoso.com"),
    ("encodeUriComponent('https://contoso.com')", "https%3A%2F%2Fcontoso.com"),
    ("uriComponent('https://contoso.com')", "https%3A%2F%2Fcontoso.com"),
    ("uriComponentToString('https%3A%2F%2Fcontoso.com')", "https://contoso.com"),
    ("uriHost('https://www.localhost.com:8080')", "www.localhost.com"),
    ("uriPath('https://www.contoso.com/catalog/shownew.htm?date=today')", "/catalog/shownew.htm"),
    ("uriPathAndQuery('https://www.contoso.com/catalog/shownew.htm?date=today')",
     "/catalog/shownew.htm?date=today"),
    ("uriPort('https://www.localhost:8080')", 8080),
    ("uriQuery('https://www.contoso.com/catalog/shownew.htm?date=today')", "?date=today"),
]


@pytest.mark.parametrize(("expression", "expected"), DOCUMENTED)
def test_documented_example(expression, expected):
    assert_same(evaluate(expression), expected, expression)


def test_documented_uri_component_to_binary_is_a_base64_content_envelope():
    """Documented result "aHR0cHM6Ly9jb250b3NvLmNvbQ==": the binary content, base64 in $content."""
    envelope = evaluate("uriComponentToBinary('https%3A%2F%2Fcontoso.com')")
    assert envelope == {"$content-type": "application/octet-stream",
                        "$content": "aHR0cHM6Ly9jb250b3NvLmNvbQ=="}


def test_documented_decode_data_uri_gives_the_hello_bytes():
    """Documented result "hello": the envelope holds those bytes and string() shows them."""
    envelope = evaluate("decodeDataUri('data:text/plain;charset=utf-8;base64,aGVsbG8=')")
    assert envelope == {"$content-type": "text/plain;charset=utf-8", "$content": "aGVsbG8="}
    assert evaluate("string(decodeDataUri('data:text/plain;charset=utf-8;base64,aGVsbG8='))") == "hello"


def test_documented_base64_to_binary_and_binary_carry_the_bytes():
    assert evaluate("base64ToBinary('aGVsbG8=')")["$content"] == "aGVsbG8="
    assert evaluate("binary('hello')") == {"$content-type": "application/octet-stream",
                                            "$content": "aGVsbG8="}


def test_documented_data_uri_to_binary_bytes():
    """The docs print a bit string of the URI text itself, which is a doc error; the bytes the
    data URI holds are 'hello'."""
    envelope = evaluate("dataUriToBinary('data:text/plain;charset=utf-8;base64,aGVsbG8=')")
    assert envelope["$content"] == "aGVsbG8="


def test_documented_uri_scheme_is_the_real_scheme():
    """The docs print "http" for an https URI, a doc error; System.Uri.Scheme gives "https"."""
    assert evaluate("uriScheme('https://www.contoso.com/catalog/shownew.htm?date=today')") == "https"


@pytest.mark.parametrize(("expression", "expected"), [
    ("base64ToString(base64('äöü €'))", "äöü €"),
    ("decodeBase64('aGVsbG8=')", "hello"),
    ("base64(binary('hi'))", "aGk="),                      # envelopes decode implicitly
    ("dataUri(base64ToBinary('aGk='))", "data:application/octet-stream;base64,aGk="),
    ("dataUriToString('data:,a%20b')", "a b"),
    ("encodeUriComponent('a b&c=d/é~')", "a%20b%26c%3Dd%2F%C3%A9~"),
    ("uriComponentToString('a+b%20c')", "a+b c"),
    ("uriPath('https://contoso.com')", "/"),
    ("uriPort('http://contoso.com/x')", 80),
    ("uriPort('https://contoso.com/x')", 443),
    ("uriQuery('https://contoso.com/x')", ""),
    ("uriPathAndQuery('https://contoso.com')", "/"),
    ("uriHost('HTTPS://Contoso.COM/x')", "contoso.com"),
])
def test_behaviour_beyond_the_examples(expression, expected):
    assert_same(evaluate(expression), expected, expression)


@pytest.mark.parametrize(("expression", "message"), [
    ("base64ToString('not base64!')", "not base64"),
    ("dataUriToString('hello')", "not a data URI"),
    ("uriHost('/relative/path')", "not an absolute URI"),
    ("uriPort('https://contoso.com:99999')", "invalid URI"),
    ("uriPort('gopher://contoso.com')", "default port"),
    ("uriComponentToString(1)", "parameter 1 to be a string"),
])
def test_bad_input_is_a_typed_error(expression, message):
    with pytest.raises(FunctionArgumentError, match=message):
        evaluate(expression)
