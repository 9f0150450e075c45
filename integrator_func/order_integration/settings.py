"""App settings of the integrator Functions app, read and checked in one place.

Infra sets these app settings (API keys as Key Vault references, resolved by the platform before
the worker sees them). Every problem is reported at once, so one redeploy fixes them all.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit

DEFAULT_RETRY_MAX_SPAN_MINUTES = 90


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
    retry_max_span_minutes: int

    def __repr__(self) -> str:
        # The API keys must never reach a log line, even through a debug print of the settings.
        return (
            f"Settings(service_bus_namespace={self.service_bus_namespace!r}, "
            f"erp_base_url={self.erp_base_url!r}, ecp_base_url={self.ecp_base_url!r}, "
            f"erp_web_customer_number={self.erp_web_customer_number!r}, "
            f"erp_shipping_charge_item={self.erp_shipping_charge_item!r}, "
            f"retry_max_span_minutes={self.retry_max_span_minutes}, api keys hidden)"
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

    namespace = required("ServiceBusConnection__fullyQualifiedNamespace")
    if namespace and ("/" in namespace or "." not in namespace):
        problems.append(
            "ServiceBusConnection__fullyQualifiedNamespace must be a host name such as "
            f"'sb-orderbridge-dev.servicebus.windows.net', not {namespace!r}"
        )
    settings = Settings(
        service_bus_namespace=namespace,
        erp_base_url=base_url("ERP_BASE_URL"),
        erp_api_key=required("ERP_API_KEY"),
        ecp_base_url=base_url("ECP_BASE_URL"),
        ecp_api_key=required("ECP_API_KEY"),
        erp_web_customer_number=required("ERP_WEB_CUSTOMER_NUMBER"),
        erp_shipping_charge_item=required("ERP_SHIPPING_CHARGE_ITEM"),
        retry_max_span_minutes=_retry_span(env, problems),
    )
    if problems:
        raise ConfigError(problems)
    return settings


def _retry_span(env: Mapping[str, str], problems: list[str]) -> int:
    raw = env.get("RETRY_MAX_SPAN_MINUTES", "").strip()
    if not raw:
        return DEFAULT_RETRY_MAX_SPAN_MINUTES
    try:
        minutes = int(raw)
    except ValueError:
        minutes = 0
    if minutes < 1:
        problems.append(f"RETRY_MAX_SPAN_MINUTES={raw!r} must be a whole number of minutes ≥ 1")
    return minutes
