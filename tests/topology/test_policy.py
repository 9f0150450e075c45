"""One retry policy, two readers: the stack accepts exactly the values the Functions app accepts."""
from __future__ import annotations

import pytest

from infra.config import parse_config
from infra.errors import StackConfigError
from order_integration.settings import SettingsError, load_settings
from tests.infra.test_config import SECRET_KEYS, VALID
from tests.integrator.test_functions_app import VALID_SETTINGS
from topology import DUPLICATE_DETECTION_WINDOW, ERP_UNKNOWN_OUTCOME_WAIT, RETRY_MAX_SPAN, MinutesSetting


def stack_accepts(changes: dict[str, str]) -> bool:
    try:
        parse_config("dev", {**VALID, **{f"orderbridge:{k}": v for k, v in changes.items()}}, SECRET_KEYS)
    except StackConfigError:
        return False
    return True


def app_accepts(changes: dict[str, str]) -> bool:
    try:
        load_settings({**VALID_SETTINGS, **changes})
    except SettingsError:
        return False
    return True


def _around(setting: MinutesSetting) -> list[int]:
    """Every boundary of the setting's range, and values well inside and outside it."""
    edges = (0, 1, setting.low, setting.high, setting.default)
    return sorted({v + d for v in edges for d in (-1, 0, 1)} | {10**9})


@pytest.mark.parametrize("setting", [RETRY_MAX_SPAN, ERP_UNKNOWN_OUTCOME_WAIT], ids=lambda s: s.app_setting)
def test_stack_and_app_accept_the_same_minutes(setting: MinutesSetting) -> None:
    # The other value of the pair is set so that the span-versus-wait rule holds for every value here.
    other = {RETRY_MAX_SPAN.stack_key: "10080", ERP_UNKNOWN_OUTCOME_WAIT.stack_key: "11"}
    other.pop(setting.stack_key)
    (other_key, other_value), = other.items()
    other_app = {RETRY_MAX_SPAN.app_setting if other_key == RETRY_MAX_SPAN.stack_key
                 else ERP_UNKNOWN_OUTCOME_WAIT.app_setting: other_value}
    for minutes in _around(setting):
        if setting is RETRY_MAX_SPAN and minutes <= 11:
            continue  # the rule between the two, pinned below
        stack = stack_accepts({setting.stack_key: str(minutes), other_key: other_value})
        app = app_accepts({setting.app_setting: str(minutes), **other_app})
        assert stack == app == setting.accepts(minutes), f"{setting.app_setting}={minutes}: stack {stack}, app {app}"


@pytest.mark.parametrize("span", [11, 12, 15, 16, 90])
@pytest.mark.parametrize("wait", [11, 14, 15, 16])
def test_stack_and_app_apply_the_same_rule_between_span_and_wait(span: int, wait: int) -> None:
    stack = stack_accepts({RETRY_MAX_SPAN.stack_key: str(span), ERP_UNKNOWN_OUTCOME_WAIT.stack_key: str(wait)})
    app = app_accepts({RETRY_MAX_SPAN.app_setting: str(span), ERP_UNKNOWN_OUTCOME_WAIT.app_setting: str(wait)})
    assert stack == app == (wait < span)


def test_the_app_refuses_the_unknown_outcome_wait_the_stack_refuses_naming_the_setting() -> None:
    """Issue 10, finding 4: a 1-minute wait let five ERP orders be created from one; both sides refuse it."""
    assert not stack_accepts({ERP_UNKNOWN_OUTCOME_WAIT.stack_key: "1"})
    with pytest.raises(SettingsError, match="ERP_UNKNOWN_OUTCOME_RETRY_MINUTES='1' must be a whole number of minutes from 11"):
        load_settings({**VALID_SETTINGS, ERP_UNKNOWN_OUTCOME_WAIT.app_setting: "1"})


@pytest.mark.parametrize("minutes", _around(DUPLICATE_DETECTION_WINDOW))
def test_stack_and_app_accept_the_same_duplicate_detection_window(minutes: int) -> None:
    stack = minutes >= 1 and stack_accepts({DUPLICATE_DETECTION_WINDOW.stack_key: f"PT{minutes}M"})
    app = app_accepts({DUPLICATE_DETECTION_WINDOW.app_setting: str(minutes),
                       "ONLINE_ORDERS_QUEUE_CREATED_AT": "2026-01-01T00:00:00Z"})
    assert stack == app == DUPLICATE_DETECTION_WINDOW.accepts(minutes)


def test_the_app_defaults_are_the_stack_defaults() -> None:
    config = parse_config("dev", VALID, SECRET_KEYS)
    settings = load_settings(VALID_SETTINGS)
    assert settings.retry_max_span_minutes == config.retry_max_span_minutes == RETRY_MAX_SPAN.default
    assert settings.erp_unknown_outcome_retry_minutes == config.erp_unknown_outcome_retry_minutes
