"""App settings of the integrator Functions app, read and checked in one place.

Infra sets these app settings (API keys as Key Vault references, resolved by the platform before
the worker sees them). Every problem is reported at once, so one redeploy fixes them all.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Mapping, overload
from urllib.parse import urlsplit

from order_integration.errors import MIN_SECRET_LENGTH, IntegrationError
from order_integration.messages import shown
from order_integration.redelivery import Route
from topology import (
    DUPLICATE_DETECTION_WINDOW,
    ERP_UNKNOWN_OUTCOME_WAIT,
    PIPELINES,
    QUEUE_CREATED_AT_SETTING,
    RETRY_MAX_SPAN,
    MinutesSetting,
    retry_rule_problem,
)

# A Key Vault reference the platform could not resolve reaches the worker as the reference string
# itself ("If a reference isn't resolved properly, the reference string is used instead",
# https://learn.microsoft.com/azure/app-service/app-service-key-vault-references#troubleshoot-key-vault-references).
_KEY_VAULT_REFERENCE = "@microsoft.keyvault("
_BOOLEANS = {"true": True, "false": False}
# Service Bus entity names: letters, digits, periods, hyphens, underscores and slashes, starting and
# ending with a letter or digit, at most 260 characters
# (https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftservicebus).
_QUEUE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._/-]{0,258}[A-Za-z0-9])?")
# An API key travels as a header value: visible ASCII only.
_HEADER_VALUE = re.compile(r"[\x21-\x7e]+")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"(?:{_LABEL}\.)+{_LABEL}")
_NAMESPACE = "ServiceBusConnection__fullyQualifiedNamespace"
API_KEY_SETTINGS = ("ERP_API_KEY", "ECP_API_KEY")
# A settings problem repeats a value only this short: a key pasted into the wrong setting is longer.
_ECHO_LIMIT = 20


class SettingsError(IntegrationError):
    """The Function App's settings are missing or invalid; `problems` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listed = "\n  - ".join(problems)
        super().__init__(
            f"invalid integrator app settings (fix them in the Function App configuration):\n  - {listed}"
        )


@dataclass(frozen=True)
class Settings:
    """Everything the integrators need from the environment."""

    service_bus_namespace: str
    erp_base_url: str
    erp_api_key: str
    ecp_base_url: str
    ecp_api_key: str
    erp_web_customer_number: str
    erp_shipping_charge_item: str
    erp_prices_include_tax: bool
    retry_max_span_minutes: int
    erp_unknown_outcome_retry_minutes: int
    # The online-orders queue's duplicate-detection window and creation time; without them every
    # order is looked up before it is created (order_integration.first_delivery).
    online_orders_duplicate_detection_minutes: int | None = None
    online_orders_queue_created_at: datetime | None = None
    # Per integrator function: the queue its trigger is bound to and where it parks.
    routes: Mapping[str, Route] = field(default_factory=lambda: _routes({}, []))

    def __repr__(self) -> str:
        # The API keys must never reach a log line, even through a debug print of the settings.
        return (
            f"Settings(service_bus_namespace={self.service_bus_namespace!r}, "
            f"erp_base_url={self.erp_base_url!r}, ecp_base_url={self.ecp_base_url!r}, "
            f"erp_web_customer_number={self.erp_web_customer_number!r}, "
            f"erp_shipping_charge_item={self.erp_shipping_charge_item!r}, "
            f"erp_prices_include_tax={self.erp_prices_include_tax}, "
            f"retry_max_span_minutes={self.retry_max_span_minutes}, "
            f"erp_unknown_outcome_retry_minutes={self.erp_unknown_outcome_retry_minutes}, "
            f"online_orders_duplicate_detection_minutes={self.online_orders_duplicate_detection_minutes}, "
            f"online_orders_queue_created_at={self.online_orders_queue_created_at}, "
            f"routes={dict(self.routes)!r}, api keys hidden)"
        )


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `environ` (default: the process environment) or raise SettingsError."""
    env = os.environ if environ is None else environ
    problems: list[str] = []

    def required(name: str) -> str:
        value = env.get(name, "").strip()
        if not value:
            problems.append(f"{name} is not set")
        return value

    def base_url(name: str) -> str:
        value = required(name).rstrip("/")
        if value and not _is_base_url(value):
            # Not echoed: a URL pasted with credentials in it must not reach a log line.
            problems.append(
                f"{name} must be an absolute http(s) URL without user name, password, query or fragment"
                " (the integrator appends paths and sends the key as a header)"
            )
        return value

    def api_key(name: str) -> str:
        value = required(name)
        if value.lower().startswith(_KEY_VAULT_REFERENCE):
            problems.append(
                f"{name} is an unresolved Key Vault reference, not a key: the platform could not read the "
                "secret, most likely because the app identity's Key Vault Secrets User role is not effective "
                "yet (role assignments take minutes) or the secret does not exist; check the setting's "
                "Key Vault reference status, then restart the Function App"
            )
        elif value and not _HEADER_VALUE.fullmatch(value):
            problems.append(
                f"{name} contains characters an HTTP header cannot carry (spaces, line breaks or non-ASCII);"
                " store the key again without them"
            )
        return value

    namespace = required(_NAMESPACE)
    if namespace and not _HOST_NAME.fullmatch(namespace):
        problems.append(_namespace_problem(namespace))
    retry_span = _minutes(env, RETRY_MAX_SPAN, problems)
    unknown_outcome_wait = _minutes(env, ERP_UNKNOWN_OUTCOME_WAIT, problems)
    rule = retry_rule_problem(
        retry_span, unknown_outcome_wait,
        span_name=RETRY_MAX_SPAN.app_setting, wait_name=ERP_UNKNOWN_OUTCOME_WAIT.app_setting,
    )
    if rule:
        problems.append(rule)
    window_minutes, queue_created_at = _online_orders_queue(env, problems)
    settings = Settings(
        service_bus_namespace=namespace,
        erp_base_url=base_url("ERP_BASE_URL"),
        erp_api_key=api_key("ERP_API_KEY"),
        ecp_base_url=base_url("ECP_BASE_URL"),
        ecp_api_key=api_key("ECP_API_KEY"),
        erp_web_customer_number=required("ERP_WEB_CUSTOMER_NUMBER"),
        erp_shipping_charge_item=required("ERP_SHIPPING_CHARGE_ITEM"),
        erp_prices_include_tax=_boolean(required("ERP_PRICES_INCLUDE_TAX"), "ERP_PRICES_INCLUDE_TAX", problems),
        retry_max_span_minutes=retry_span,
        erp_unknown_outcome_retry_minutes=unknown_outcome_wait,
        online_orders_duplicate_detection_minutes=window_minutes,
        online_orders_queue_created_at=queue_created_at,
        routes=_routes(env, problems),
    )
    if problems:
        raise SettingsError(problems)
    return settings


def _online_orders_queue(env: Mapping[str, str], problems: list[str]) -> tuple[int | None, datetime | None]:
    """The online-orders queue's duplicate-detection window and creation time: both, or neither."""
    window, created = DUPLICATE_DETECTION_WINDOW.app_setting, QUEUE_CREATED_AT_SETTING
    minutes = _minutes(env, DUPLICATE_DETECTION_WINDOW, problems, optional=True)
    raw = env.get(created, "").strip()
    created_at = _utc_datetime(raw, created, problems) if raw else None
    if (minutes is None) != (not raw):
        problems.append(f"set both {window} and {created}, or neither (then every order is looked up)")
    return minutes, created_at


def _routes(env: Mapping[str, str], problems: list[str]) -> dict[str, Route]:
    """Each function's queue and parking queue, from the settings its trigger binding reads too;
    an app whose settings do not name them uses the queues the topology declares."""

    def queue(setting: str, declared: str) -> str:
        value = env.get(setting, "").strip() or declared
        if not _QUEUE_NAME.fullmatch(value):
            problems.append(f"{setting} is not a Service Bus queue name (letters, digits, . _ - /; at most 260)")
        return value

    return {
        p.function_name: Route(
            queue(p.queue_setting, p.queue_name), queue(p.parking_queue_setting, p.parking_queue_name), p.parked_by
        )
        for p in PIPELINES
    }


def _is_base_url(value: str) -> bool:
    """An absolute http(s) URL the integrator can append paths to, with nothing secret in it."""
    parts = urlsplit(value)
    return (
        parts.scheme in ("http", "https") and bool(parts.hostname) and not (parts.username or parts.password)
        and not parts.query and not parts.fragment and "?" not in value and "#" not in value
    )


def _namespace_problem(value: str) -> str:
    """What is wrong with the namespace setting, without repeating its value (it may hold a key)."""
    if "sharedaccesskey" in value.lower() or "endpoint=" in value.lower():
        return (
            f"{_NAMESPACE} holds a connection string, not a host name: set it to the namespace's host name"
            " only (e.g. 'sb-orderbridge-dev.servicebus.windows.net'; the app connects with its managed"
            " identity) and rotate the key that was pasted"
        )
    return f"{_NAMESPACE} must be a host name such as 'sb-orderbridge-dev.servicebus.windows.net'"


def _utc_datetime(raw: str, name: str, problems: list[str]) -> datetime | None:
    """An ISO 8601 time from Azure Resource Manager, else a problem; one without an offset is UTC.

    ARM answers `"createdAt": "2023-06-20T09:20:33.997Z"`; some of its times come without the `Z`
    (`"accessedAt": "0001-01-01T00:00:00"`), and all of them are UTC.
    """
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        problems.append(f"{name}={_echo(raw)} must be an ISO 8601 time, e.g. 2026-11-27T10:00:00Z")
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _boolean(raw: str, name: str, problems: list[str]) -> bool:
    """`true`/`false` (any case); no default, because a wrong guess would mis-book every order's tax."""
    value = _BOOLEANS.get(raw.lower())
    if raw and value is None:
        problems.append(f"{name}={_echo(raw)} must be 'true' or 'false' (the web customer card's Prices Including VAT)")
    return bool(value)


@overload
def _minutes(env: Mapping[str, str], setting: MinutesSetting, problems: list[str]) -> int: ...


@overload
def _minutes(
    env: Mapping[str, str], setting: MinutesSetting, problems: list[str], *, optional: bool
) -> int | None: ...


def _minutes(
    env: Mapping[str, str], setting: MinutesSetting, problems: list[str], *, optional: bool = False
) -> int | None:
    """`setting` from `env`, in the range the stack config enforces too; unset: its default (or None)."""
    raw = env.get(setting.app_setting, "").strip()
    if not raw:
        return None if optional else setting.default
    minutes = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else -1
    if not setting.accepts(minutes):
        problems.append(f"{setting.app_setting}={_echo(raw)} must be {setting.range_text()}")
    return minutes


def _echo(raw: str) -> str:
    """A setting's value for a problem text: short values only, so a key pasted there is not repeated."""
    return shown(raw, limit=_ECHO_LIMIT + 2)


def secret_values(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """What no log line or exception may show: the API keys as set, also when the settings refuse them.

    Each key as set and stripped, as `repr` escapes it (http.client shows a refused header value so),
    and its pieces between whitespace, which a library may print one line at a time. The namespace
    setting is included when it holds a connection string.
    """
    env = os.environ if environ is None else environ
    values = [env.get(name, "") for name in API_KEY_SETTINGS]
    namespace = env.get(_NAMESPACE, "")
    if "sharedaccesskey" in namespace.lower():
        values.append(namespace)
    found: set[str] = set()
    for value in values:
        found.update((value, value.strip(), repr(value)[1:-1], *re.split(r"[\s\x00-\x1f]+", value)))
    return tuple(sorted(v for v in found if len(v) >= MIN_SECRET_LENGTH))
