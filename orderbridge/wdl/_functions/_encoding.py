"""Encoding functions: base64, binary content envelopes, data URIs and URI components.

Binary results are content envelopes ({"$content-type", "$content"}) as Logic Apps keeps them;
string() and the other functions decode an envelope implicitly, as the docs describe:
https://learn.microsoft.com/azure/logic-apps/logic-apps-content-type
"""
from __future__ import annotations

import base64 as base64_module
import binascii
import re
from typing import Any, Callable
from urllib.parse import quote, unquote, unquote_to_bytes

from orderbridge.wdl._functions._common import (
    CONTENT_TYPE,
    OCTET_STREAM,
    describe,
    expect_string,
    fail,
    is_envelope,
    make_envelope,
    to_bytes,
    to_text,
)
from orderbridge.wdl._functions._spec import FunctionSpec

# RFC 2397: data:[<mediatype>][;base64],<data>
_DATA_URI = re.compile(r"data:(?P<media>[^,]*?)(?P<base64>;base64)?,(?P<data>.*)",
                       re.DOTALL | re.IGNORECASE)
_TEXT_MEDIA_TYPE = "text/plain;charset=utf-8"


def base64(value: Any) -> str:
    return base64_module.b64encode(to_bytes(value, "base64")).decode("ascii")


def base64_to_binary(value: Any) -> dict:
    return make_envelope(_decode_base64("base64ToBinary", value))


def _base64_to_string(function: str) -> Callable[[Any], str]:
    def impl(value: Any) -> str:
        return _decode_base64(function, value).decode("utf-8", errors="replace")

    return impl


def binary(value: Any) -> dict:
    return make_envelope(to_bytes(value, "binary"))


def data_uri(value: Any) -> str:
    """Text becomes a UTF-8 text/plain data URI; an envelope keeps its own content type."""
    media_type = value.get(CONTENT_TYPE, OCTET_STREAM) if is_envelope(value) else _TEXT_MEDIA_TYPE
    return f"data:{media_type};base64,{base64(value)}"


def _data_uri_to_binary(function: str) -> Callable[[Any], dict]:
    def impl(value: Any) -> dict:
        media_type, data = _parse_data_uri(function, value)
        return make_envelope(data, media_type)

    return impl


def data_uri_to_string(value: Any) -> str:
    media_type, data = _parse_data_uri("dataUriToString", value)
    charset = re.search(r"charset=([^;]+)", media_type, re.IGNORECASE)
    try:
        return data.decode(charset[1] if charset else "utf-8", errors="replace")
    except LookupError:
        fail("dataUriToString", f"got the unknown charset {charset[1]!r}", "Use charset=utf-8.")


def _uri_component(function: str) -> Callable[[Any], str]:
    """Escape all but RFC 3986 unreserved characters, like .NET Uri.EscapeDataString."""
    def impl(value: Any) -> str:
        return quote(to_text(value, function), safe="-_.~")

    return impl


def _uri_component_to_string(function: str) -> Callable[[Any], str]:
    def impl(value: Any) -> str:
        return unquote(expect_string(function, 1, value))

    return impl


def uri_component_to_binary(value: Any) -> dict:
    return make_envelope(unquote_to_bytes(expect_string("uriComponentToBinary", 1, value)))


def _decode_base64(function: str, value: Any) -> bytes:
    text = expect_string(function, 1, value)
    try:
        return base64_module.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        fail(function, f"got text that is not base64: {describe(text)}",
             "Pass base64 text such as 'aGVsbG8='.")


def _parse_data_uri(function: str, value: Any) -> tuple[str, bytes]:
    text = expect_string(function, 1, value)
    match = _DATA_URI.fullmatch(text.strip())
    if not match:
        fail(function, f"got text that is not a data URI: {describe(text)}",
             "Pass a URI such as 'data:text/plain;charset=utf-8;base64,aGVsbG8='.")
    media_type = match["media"] or "text/plain;charset=US-ASCII"
    if match["base64"]:
        return media_type, _decode_base64(function, match["data"])
    return media_type, unquote_to_bytes(match["data"])


FUNCTIONS = (
    FunctionSpec("base64", base64, 1, 1),
    FunctionSpec("base64ToBinary", base64_to_binary, 1, 1),
    FunctionSpec("base64ToString", _base64_to_string("base64ToString"), 1, 1),
    # Deprecated in the docs in favour of base64ToString(), but still accepted by Logic Apps.
    FunctionSpec("decodeBase64", _base64_to_string("decodeBase64"), 1, 1),
    FunctionSpec("binary", binary, 1, 1),
    FunctionSpec("dataUri", data_uri, 1, 1),
    FunctionSpec("dataUriToBinary", _data_uri_to_binary("dataUriToBinary"), 1, 1),
    FunctionSpec("decodeDataUri", _data_uri_to_binary("decodeDataUri"), 1, 1),
    FunctionSpec("dataUriToString", data_uri_to_string, 1, 1),
    FunctionSpec("uriComponent", _uri_component("uriComponent"), 1, 1),
    FunctionSpec("encodeUriComponent", _uri_component("encodeUriComponent"), 1, 1),
    FunctionSpec("uriComponentToString", _uri_component_to_string("uriComponentToString"), 1, 1),
    FunctionSpec("decodeUriComponent", _uri_component_to_string("decodeUriComponent"), 1, 1),
    FunctionSpec("uriComponentToBinary", uri_component_to_binary, 1, 1),
)
