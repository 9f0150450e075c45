"""App settings of the integrator Functions app, read and checked in one place.

Infra sets these app settings (API keys as Key Vault references, resolved by the platform before
the worker sees them). Every problem is reported at once, so one redeploy fixes them all.

Service Bus is reached the way the trigger binding (`connection="ServiceBusConnection"`) reaches
it, so retries and parks go where the messages come from: in Azure through
`ServiceBusConnection__fullyQualifiedNamespace` and the managed identity, on the local stack
through the connection string in `ServiceBusConnection`.
"""
from __future__ import annotations

import ipaddress
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
    SERVICE_BUS_CONNECTION,
    SERVICE_BUS_NAMESPACE_SETTING,
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
# The trigger binding's `connection`: an app setting holding a connection string, or the prefix of
# an identity-based connection's settings. "If the configured value is both an exact match for a
# single setting and a prefix match for other settings, the exact match is used"
# (https://learn.microsoft.com/azure/azure-functions/functions-bindings-service-bus-trigger#connections).
_NAMESPACE = SERVICE_BUS_NAMESPACE_SETTING
# A connection string as azure-servicebus 7.15 reads it (azure/servicebus/_base_handler.py
# `_parse_conn_str`): `;`-separated Key=Value pairs, keys case-insensitive, a trailing `;` allowed.
_CONNECTION_KEYS_TEXT = "Endpoint, SharedAccessKeyName, SharedAccessKey, SharedAccessSignature, UseDevelopmentEmulator"
_CONNECTION_KEYS = {key.lower() for key in _CONNECTION_KEYS_TEXT.split(", ")} | {"entitypath"}  # refused, but known
_CONNECTION_SECRETS = ("sharedaccesskey", "sharedaccesssignature")
_SAS_SCHEME = "SharedAccessSignature "
# `sb://host[:port][/]`: the SDK takes the URL's host and port and nothing else.
_ENDPOINT = re.compile(rf"(?i)sb://(?P<host>{_LABEL}(?:\.{_LABEL})*)(?::(?P<port>[0-9]{{1,5}}))?/?")
_PRINTABLE = re.compile(r"[\x20-\x7e]+")
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
    # The `ServiceBusConnection` connection string (a secret), if the app connects with one; then
    # `service_bus_namespace` is its Endpoint's host (and port), for the record only.
    service_bus_connection_string: str | None = None

    @property
    def uses_connection_string(self) -> bool:
        """Whether Service Bus is reached with `service_bus_connection_string`, not the managed identity."""
        return self.service_bus_connection_string is not None

    @property
    def secrets(self) -> tuple[str, ...]:
        """The API keys, and the connection string with its key: never in a log line, a park or an exception."""
        service_bus = connection_string_secrets(self.service_bus_connection_string or "")
        return (self.erp_api_key, self.ecp_api_key, *service_bus)

    def __repr__(self) -> str:
        # The API keys and the connection string must never reach a log line, even through a debug print.
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
            f"routes={dict(self.routes)!r}, uses_connection_string={self.uses_connection_string}, "
            "api keys hidden, connection string hidden)"
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
            problems.append(_unresolved_reference_problem(name))
        elif value and not _HEADER_VALUE.fullmatch(value):
            problems.append(
                f"{name} contains characters an HTTP header cannot carry (spaces, line breaks or non-ASCII);"
                " store the key again without them"
            )
        return value

    namespace, connection_string = _service_bus_connection(env, problems)
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
        service_bus_connection_string=connection_string,
    )
    if problems:
        raise SettingsError(problems)
    return settings


def _service_bus_connection(env: Mapping[str, str], problems: list[str]) -> tuple[str, str | None]:
    """The namespace host and the connection string (None: managed identity), from exactly one of the two settings.

    With both set, the trigger would take the connection string while nothing says the integrators
    should: one setting, one connection for both.
    """
    namespace, connection_string = env.get(_NAMESPACE, "").strip(), env.get(SERVICE_BUS_CONNECTION, "").strip()
    if namespace and connection_string:
        problems.append(
            f"set only one of {_NAMESPACE} (Azure: the managed identity) and {SERVICE_BUS_CONNECTION} (a"
            " connection string, for a local broker): the trigger and the integrators must use the same"
            " connection, and the trigger takes the connection string when both are set"
        )
    elif not (namespace or connection_string):
        problems.append(
            f"{_NAMESPACE} is not set, nor is {SERVICE_BUS_CONNECTION}: set the namespace's host name (the app"
            " connects with its managed identity) or, for a local broker, a connection string in"
            f" {SERVICE_BUS_CONNECTION}"
        )
    if namespace and not _HOST_NAME.fullmatch(namespace):
        problems.append(_namespace_problem(namespace))
    if not connection_string:
        return namespace, None
    host = _connection_string_host(connection_string, problems)
    return namespace or host, connection_string


def _connection_string_host(value: str, problems: list[str]) -> str:
    """The Endpoint host (and port) of connection string `value`; '' and a problem where azure-servicebus
    or the trigger would refuse it, or read it otherwise than it reads. No problem repeats a value:
    any part of it may be the key."""
    name = SERVICE_BUS_CONNECTION
    if value.lower().startswith(_KEY_VAULT_REFERENCE):
        problems.append(_unresolved_reference_problem(name))
        return ""
    # Split as azure-servicebus splits it: a trailing `;` is allowed, a part without `=` is not.
    parts = [part.split("=", 1) for part in value.rstrip(";").split(";")]
    pairs = {part[0].lower(): part[1] for part in parts if len(part) == 2}
    if len(pairs) != len(parts) or not _PRINTABLE.fullmatch(value):
        problems.append(
            f"{name} is not a connection string: it must be ';'-separated Key=Value pairs (printable ASCII, each"
            " key once), e.g. 'Endpoint=sb://<namespace host>/;SharedAccessKeyName=<policy>;SharedAccessKey=<key>'"
        )
        return ""
    if not pairs.keys() <= _CONNECTION_KEYS:
        problems.append(f"{name} holds a key other than {_CONNECTION_KEYS_TEXT} (any case)")
        return ""
    problems.extend((*_credential_problems(pairs), *_flag_and_scope_problems(pairs)))
    return _endpoint_host(pairs, problems)


def _flag_and_scope_problems(pairs: Mapping[str, str]) -> list[str]:
    """UseDevelopmentEmulator read alike by the SDK and the trigger, and no EntityPath."""
    name = SERVICE_BUS_CONNECTION
    problems: list[str] = []
    if pairs.get("usedevelopmentemulator", "true") not in ("true", "false"):
        # azure-servicebus compares with "true" exactly; the trigger's parser (Azure.Messaging.ServiceBus
        # ServiceBusConnectionStringProperties.Parse) takes any case, so 'True' would have the trigger on
        # the emulator and the integrators on TLS.
        problems.append(f"{name}'s UseDevelopmentEmulator must be 'true' or 'false', in lower case")
    if "entitypath" in pairs:
        # "The connection string must be for a Service Bus namespace, not limited to a specific queue or
        # topic" (https://learn.microsoft.com/azure/azure-functions/functions-bindings-service-bus-trigger#connections).
        problems.append(
            f"{name} is limited to one queue (EntityPath): the integrators send to two queues and the trigger"
            " needs a namespace's connection string; use one of the namespace's shared access policies"
        )
    return problems


def _endpoint_host(pairs: Mapping[str, str], problems: list[str]) -> str:
    """The host (and port) of Endpoint `sb://host[:port][/]`, with a port and a loopback host for the
    development emulator only; '' if there is none."""
    name = SERVICE_BUS_CONNECTION
    endpoint = _ENDPOINT.fullmatch(pairs.get("endpoint", ""))
    if endpoint is None:
        problems.append(f"{name} needs Endpoint=sb://<namespace host>[:<port>]/ (no path, query or user name)")
        return ""
    host, port, emulator = endpoint["host"], endpoint["port"], pairs.get("usedevelopmentemulator")
    if emulator == "true" and not _is_loopback(host):
        # The trigger's parser refuses it: "The Service Bus emulator is only available locally"
        # (https://github.com/Azure/azure-sdk-for-net/blob/main/sdk/servicebus/Azure.Messaging.ServiceBus/src/Primitives/ServiceBusConnectionStringProperties.cs).
        problems.append(f"{name} has UseDevelopmentEmulator=true, which needs an Endpoint on localhost or 127.0.0.1")
    if port and not 0 < int(port) < 65536:
        problems.append(f"{name}'s Endpoint port must be between 1 and 65535")
    elif port and emulator in (None, "false"):
        # azure-servicebus drops the port unless TLS is off, which only the emulator flag turns off
        # (azure/servicebus/_base_handler.py: `strip_protocol_from_uri(..., strip_port=use_tls)`).
        problems.append(
            f"{name}'s Endpoint names a port, which azure-servicebus ignores without UseDevelopmentEmulator=true"
        )
    return host + (f":{port}" if port else "")


def _is_loopback(host: str) -> bool:
    """Whether `host` is this machine, as .NET's Uri.IsLoopback decides for a host name or IPv4 address."""
    try:
        return host.lower() == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _credential_problems(pairs: Mapping[str, str]) -> list[str]:
    """SharedAccessKeyName with SharedAccessKey, or SharedAccessSignature alone, as azure-servicebus requires."""
    name = SERVICE_BUS_CONNECTION
    key_name, key, signature = (
        pairs.get(k, "") for k in ("sharedaccesskeyname", "sharedaccesskey", "sharedaccesssignature")
    )
    if signature and (key or key_name):
        return [f"{name} holds SharedAccessSignature and a shared access key: keep one of them"]
    if signature:
        return []
    if not (key_name and key):
        return [f"{name} needs SharedAccessKeyName and SharedAccessKey (or SharedAccessSignature alone)"]
    if not (_HEADER_VALUE.fullmatch(key_name) and _HEADER_VALUE.fullmatch(key)):
        return [f"{name}'s SharedAccessKeyName and SharedAccessKey cannot hold spaces; store them again without"]
    return []


def connection_string_secrets(value: str) -> tuple[str, ...]:
    """A connection string's secrets: itself and its SharedAccessKey or SharedAccessSignature, when set.

    Read leniently, so a refused string is covered too. A signature without its `SharedAccessSignature `
    scheme, which names the token's kind (and every settings problem about it), not its secret.
    """
    if not value.strip():
        return ()
    pairs = [part.split("=", 1) for part in value.split(";") if "=" in part]
    found = [text.removeprefix(_SAS_SCHEME) for key, text in pairs if key.strip().lower() in _CONNECTION_SECRETS]
    return (value, *(text for text in found if text))


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


def _unresolved_reference_problem(name: str) -> str:
    """What to do about a Key Vault reference the platform left unresolved in setting `name`."""
    return (
        f"{name} is an unresolved Key Vault reference, not a key: the platform could not read the "
        "secret, most likely because the app identity's Key Vault Secrets User role is not effective "
        "yet (role assignments take minutes) or the secret does not exist; check the setting's "
        "Key Vault reference status, then restart the Function App"
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
    """What no log line or exception may show: the API keys and Service Bus credentials as set, also
    when the settings refuse them.

    Each as set and stripped, as `repr` escapes it (http.client shows a refused header value so),
    and its pieces between whitespace, which a library may print one line at a time. Service Bus's:
    the `ServiceBusConnection` connection string and its key or signature, and the namespace
    setting when it holds a connection string.
    """
    env = os.environ if environ is None else environ
    values = [env.get(name, "") for name in API_KEY_SETTINGS]
    values.extend(connection_string_secrets(env.get(SERVICE_BUS_CONNECTION, "")))
    namespace = env.get(_NAMESPACE, "")
    if "sharedaccesskey" in namespace.lower():
        values.extend(connection_string_secrets(namespace))
    found: set[str] = set()
    for value in values:
        found.update((value, value.strip(), repr(value)[1:-1], *re.split(r"[\s\x00-\x1f]+", value)))
    return tuple(sorted(v for v in found if len(v) >= MIN_SECRET_LENGTH))
