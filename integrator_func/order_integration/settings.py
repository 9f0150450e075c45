"""App settings of the integrator Functions app, read and checked in one place.

Infra sets these app settings (API keys as Key Vault references, resolved by the platform before
the worker sees them). Every problem is reported at once, so one redeploy fixes them all.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Mapping, overload
from urllib.parse import urlsplit

DEFAULT_RETRY_MAX_SPAN_MINUTES = 90
# Business Central stops a request after 10 minutes of execution ("HTTP response code 504 - Gateway
# Timeout is returned when a request exceeds 10-minutes execution time",
# https://learn.microsoft.com/dynamics365/business-central/dev-itpro/api-reference/v2.0/dynamics-current-limits);
# 5 more minutes of margin for clock skew and the commit itself.
DEFAULT_ERP_UNKNOWN_OUTCOME_RETRY_MINUTES = 15
# A Key Vault reference the platform could not resolve reaches the worker as the reference string
# itself ("If a reference isn't resolved properly, the reference string is used instead",
# https://learn.microsoft.com/azure/app-service/app-service-key-vault-references#troubleshoot-key-vault-references).
_KEY_VAULT_REFERENCE = "@microsoft.keyvault("
_BOOLEANS = {"true": True, "false": False}
_WINDOW = "ONLINE_ORDERS_DUPLICATE_DETECTION_MINUTES"
_QUEUE_CREATED_AT = "ONLINE_ORDERS_QUEUE_CREATED_AT"
_MAX_WINDOW_MINUTES = 7 * 24 * 60


class ConfigError(Exception):
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
            "api keys hidden)"
        )


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `environ` (default: the process environment) or raise ConfigError."""
    env = os.environ if environ is None else environ
    problems: list[str] = []

    def required(name: str) -> str:
        value = env.get(name, "").strip()
        if not value:
            problems.append(f"{name} is not set")
        return value

    def base_url(name: str) -> str:
        value = required(name).rstrip("/")
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                problems.append(f"{name}={value!r} is not an absolute http(s) URL")
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
        return value

    namespace = required("ServiceBusConnection__fullyQualifiedNamespace")
    if namespace and ("/" in namespace or "." not in namespace):
        problems.append(
            "ServiceBusConnection__fullyQualifiedNamespace must be a host name such as "
            f"'sb-orderbridge-dev.servicebus.windows.net', not {namespace!r}"
        )
    retry_span = _minutes(env, "RETRY_MAX_SPAN_MINUTES", DEFAULT_RETRY_MAX_SPAN_MINUTES, problems)
    unknown_outcome_wait = _minutes(
        env, "ERP_UNKNOWN_OUTCOME_RETRY_MINUTES", DEFAULT_ERP_UNKNOWN_OUTCOME_RETRY_MINUTES, problems
    )
    if 0 < retry_span <= unknown_outcome_wait:
        problems.append(
            f"ERP_UNKNOWN_OUTCOME_RETRY_MINUTES ({unknown_outcome_wait}) must be less than "
            f"RETRY_MAX_SPAN_MINUTES ({retry_span}), or an order whose create timed out is parked after one retry"
        )
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
    )
    if problems:
        raise ConfigError(problems)
    return settings


def _online_orders_queue(env: Mapping[str, str], problems: list[str]) -> tuple[int | None, datetime | None]:
    """The online-orders queue's duplicate-detection window and creation time: both, or neither."""
    minutes = _minutes(env, _WINDOW, None, problems)
    if minutes is not None and minutes > _MAX_WINDOW_MINUTES:
        problems.append(f"{_WINDOW}={minutes} exceeds Service Bus's longest window, 7 days ({_MAX_WINDOW_MINUTES})")
    raw = env.get(_QUEUE_CREATED_AT, "").strip()
    created_at = _utc_datetime(raw, _QUEUE_CREATED_AT, problems) if raw else None
    if (minutes is None) != (not raw):
        problems.append(f"set both {_WINDOW} and {_QUEUE_CREATED_AT}, or neither (then every order is looked up)")
    return minutes, created_at


def _utc_datetime(raw: str, name: str, problems: list[str]) -> datetime | None:
    """An ISO 8601 time from Azure Resource Manager, else a problem; one without an offset is UTC.

    ARM answers `"createdAt": "2023-06-20T09:20:33.997Z"`; some of its times come without the `Z`
    (`"accessedAt": "0001-01-01T00:00:00"`), and all of them are UTC.
    """
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        problems.append(f"{name}={raw!r} must be an ISO 8601 time, e.g. 2026-11-27T10:00:00Z")
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _boolean(raw: str, name: str, problems: list[str]) -> bool:
    """`true`/`false` (any case); no default, because a wrong guess would mis-book every order's tax."""
    value = _BOOLEANS.get(raw.lower())
    if raw and value is None:
        problems.append(f"{name}={raw!r} must be 'true' or 'false' (the web customer card's Prices Including VAT)")
    return bool(value)


@overload
def _minutes(env: Mapping[str, str], name: str, default: int, problems: list[str]) -> int: ...


@overload
def _minutes(env: Mapping[str, str], name: str, default: None, problems: list[str]) -> int | None: ...


def _minutes(env: Mapping[str, str], name: str, default: int | None, problems: list[str]) -> int | None:
    """A whole number of minutes ≥ 1 from `env`, or `default` when unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        minutes = int(raw)
    except ValueError:
        minutes = 0
    if minutes < 1:
        problems.append(f"{name}={raw!r} must be a whole number of minutes ≥ 1")
    return minutes
