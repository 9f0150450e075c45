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
│   │   └── OrderNotFound           (ecp_integrator) the ECP has no order with the ERP state's id
│   └── TransientError              worth retrying later with backoff: network, timeout, 408, 429, 5xx
│       └── TargetUnavailable       the ERP/ECP could not be reached or answered 408/429/5xx
│           └── OutcomeUnknown      a create was sent, no answer came: the target may still carry it out
├── SettingsError                   (settings) the app settings are missing or invalid
├── SendFailed                      (servicebus) Service Bus refused a retry or a park
└── CannotReplay                    (redelivery) an operator's replay lacks what its queue needs
SettingsError and SendFailed leave the message unsettled, so Service Bus redelivers it (dead-lettering it after
maxDeliveryCount): nothing is completed that was neither delivered nor parked.
"""
from __future__ import annotations


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
