"""URI parsing functions: uriHost, uriPath, uriPathAndQuery, uriPort, uriQuery, uriScheme.

Like .NET's System.Uri they need an absolute URI; a relative one is an error, not an empty result.
"""
from __future__ import annotations

from typing import Any, Callable
from urllib.parse import SplitResult, urlsplit

from orderbridge.wdl._functions._common import describe, expect_string, fail
from orderbridge.wdl._functions._spec import FunctionSpec

# The ports System.Uri knows for the schemes a workflow meets.
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443, "sftp": 22}


def _parse(function: str, value: Any) -> SplitResult:
    text = expect_string(function, 1, value)
    try:
        parts = urlsplit(text.strip())
        parts.port  # noqa: B018 - reading it validates the port number.
    except ValueError as exc:
        fail(function, f"got an invalid URI {describe(text)} ({exc})", "Pass an absolute URI.")
    if not parts.scheme or not parts.netloc:
        fail(function, f"got {describe(text)}, which is not an absolute URI",
             "Pass a URI with a scheme and a host, such as 'https://contoso.com/path'.")
    return parts


def _path(parts: SplitResult) -> str:
    return parts.path or "/"


def _port(function: str, parts: SplitResult) -> int:
    if parts.port is not None:
        return parts.port
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        fail(function, f"cannot tell the default port of the scheme {scheme!r}",
             "Write the port in the URI.")
    return _DEFAULT_PORTS[scheme]


def _part(name: str, read: Callable[[str, SplitResult], Any]) -> FunctionSpec:
    def impl(uri: Any) -> Any:
        return read(name, _parse(name, uri))

    impl.__name__ = name
    return FunctionSpec(name, impl, 1, 1)


FUNCTIONS = (
    _part("uriHost", lambda _, parts: parts.hostname or ""),
    _part("uriPath", lambda _, parts: _path(parts)),
    _part("uriPathAndQuery", lambda _, parts: _path(parts) + (f"?{parts.query}" if parts.query else "")),
    _part("uriPort", _port),
    _part("uriQuery", lambda _, parts: f"?{parts.query}" if parts.query else ""),
    _part("uriScheme", lambda _, parts: parts.scheme.lower()),
)
