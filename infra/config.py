"""Read and validate a stack's configuration in one place, before any resource exists.

Every problem is collected and reported at once in a single `StackConfigError`, each line naming the key
(pattern from pulumi/examples `azure-py-virtual-data-center/config.py`). The parsing is a pure
function of the raw key/value strings Pulumi hands a program, so tests can feed it anything.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pulumi

from infra import pulumi_internals
from infra.errors import StackConfigError
from infra.workflow_definitions import loop_parallelism
from topology import (
    DUPLICATE_DETECTION_WINDOW,
    ERP_UNKNOWN_OUTCOME_WAIT,
    PIPELINES,
    RETRY_MAX_SPAN,
    MinutesSetting,
    retry_rule_problem,
)

PROJECT = "orderbridge"
LOCATION_KEY = "azure-native:location"
# "st" + "orderbridge" + "dl" (storage accounts) and "kv-orderbridge-" (the vault) leave 9 of the
# 24 characters those names may have for stack name + nameSuffix
# (https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules).
MAX_STACK_AND_SUFFIX = 9

T = TypeVar("T")


class SecretText:
    """A secret string that never shows itself in repr/str; turn it into a Pulumi secret to use it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The plain value, for building a `pulumi.Output.secret` and nothing else."""
        return self._value

    def __repr__(self) -> str:
        return "SecretText(<redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretText) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class QueueSettings:
    """Service Bus settings shared by the pipeline queues (ISO 8601 durations as Azure takes them)."""

    max_delivery_count: int
    lock_duration: str
    message_time_to_live: str
    duplicate_detection_window: str
    # Parked messages wait for an operator: their own, longer lifetime (see parse_config).
    parking_message_time_to_live: str


@dataclass(frozen=True)
class EventDelivery:
    """How Event Grid delivers to the Logic Apps: batch size, attempts and event lifetime."""

    batch_size: int
    max_attempts: int
    time_to_live_minutes: int


@dataclass(frozen=True)
class BacklogAlert:
    """Active messages above `threshold` for the whole `window` raise an alert."""

    threshold: int
    window: str


@dataclass(frozen=True)
class StackConfig:
    """Everything the program needs from `Pulumi.<stack>.yaml`, validated."""

    stack: str
    location: str
    ecp_base_url: str
    erp_base_url: str
    ecp_api_key: SecretText
    erp_api_key: SecretText
    order_fetch_concurrency: int
    maximum_waiting_runs: int
    event_delivery: EventDelivery
    queues: QueueSettings
    backlog_alert: BacklogAlert
    alert_email: str
    operator_principal_ids: tuple[str, ...]
    ecp_publisher_principal_ids: tuple[str, ...]
    erp_publisher_principal_ids: tuple[str, ...]
    erp_web_customer_number: str
    erp_shipping_charge_item: str
    erp_prices_include_tax: bool
    retry_max_span_minutes: int
    erp_unknown_outcome_retry_minutes: int
    log_retention_days: int
    function_maximum_instances: int
    protect_data: bool
    name_suffix: str
    tags: Mapping[str, str] = field(default_factory=dict)


_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ISO_DURATION = re.compile(
    r"^P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
_SUFFIX = re.compile(r"^[a-z0-9]{0,5}$")
# Window sizes metric alerts take
# (https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-metric-create-templates).
ALERT_WINDOWS = ("PT1M", "PT5M", "PT15M", "PT30M", "PT1H", "PT6H", "PT12H", "P1D")
_MISSING: Any = object()


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration of days/hours/minutes/seconds (`P1D`, `PT5M`) as a timedelta."""
    match = _ISO_DURATION.match(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(f"'{text}' is not an ISO 8601 duration such as PT5M or P1D")
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    return timedelta(**parts)


class _Reader:
    """Reads raw config strings, converting and checking them, collecting problems instead of raising."""

    def __init__(self, values: Mapping[str, str], secret_keys: set[str]) -> None:
        self._values = values
        self._secret_keys = secret_keys
        self.problems: list[str] = []

    def full_key(self, key: str) -> str:
        """`key` with the project prefix, as the stack file spells it."""
        return key if ":" in key else f"{PROJECT}:{key}"

    def _raw(self, key: str, default: Any) -> Any:
        full = self.full_key(key)
        if full in self._values:
            return self._values[full]
        if default is _MISSING:
            self.problems.append(f"{full} is required but not set")
        return default

    def _convert(self, key: str, raw: Any, convert: Callable[[str], T], default: T) -> T:
        if not isinstance(raw, str):
            return raw
        try:
            return convert(raw)
        except (ValueError, TypeError) as exc:
            self.problems.append(f"{self.full_key(key)}: {exc}")
            return default

    def text(self, key: str, default: Any = _MISSING, *, allow_empty: bool = False) -> str:
        """A plain (non-secret) string; refuses an empty one unless `allow_empty`."""
        raw = self._raw(key, default)
        if raw == "" and not allow_empty:
            self.problems.append(f"{self.full_key(key)} must not be empty")
        return raw if raw is not _MISSING else ""

    def secret(self, key: str) -> SecretText:
        """A value that must be stored encrypted (`pulumi config set --secret`)."""
        full = self.full_key(key)
        raw = self._raw(key, _MISSING)
        if raw is _MISSING:
            return SecretText("")
        if full not in self._secret_keys:
            self.problems.append(
                f"{full} is stored as plain text; it is a secret: remove it and run "
                f"`pulumi config set --secret {full} <value>`"
            )
        elif not raw:
            self.problems.append(f"{full} must not be empty")
        return SecretText(raw)

    def integer(self, key: str, default: Any, low: int, high: int) -> int:
        """An integer within [low, high]."""
        raw = self._raw(key, default)

        def convert(text: str) -> int:
            try:
                return int(text)
            except ValueError:
                raise ValueError(f"'{text}' is not an integer") from None

        value = self._convert(key, raw, convert, low)
        if raw is not _MISSING and not low <= value <= high:
            self.problems.append(f"{self.full_key(key)} must be between {low} and {high}, got {value}")
        return value

    def minutes(self, setting: MinutesSetting) -> int:
        """A number of minutes in the range the app accepts too (topology.policy)."""
        return self.integer(setting.stack_key, str(setting.default), setting.low, setting.high)

    def boolean(self, key: str, default: Any = _MISSING) -> bool:
        """`true` or `false`; required when no default is given."""
        raw = self._raw(key, default)

        def convert(text: str) -> bool:
            if text.lower() not in ("true", "false"):
                raise ValueError(f"'{text}' is not true or false")
            return text.lower() == "true"

        value = self._convert(key, raw, convert, False)
        return value if isinstance(value, bool) else False

    def https_url(self, key: str) -> str:
        """An absolute https URL, returned without a trailing slash (the workflows append paths)."""
        url = self.text(key)
        parts = urlsplit(url)
        if url and (parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment):
            self.problems.append(
                f"{self.full_key(key)} must be an https URL without query or fragment, got '{url}'"
            )
        return url.rstrip("/")

    def duration(self, key: str, default: str, low: timedelta, high: timedelta) -> str:
        """An ISO 8601 duration within [low, high], kept as text for Azure."""
        raw = self._raw(key, default)
        value = self._convert(key, raw, lambda t: (parse_duration(t), t), None)
        if value is None:
            return default
        if not low <= value[0] <= high:
            self.problems.append(
                f"{self.full_key(key)} must be between {_iso(low)} and {_iso(high)}, got {raw}"
            )
        return value[1]

    def choice(self, key: str, default: str, allowed: tuple[str, ...]) -> str:
        """One of `allowed`."""
        raw = self._raw(key, default)
        if raw not in allowed:
            self.problems.append(f"{self.full_key(key)} must be one of {', '.join(allowed)}, got '{raw}'")
        return raw

    def _json(self, key: str, default: Any) -> Any:
        raw = self._raw(key, default)

        def convert(text: str) -> Any:
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"is not valid structured config: {exc}") from None

        return self._convert(key, raw, convert, default)

    def guid_list(self, key: str) -> tuple[str, ...]:
        """A list of Entra object ids (GUIDs)."""
        value = self._json(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problems.append(f"{self.full_key(key)} must be a list of principal object ids")
            return ()
        bad = [v for v in value if not _GUID.match(v)]
        if bad:
            self.problems.append(f"{self.full_key(key)} has values that are not object ids (GUIDs): {bad}")
        return tuple(value)

    def string_map(self, key: str) -> dict[str, str]:
        """A map of strings to strings (tags)."""
        value = self._json(key, {})
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            self.problems.append(f"{self.full_key(key)} must be a map of strings to strings")
            return {}
        return value


def _iso(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        return f"P{seconds // 86400}D"
    if seconds % 60 == 0:
        return f"PT{seconds // 60}M"
    return f"PT{seconds}S"


def max_event_batch_size() -> int:
    """The largest Event Grid batch every pipeline's workflow handles in one wave."""
    return min(loop_parallelism(p.workflow_name) for p in PIPELINES)


def _parking_time_to_live(read: _Reader, queued: str) -> str:
    """How long a parked message waits for an operator: at least as long as a queued one.

    Standard-tier entities accept up to TimeSpan.MaxValue (the default when unset,
    https://learn.microsoft.com/dotnet/api/azure.messaging.servicebus.administration.createqueueoptions.defaultmessagetimetolive);
    ten years is only a guard against typos. An expired parked message is dead-lettered and alerted on.
    """
    value = read.duration("parkingMessageTimeToLive", "P365D", timedelta(days=1), timedelta(days=3650))
    try:
        too_short = parse_duration(value) < parse_duration(queued)
    except ValueError:
        return value  # already reported by read.duration
    if too_short:
        read.problems.append(
            f"{PROJECT}:parkingMessageTimeToLive {value} is shorter than messageTimeToLive {queued}: parked"
            " messages wait for an operator and must outlive queued ones"
        )
    return value


def parse_config(stack: str, values: Mapping[str, str], secret_keys: set[str]) -> StackConfig:
    """Build a `StackConfig` from raw `project:key` strings; raise `StackConfigError` listing every problem."""
    read = _Reader(values, secret_keys)
    runs = read.integer("orderFetchConcurrency", "10", 1, 100)
    # With concurrency on, Azure requires runs + 10 <= maximumWaitingRuns <= 100
    # (https://learn.microsoft.com/azure/logic-apps/logic-apps-workflow-actions-triggers#change-waiting-runs-limit).
    if runs > 90:
        read.problems.append(
            f"{PROJECT}:orderFetchConcurrency {runs} leaves no valid maximumWaitingRuns (Azure needs"
            " runs + 10 <= maximumWaitingRuns <= 100): use at most 90"
        )
    waiting = read.integer("maximumWaitingRuns", str(min(runs + 10, 100)), min(runs + 10, 100), 100)
    alert_email = read.text("alertEmail")
    if alert_email and not _EMAIL.match(alert_email):
        read.problems.append(f"{PROJECT}:alertEmail '{alert_email}' is not an e-mail address")
    suffix = read.text("nameSuffix", "", allow_empty=True)
    if not re.fullmatch(r"[a-z0-9]+", stack) or len(stack) + len(suffix) > MAX_STACK_AND_SUFFIX:
        read.problems.append(
            f"stack name '{stack}' with nameSuffix '{suffix}' must be lowercase letters/digits and at most"
            f" {MAX_STACK_AND_SUFFIX} characters together: they go into storage account and Key Vault names"
        )
    if not _SUFFIX.match(suffix):
        read.problems.append(
            f"{PROJECT}:nameSuffix must be at most 5 lowercase letters or digits (it goes into "
            f"globally unique names), got '{suffix}'"
        )
    message_time_to_live = read.duration("messageTimeToLive", "P14D", timedelta(minutes=5), timedelta(days=14))
    retry_span = read.minutes(RETRY_MAX_SPAN)
    unknown_outcome_wait = read.minutes(ERP_UNKNOWN_OUTCOME_WAIT)
    rule = retry_rule_problem(
        retry_span, unknown_outcome_wait,
        span_name=read.full_key(RETRY_MAX_SPAN.stack_key), wait_name=read.full_key(ERP_UNKNOWN_OUTCOME_WAIT.stack_key),
    )
    if rule:
        read.problems.append(rule)
    config = StackConfig(
        stack=stack,
        location=read.text(LOCATION_KEY),
        ecp_base_url=read.https_url("ecpBaseUrl"),
        erp_base_url=read.https_url("erpBaseUrl"),
        ecp_api_key=read.secret("ecpApiKey"),
        erp_api_key=read.secret("erpApiKey"),
        order_fetch_concurrency=runs,
        maximum_waiting_runs=waiting,
        event_delivery=EventDelivery(
            # Event Grid allows 1..5000 (https://learn.microsoft.com/azure/event-grid/delivery-and-retry),
            # but a batch larger than the workflows' loop parallelism runs in waves and could miss
            # Event Grid's 30 s answer window: cap it there (workflows/README.md).
            batch_size=read.integer("eventBatchSize", "1", 1, max_event_batch_size()),
            max_attempts=read.integer("eventMaxDeliveryAttempts", "30", 1, 30),
            time_to_live_minutes=read.integer("eventTimeToLiveMinutes", "1440", 1, 1440),
        ),
        queues=QueueSettings(
            max_delivery_count=read.integer("maxDeliveryCount", "10", 1, 2000),
            lock_duration=read.duration("lockDuration", "PT1M", timedelta(seconds=5), timedelta(minutes=5)),
            message_time_to_live=message_time_to_live,
            duplicate_detection_window=read.duration(
                DUPLICATE_DETECTION_WINDOW.stack_key,
                _iso(timedelta(minutes=DUPLICATE_DETECTION_WINDOW.default)),
                timedelta(minutes=DUPLICATE_DETECTION_WINDOW.low),
                timedelta(minutes=DUPLICATE_DETECTION_WINDOW.high),
            ),
            parking_message_time_to_live=_parking_time_to_live(read, message_time_to_live),
        ),
        backlog_alert=BacklogAlert(
            threshold=read.integer("backlogAlertThreshold", "100", 1, 1_000_000),
            # The evaluation frequency follows from the window (infra.observability.evaluation_frequency).
            window=read.choice("backlogAlertWindow", "PT15M", ALERT_WINDOWS),
        ),
        alert_email=alert_email,
        operator_principal_ids=read.guid_list("operatorPrincipalIds"),
        ecp_publisher_principal_ids=read.guid_list("ecpPublisherPrincipalIds"),
        erp_publisher_principal_ids=read.guid_list("erpPublisherPrincipalIds"),
        erp_web_customer_number=read.text("erpWebCustomerNumber"),
        erp_shipping_charge_item=read.text("erpShippingChargeItem"),
        # The web customer card's "Prices Including VAT": the ERP takes it from there, and the
        # integrator refuses ECP orders on the other tax basis instead of booking them wrongly.
        erp_prices_include_tax=read.boolean("erpPricesIncludeTax"),
        retry_max_span_minutes=retry_span,
        # An ERP create whose answer was lost may still be running in the ERP (Business Central
        # allows 10 minutes per request), so its retry waits at least this long.
        erp_unknown_outcome_retry_minutes=unknown_outcome_wait,
        log_retention_days=read.integer("logRetentionDays", "30", 30, 730),
        # Flex Consumption allows 40..1000 instances
        # (https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#instance-limits).
        function_maximum_instances=read.integer("functionMaximumInstances", "40", 40, 1000),
        protect_data=read.boolean("protectData", False),
        name_suffix=suffix,
        tags={"project": PROJECT, "stack": stack, **read.string_map("tags")},
    )
    if read.problems:
        raise StackConfigError(stack, read.problems)
    return config


def load_config() -> StackConfig:
    """The current stack's config, read from the Pulumi runtime (real deployment or mocks)."""
    values, secret_keys = pulumi_internals.stack_config()
    return parse_config(pulumi.get_stack(), values, secret_keys)
