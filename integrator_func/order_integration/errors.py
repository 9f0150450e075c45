"""Exceptions of the integrators; the class decides what happens to the message.

IntegrationError                    root of every error the integrators raise on purpose
├── DeliveryError                   about one message: runtime turns it into a retry or a park
│   ├── PermanentError              retrying cannot help: parked with `reason` and a description
│   │   ├── ContractViolation       a message or response breaks its JSON Schema (path and rule named)
│   │   │   └── MalformedJson       the body is not JSON at all (or holds NaN/Infinity)
│   │   ├── MappingError            a valid message cannot be mapped (the field at fault named)
│   │   ├── TargetRejected          the ERP/ECP answered 4xx to a well-formed request
│   │   ├── UnsupportedDataVersion  (messages) the dataVersion's major is not one this code reads
│   │   ├── ImplausibleRetryProperties (messages) a retry property holds a value our redelivery never writes
│   │   ├── ExistingOrderMismatch   (erp_integrator) the ERP holds other orders for this ECP order
│   │   ├── OrderNotFound           (ecp_integrator) the ECP has no order with the ERP state's id
│   │   ├── SessionMismatch         (ecp_integrator) the SessionId and the body name different orders
│   │   ├── EcpOrderMismatch        (ecp_integrator) the ECP answered with another order than asked for
│   │   └── UnreadableEcpChangeVersion (ecp_integrator) the ECP's stored version is no whole number
│   └── TransientError              worth retrying later with backoff: network, timeout, 408, 429, 5xx
│       └── TargetUnavailable       the ERP/ECP could not be reached or answered 408/429/5xx
│           └── OutcomeUnknown      a create was sent, no answer came: the target may still carry it out
├── SettingsError                   (settings) the app settings are missing or invalid
├── SendFailed                      (servicebus) Service Bus refused a retry or a park
├── CannotReplay                    (redelivery) an operator's replay lacks what its queue needs
└── SecretWithheld                  (runtime) replaces any exception whose text held a secret
SettingsError, SendFailed and SecretWithheld leave the message unsettled, so Service Bus redelivers it (dead-lettering it after
maxDeliveryCount): nothing is completed that was neither delivered nor parked.
"""
from __future__ import annotations

import re
from typing import Iterable


class IntegrationError(Exception):
    """Root of every error the integrators raise on purpose."""


class DeliveryError(IntegrationError):
    """A failure of one message that decides its fate: a retry (transient) or a park (permanent)."""


class PermanentError(DeliveryError):
    """The message can never succeed as it is; it goes to the parking queue with `reason`."""

    reason: str = "PermanentFailure"


class ContractViolation(PermanentError):
    """An instance breaks a contract in `schemas/`; names the contract, the JSON path and the rule."""

    reason = "SchemaViolation"

    def __init__(self, *, contract: str, json_path: str, rule: str, message: str) -> None:
        self.contract = contract
        self.json_path = json_path
        self.rule = rule
        super().__init__(f"{contract}: {json_path} violates '{rule}': {message}")


class MalformedJson(ContractViolation):
    """A body that is not JSON: no schema can even be applied."""

    reason = "MalformedMessage"

    def __init__(self, *, detail: str) -> None:
        super().__init__(contract="json", json_path="$", rule="json", message=f"not valid JSON ({detail})")


class MappingError(PermanentError):
    """A valid order or state cannot be mapped; `field` is the JSON path at fault."""

    reason = "MappingFailed"

    def __init__(self, *, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"cannot map {field}: {message}")


class TargetRejected(PermanentError):
    """The target API refused a well-formed request with a 4xx that retrying will not change."""

    reason = "TargetRejected"

    def __init__(self, *, target: str, status_code: int, detail: str) -> None:
        self.target = target
        self.status_code = status_code
        super().__init__(f"{target} rejected the request with HTTP {status_code}: {detail}")


class TransientError(DeliveryError):
    """Retry later; `retry_after` (seconds) is the target's own hint, when it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class TargetUnavailable(TransientError):
    """The target API was unreachable, timed out, or answered 408, 429 or 5xx."""


class OutcomeUnknown(TargetUnavailable):
    """A non-idempotent request was sent but its answer never came (timeout, dropped connection, 502/504).

    The target may still be working on it and commit later, so `retry_after` is at least the target's
    longest possible execution time: a retry must not look for the result before it can exist.
    """


# Credentials that a library's or a target's error text may contain even when we know no value: a
# Service Bus connection string's or SAS token's key or signature, a storage account key, a password
# in a URL or connection string, an OAuth bearer token.
_CREDENTIAL = re.compile(
    r"(?i)\b(SharedAccessKey|AccountKey|sig|password|pwd|client_secret)=[^;&\s'\"]+|\bBearer\s+[A-Za-z0-9._~+/=-]+"
)
# A shorter "secret" is no key (tests use "k"); replacing it would garble every text.
MIN_SECRET_LENGTH = 6
REDACTED = "***"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every known secret and every credential-looking part replaced by ***."""
    for secret in sorted((s for s in secrets if len(s) >= MIN_SECRET_LENGTH), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _CREDENTIAL.sub(_mask_credential, text)


def _mask_credential(match: re.Match[str]) -> str:
    """`name=***` or `Bearer ***`: the kind of credential stays readable, its value does not."""
    found = match.group(0)
    if found.lower().startswith("bearer"):
        return f"Bearer {REDACTED}"
    return f"{found.split('=', 1)[0]}={REDACTED}"


def exception_chain(error: BaseException) -> list[BaseException]:
    """`error` and every exception behind it (`__cause__`, `__context__`), each once."""
    chain: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or any(current is seen for seen in chain):
            continue
        chain.append(current)
        pending.extend((current.__cause__, current.__context__))
    return chain


def carries_secret(error: BaseException, secrets: Iterable[str]) -> bool:
    """Whether the text of `error` or of an exception behind it holds a secret (plain or repr-escaped)."""
    known = tuple(secrets)
    return any(
        redact(text, known) != text for e in exception_chain(error) for text in (str(e), repr(e))
    )


class SecretWithheld(IntegrationError):
    """Stands in for an exception whose text (or its cause's) held a secret, so that never leaves the app.

    It names the exception classes and their redacted texts; the message stays unsettled, as the
    original exception would have left it.
    """

    def __init__(self, error: BaseException, secrets: Iterable[str]) -> None:
        known = tuple(secrets)
        self.withheld = [type(e).__name__ for e in exception_chain(error)]
        shown = " <- ".join(f"{type(e).__name__}: {redact(str(e), known)[:300]}" for e in exception_chain(error))
        super().__init__(
            f"an exception held a secret in its text and was replaced by this one ({shown}); the message is "
            "left to Service Bus. If the secret is an app setting's, store it again without what the error "
            "showed around it; if it is a key that reached a log elsewhere, rotate it"
        )
