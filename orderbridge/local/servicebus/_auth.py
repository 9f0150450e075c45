"""Who may use the local namespace: a local bearer token in place of Entra ID, and SAS keys.

In Azure the workflows call Service Bus with a managed-identity token (an Entra ID JWT for
`https://servicebus.azure.net`). No Entra ID runs here, so the local stack makes up one secret token
at start, hands it to the Logic App host for every `ManagedServiceIdentity` call, and the fronts
accept exactly that token as `Authorization: Bearer <token>`. SAS tokens are checked as Azure checks
them: HMAC-SHA256 with the named key over `<url-encoded sr>\\n<se>`, not expired, and `sr` a prefix of
the entity's URI
(https://learn.microsoft.com/azure/service-bus-messaging/service-bus-sas#generate-a-shared-access-signature-token).
Problems name what is wrong, never a token or a key.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus, unquote, unquote_plus

# The key name a namespace's connection string carries by default, as Azure and the emulator name it.
ROOT_KEY_NAME = "RootManageSharedAccessKey"
_SAS_PREFIX = "SharedAccessSignature "
_BEARER_PREFIX = "Bearer "


def sas_token(resource: str, key_name: str, key: str, expiry: int) -> str:
    """A SAS token for `resource` (a URI) valid until POSIX second `expiry`, as the SDKs build it."""
    encoded = quote_plus(resource)
    signature = _signature(key, f"{encoded}\n{expiry}")
    return f"{_SAS_PREFIX}sr={encoded}&sig={quote(signature, safe='')}&se={expiry}&skn={key_name}"


def new_sas_key() -> str:
    """A made-up shared access key shaped like Azure's: 32 random bytes, base64."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


@dataclass(frozen=True)
class Credentials:
    """The secrets a front accepts: `bearer_token` (the local stand-in for managed identity) and `sas_keys` by name."""

    bearer_token: str | None = field(default=None, repr=False)
    sas_keys: Mapping[str, str] = field(default_factory=dict, repr=False)

    def problem(self, authorization: str | None, resources: Iterable[str], now: float) -> str | None:
        """Why `authorization` does not grant access to any of `resources` (URIs of the entity) at `now`, or None."""
        if not authorization:
            return "the request has no Authorization header; send a Bearer token or a SharedAccessSignature"
        if authorization.startswith(_BEARER_PREFIX):
            return self._bearer_problem(authorization[len(_BEARER_PREFIX):].strip())
        if authorization.startswith(_SAS_PREFIX):
            return self._sas_problem(authorization[len(_SAS_PREFIX):], list(resources), now)
        return "the Authorization header is neither 'Bearer <token>' nor 'SharedAccessSignature ...'"

    def _bearer_problem(self, token: str) -> str | None:
        if self.bearer_token is None or not hmac.compare_digest(token.encode(), self.bearer_token.encode()):
            return "the bearer token is not the local stack's managed-identity token"
        return None

    def _sas_problem(self, text: str, resources: list[str], now: float) -> str | None:
        fields = dict(part.split("=", 1) for part in text.split("&") if "=" in part)
        missing = sorted({"sr", "sig", "se", "skn"} - set(fields))
        if missing:
            return f"the SharedAccessSignature lacks {missing}"
        key = self.sas_keys.get(fields["skn"])
        if key is None:
            return f"no shared access key is named {fields['skn']!r}"
        expected = _signature(key, f"{fields['sr']}\n{fields['se']}")
        if not hmac.compare_digest(unquote(fields["sig"]).encode(), expected.encode()):
            return "the SharedAccessSignature's signature does not match its key"
        if not fields["se"].isdigit() or int(fields["se"]) <= now:
            return "the SharedAccessSignature has expired"
        scope = _without_scheme(unquote_plus(fields["sr"]))
        if not any(_without_scheme(resource).startswith(scope) for resource in resources):
            return "the SharedAccessSignature's resource (sr) does not cover this entity"
        return None


def _signature(key: str, string_to_sign: str) -> str:
    digest = hmac.new(key.encode(), string_to_sign.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _without_scheme(uri: str) -> str:
    return uri.split("://", 1)[-1].lower()
