"""Per-process wiring of the integrators, and the one place failures are turned into outcomes.

The Functions entry points call `deliver_to_erp` / `deliver_to_ecp`. The runtime (settings, the
one pooled HTTP client, the Service Bus sender) is built from the app settings on the first
message and reused; tests and the local stack install their own with `install_runtime`.

A handler either succeeds, or raises a DeliveryError that becomes a scheduled retry or a
park. Anything else (a bug, bad settings, Service Bus refusing the retry or park) propagates, so
the host abandons the message and Service Bus redelivers it, dead-lettering it after
maxDeliveryCount: a message is never completed unless its order reached the target or was parked.
Bad settings are logged once per message with its ids and every problem, then raised the same way.
No secret leaves this way: log lines and retry or park texts are redacted, and an exception whose
text (or its cause's) holds an API key, the Service Bus connection string or its key, or a
credential is replaced by SecretWithheld.
"""
from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from order_integration import ecp_integrator, erp_integrator
from order_integration.errors import (
    ContractViolation,
    DeliveryError,
    MappingError,
    SecretWithheld,
    TargetRejected,
    carries_secret,
    redact,
)
from order_integration.first_delivery import DuplicateDetection
from order_integration.http_clients import HttpTimeouts, TargetApi, build_client
from order_integration.mapping import ErpDefaults
from order_integration.messages import InboundMessage, LogContext, MessageOutcome
from order_integration.redelivery import Redelivery, RetryPolicy, Route
from order_integration.servicebus import AzureServiceBusSender, MessageSender, SendFailed
from order_integration.settings import Settings, SettingsError, load_settings, secret_values
from topology import ECP_TO_ERP, ERP_TO_ECP, PipelineSpec

Handler = Callable[[InboundMessage, LogContext], MessageOutcome]


def utc_now() -> datetime:
    """The wall clock, timezone-aware."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Runtime:
    """Everything a delivery needs, built once per process."""

    settings: Settings
    erp: erp_integrator.ErpApi
    ecp: ecp_integrator.EcpApi
    defaults: ErpDefaults
    sender: MessageSender
    policy: RetryPolicy
    now: Callable[[], datetime] = utc_now

    @property
    def secrets(self) -> tuple[str, ...]:
        """The API keys this runtime sends and its Service Bus credentials: never in a log, a park or an exception."""
        return self.settings.secrets

    @property
    def duplicate_detection(self) -> DuplicateDetection | None:
        """The online-orders queue's, which lets a provably first delivery skip the ERP look-up."""
        minutes, created_at = (
            self.settings.online_orders_duplicate_detection_minutes,
            self.settings.online_orders_queue_created_at,
        )
        if minutes is None or created_at is None:
            return None
        return DuplicateDetection(window=timedelta(minutes=minutes), queue_created_at=created_at)


def build_runtime(
    environ: Mapping[str, str] | None = None,
    *,
    sender: MessageSender | None = None,
    now: Callable[[], datetime] = utc_now,
    timeouts: HttpTimeouts = HttpTimeouts(),
) -> Runtime:
    """A runtime from app settings; `sender` defaults to Azure Service Bus through the connection the
    trigger uses: the `ServiceBusConnection` connection string if set, else the managed identity."""
    settings = load_settings(environ)
    defaults = _erp_defaults(settings)
    # Both targets share the process's one pool of connections.
    target = functools.partial(TargetApi, client=build_client(timeouts), pool_timeout=timeouts.pool)
    return Runtime(
        settings=settings,
        erp=erp_integrator.ErpApi(
            target(name="ERP", base_url=settings.erp_base_url, api_key=settings.erp_api_key),
            unknown_outcome_wait=settings.erp_unknown_outcome_retry_minutes * 60.0,
        ),
        ecp=ecp_integrator.EcpApi(target(name="ECP", base_url=settings.ecp_base_url, api_key=settings.ecp_api_key)),
        defaults=defaults,
        sender=sender or _service_bus_sender(settings),
        policy=RetryPolicy(max_span=timedelta(minutes=settings.retry_max_span_minutes)),
        now=now,
    )


def _service_bus_sender(settings: Settings) -> AzureServiceBusSender:
    if settings.service_bus_connection_string is not None:
        return AzureServiceBusSender(connection_string=settings.service_bus_connection_string)
    return AzureServiceBusSender(settings.service_bus_namespace)


def _erp_defaults(settings: Settings) -> ErpDefaults:
    try:
        return ErpDefaults(
            web_customer_number=settings.erp_web_customer_number,
            shipping_charge_item=settings.erp_shipping_charge_item,
            prices_include_tax=settings.erp_prices_include_tax,
        )
    except ValueError as exc:
        raise SettingsError([str(exc)]) from None  # the same text; no second copy in the chain


_lock = threading.Lock()
_runtime: Runtime | None = None


def current_runtime() -> Runtime:
    """The process's runtime, built from the environment on first use."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = build_runtime()
        return _runtime


def install_runtime(runtime: Runtime | None) -> None:
    """Use `runtime` for the following deliveries (None: rebuild from the environment on next use)."""
    global _runtime
    with _lock:
        _runtime = runtime


def deliver_to_erp(message: Any) -> MessageOutcome:
    """Handle one message of the ECP -> ERP pipeline's queue from the Functions host."""
    return _without_secrets(lambda: _deliver_to_erp(message))


def deliver_to_ecp(message: Any) -> MessageOutcome:
    """Handle one message of the ERP -> ECP pipeline's queue from the Functions host."""
    return _without_secrets(lambda: _deliver_to_ecp(message))


def _deliver_to_erp(message: Any) -> MessageOutcome:
    received = InboundMessage.from_functions(message)
    runtime = _runtime_for(received, ECP_TO_ERP)

    def handler(inbound: InboundMessage, log: LogContext) -> MessageOutcome:
        return erp_integrator.integrate(
            inbound,
            erp=runtime.erp,
            defaults=runtime.defaults,
            log=log,
            now=runtime.now(),
            duplicate_detection=runtime.duplicate_detection,
        )

    return _deliver(received, runtime.settings.routes[ECP_TO_ERP.function_name], handler, runtime)


def _deliver_to_ecp(message: Any) -> MessageOutcome:
    received = InboundMessage.from_functions(message)
    runtime = _runtime_for(received, ERP_TO_ECP)

    def handler(inbound: InboundMessage, log: LogContext) -> MessageOutcome:
        return ecp_integrator.integrate(inbound, ecp=runtime.ecp, log=log)

    return _deliver(received, runtime.settings.routes[ERP_TO_ECP.function_name], handler, runtime)


def _known_secrets() -> tuple[str, ...]:
    """The installed runtime's secrets and the environment's, which matter most when settings are refused."""
    with _lock:
        installed = _runtime.secrets if _runtime is not None else ()
    return (*installed, *secret_values())


def _without_secrets(deliver: Callable[[], MessageOutcome]) -> MessageOutcome:
    """Run `deliver`; an exception holding a secret leaves as SecretWithheld, which the host may log.

    Raised outside the `except` block, so that the original is not its `__context__` either.
    """
    try:
        return deliver()
    except Exception as error:
        secrets = _known_secrets()
        if not carries_secret(error, secrets):
            raise
        withheld = SecretWithheld(error, secrets)
    raise withheld


def _runtime_for(message: InboundMessage, pipeline: PipelineSpec) -> Runtime:
    """The runtime, or a logged SettingsError that leaves the message to Service Bus (abandon, then DLQ)."""
    try:
        return current_runtime()
    except SettingsError as error:
        # Nothing can be retried or parked without settings; maxDeliveryCount dead-letters the
        # message if nobody fixes them. The problems name settings, never their secret values.
        LogContext.of(pipeline.parked_by, message).log(
            logging.ERROR,
            "cannot handle the message: invalid app settings (%s); leaving it to Service Bus",
            redact("; ".join(error.problems), secret_values()),
        )
        raise


def _deliver(message: InboundMessage, route: Route, handler: Handler, runtime: Runtime) -> MessageOutcome:
    log = LogContext.of(route.parked_by, message)
    try:
        return handler(message, log)
    except DeliveryError as error:
        hide = functools.partial(redact, secrets=runtime.secrets)
        redelivery = Redelivery(route=route, sender=runtime.sender, policy=runtime.policy, now=runtime.now, redact=hide)
        try:
            outcome = redelivery.handle(message, error)
        except SendFailed:
            log.log(logging.ERROR, "could not retry or park after %s; leaving it to Service Bus", hide(loggable(error)))
            raise
        log.log(logging.WARNING, "%s -> %s", hide(loggable(error)), outcome.value)
        return outcome
    except Exception as error:
        # A bug or bad settings: Service Bus redelivers, then dead-letters after maxDeliveryCount.
        # Only the type is logged here; the host records the exception itself.
        log.log(logging.ERROR, "unexpected %s; leaving the message to Service Bus", type(error).__name__)
        raise


def loggable(error: DeliveryError) -> str:
    """The error for a log line: codes, paths and statuses, never values from the message."""
    if isinstance(error, ContractViolation):
        return f"{error.reason}: {error.contract} {error.json_path} violates '{error.rule}'"
    if isinstance(error, MappingError):
        return f"{error.reason}: cannot map {error.field}"
    if isinstance(error, TargetRejected):
        return f"{error.reason}: {error.target} answered HTTP {error.status_code}"
    # Our other errors are built from ids, statuses and exception class names only.
    return f"{getattr(error, 'reason', type(error).__name__)}: {error}"
