"""The Functions app as the host indexes it: bindings, host.json, settings, and what reaches the logs."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from order_integration import runtime
from order_integration.http_clients import HttpTimeouts
from order_integration.settings import SettingsError, load_settings
from orderbridge.fake_apis import Fault
from topology import PIPELINES, PipelineSpec
from tests.integrator._runtime_support import (
    ECP_KEY,
    ERP_KEY,
    example,
    indexed_functions,
    order_message,
    state_message,
    user_function,
)

HOST_JSON = json.loads((Path(__file__).parents[2] / "integrator_func" / "host.json").read_text())


def bindings() -> dict[str, dict]:
    return {f.get_function_name(): f.get_bindings_dict()["bindings"] for f in indexed_functions()}


@pytest.mark.parametrize("pipeline", PIPELINES, ids=lambda p: p.function_name)
def test_each_integrator_is_triggered_by_its_queue_setting(pipeline: PipelineSpec) -> None:
    [trigger] = bindings()[pipeline.function_name]
    assert trigger["type"] == "serviceBusTrigger"
    assert trigger["queueName"] == f"%{pipeline.queue_setting}%"
    assert trigger["connection"] == "ServiceBusConnection"
    assert trigger["isSessionsEnabled"] is pipeline.requires_session


def test_host_json_renews_locks_longer_than_any_invocation_can_run():
    service_bus = HOST_JSON["extensions"]["serviceBus"]
    assert service_bus["maxConcurrentCalls"] >= 16
    assert service_bus["maxConcurrentSessions"] >= 1
    assert service_bus["autoCompleteMessages"] is True
    assert _seconds(service_bus["maxAutoLockRenewalDuration"]) > _seconds(HOST_JSON["functionTimeout"])
    slowest_invocation = 2 * HttpTimeouts().worst_case  # look-up + create
    assert _seconds(HOST_JSON["functionTimeout"]) > slowest_invocation


def test_settings_report_every_problem_at_once():
    with pytest.raises(SettingsError) as caught:
        load_settings({"ERP_BASE_URL": "erp.example.com", "RETRY_MAX_SPAN_MINUTES": "soon", "ERP_API_KEY": "k"})
    problems = caught.value.problems
    assert any(p.startswith("ServiceBusConnection__fullyQualifiedNamespace is not set") for p in problems)
    assert any(p.startswith("ERP_BASE_URL must be an absolute http(s) URL") for p in problems)
    assert any(p.startswith("RETRY_MAX_SPAN_MINUTES='soon'") for p in problems)
    for name in (
        "ECP_BASE_URL", "ECP_API_KEY", "ERP_WEB_CUSTOMER_NUMBER", "ERP_SHIPPING_CHARGE_ITEM", "ERP_PRICES_INCLUDE_TAX"
    ):
        assert f"{name} is not set" in problems
    assert "ERP_API_KEY is not set" not in problems


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2023-06-20T09:20:33.997Z", datetime(2023, 6, 20, 9, 20, 33, 997000, tzinfo=timezone.utc)),
        ("2021-11-24T02:49:29.043000+00:00", datetime(2021, 11, 24, 2, 49, 29, 43000, tzinfo=timezone.utc)),
        ("2021-11-24T02:49:29", datetime(2021, 11, 24, 2, 49, 29, tzinfo=timezone.utc)),  # ARM times are UTC
    ],
)
def test_the_queue_creation_time_is_read_in_the_forms_azure_reports(raw, expected):
    settings = load_settings(
        {**VALID_SETTINGS, "ONLINE_ORDERS_DUPLICATE_DETECTION_MINUTES": "1440", "ONLINE_ORDERS_QUEUE_CREATED_AT": raw}
    )
    assert settings.online_orders_queue_created_at == expected


def test_settings_defaults_and_no_keys_in_repr():
    settings = load_settings(
        {
            "ServiceBusConnection__fullyQualifiedNamespace": "sb-orderbridge-dev.servicebus.windows.net",
            "ERP_BASE_URL": "https://erp.example.com/api/v2.0/",
            "ERP_API_KEY": "erp-secret",
            "ECP_BASE_URL": "https://shop.example.com/api",
            "ECP_API_KEY": "ecp-secret",
            "ERP_WEB_CUSTOMER_NUMBER": "WEB",
            "ERP_SHIPPING_CHARGE_ITEM": "SHIPPING",
            "ERP_PRICES_INCLUDE_TAX": "False",
        }
    )
    assert settings.erp_base_url == "https://erp.example.com/api/v2.0"
    assert settings.retry_max_span_minutes == 90
    assert settings.erp_unknown_outcome_retry_minutes == 15  # BC's 10-minute execution limit + margin
    assert settings.erp_prices_include_tax is False
    # Without the online-orders queue's settings every order is looked up before it is created.
    assert settings.online_orders_duplicate_detection_minutes is None and settings.online_orders_queue_created_at is None
    assert "secret" not in repr(settings)


VALID_SETTINGS = {
    "ServiceBusConnection__fullyQualifiedNamespace": "sb-orderbridge-dev.servicebus.windows.net",
    "ERP_BASE_URL": "https://erp.example.com",
    "ERP_API_KEY": "k",
    "ECP_BASE_URL": "https://shop.example.com",
    "ECP_API_KEY": "k",
    "ERP_WEB_CUSTOMER_NUMBER": "WEB",
    "ERP_SHIPPING_CHARGE_ITEM": "SHIPPING",
    "ERP_PRICES_INCLUDE_TAX": "true",
}


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"ERP_PRICES_INCLUDE_TAX": ""}, "ERP_PRICES_INCLUDE_TAX is not set"),
        ({"ERP_PRICES_INCLUDE_TAX": "yes"}, "ERP_PRICES_INCLUDE_TAX='yes' must be 'true' or 'false'"),
        ({"ERP_UNKNOWN_OUTCOME_RETRY_MINUTES": "0"}, "ERP_UNKNOWN_OUTCOME_RETRY_MINUTES='0' must be a whole number"),
        (
            {"ONLINE_ORDERS_DUPLICATE_DETECTION_MINUTES": "P1D", "ONLINE_ORDERS_QUEUE_CREATED_AT": "2026-01-01T00:00:00Z"},
            "ONLINE_ORDERS_DUPLICATE_DETECTION_MINUTES='P1D' must be a whole number",
        ),
        (
            {"ONLINE_ORDERS_DUPLICATE_DETECTION_MINUTES": "2000000000000", "ONLINE_ORDERS_QUEUE_CREATED_AT": "2026-01-01T00:00:00Z"},
            "ONLINE_ORDERS_DUPLICATE_DETECTION_MINUTES='2000000000000' must be a whole number of minutes from 1440"
            " to 10080",
        ),
        (
            {"ONLINE_ORDERS_DUPLICATE_DETECTION_MINUTES": "1440", "ONLINE_ORDERS_QUEUE_CREATED_AT": "yesterday"},
            "ONLINE_ORDERS_QUEUE_CREATED_AT='yesterday' must be an ISO 8601 time",
        ),
        (
            {"ONLINE_ORDERS_DUPLICATE_DETECTION_MINUTES": "1440"},
            "set both ONLINE_ORDERS_DUPLICATE_DETECTION_MINUTES and ONLINE_ORDERS_QUEUE_CREATED_AT, or neither",
        ),
        (
            {"RETRY_MAX_SPAN_MINUTES": "15", "ERP_UNKNOWN_OUTCOME_RETRY_MINUTES": "15"},
            "ERP_UNKNOWN_OUTCOME_RETRY_MINUTES (15) must be less than RETRY_MAX_SPAN_MINUTES (15)",
        ),
    ],
)
def test_tax_basis_minutes_and_queue_settings_are_checked(changes, problem):
    environ = {**VALID_SETTINGS, **changes}
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


@pytest.mark.parametrize("name", ["ERP_API_KEY", "ECP_API_KEY"])
def test_an_unresolved_key_vault_reference_is_refused_not_sent_as_the_key(name):
    reference = "@Microsoft.KeyVault(SecretUri=https://kv-orderbridge-dev.vault.azure.net/secrets/erp-api-key/)"
    environ = {**VALID_SETTINGS, name: reference}
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    [problem] = caught.value.problems
    assert problem.startswith(f"{name} is an unresolved Key Vault reference")
    assert "Key Vault Secrets User" in problem and "restart the Function App" in problem
    assert "vault.azure.net" not in problem


def test_missing_settings_fail_the_invocation_so_the_message_is_not_completed(monkeypatch):
    monkeypatch.delenv("ERP_BASE_URL", raising=False)
    monkeypatch.delenv("ServiceBusConnection__fullyQualifiedNamespace", raising=False)
    runtime.install_runtime(None)
    with pytest.raises(SettingsError, match="ERP_BASE_URL is not set"):
        user_function("erp_integrator")(order_message(example("ecp-order")))


@pytest.mark.parametrize(
    ("function_name", "make_message"),
    [
        ("erp_integrator", lambda: order_message(example("ecp-order"), correlation_id="evt-cfg")),
        ("ecp_integrator", lambda: state_message(example("erp-sales-order-state"), correlation_id="evt-cfg")),
    ],
)
def test_bad_settings_are_logged_with_the_message_ids_and_every_problem_but_no_secret(
    harness, monkeypatch, caplog, function_name, make_message
):
    monkeypatch.setenv("ERP_PRICES_INCLUDE_TAX", "maybe")
    monkeypatch.delenv("ECP_BASE_URL")
    runtime.install_runtime(None)
    message = make_message()
    with caplog.at_level(logging.ERROR, logger="order_integration"), pytest.raises(SettingsError):
        user_function(function_name)(message)
    [line] = [r.getMessage() for r in caplog.records if r.name == "order_integration"]
    assert "invalid app settings" in line and "leaving it to Service Bus" in line
    assert "ERP_PRICES_INCLUDE_TAX='maybe' must be 'true' or 'false'" in line
    assert "ECP_BASE_URL is not set" in line
    assert f"messageId={message.message_id}" in line and "correlationId=evt-cfg" in line
    assert ERP_KEY not in line and ECP_KEY not in line
    assert harness.bus.messages("online-orders-rejected") == harness.bus.messages("order-updates-rejected") == []


def test_log_lines_carry_ids_but_no_keys_or_personal_data(harness, caplog):
    order = example("ecp-order")
    harness.ecp.put_order(json.loads(json.dumps(order, default=str)))
    harness.erp.fail_next(Fault(status=503))
    with caplog.at_level(logging.DEBUG):
        user_function("erp_integrator")(order_message(order, correlation_id="evt-log-1"))
        harness.run_due("online-orders", "erp_integrator", until=harness.clock.now().replace(hour=23))
        bad = dict(order, lines="not a list")
        user_function("erp_integrator")(order_message(bad, message_id="ord-bad", correlation_id="evt-log-2"))
        user_function("ecp_integrator")(state_message(example("erp-sales-order-state"), correlation_id="evt-log-3"))
    text = "\n".join(r.getMessage() + " " + json.dumps(getattr(r, "custom_dimensions", {})) for r in caplog.records)
    secrets = [ERP_KEY, ECP_KEY]
    customer = order["customer"]
    personal = [customer["email"], customer["lastName"], customer["phone"], order["shippingAddress"]["line1"]]
    for value in secrets + personal:
        assert value not in text, f"{value!r} reached the logs"
    ours = [r for r in caplog.records if r.name == "order_integration"]
    assert len(ours) >= 4
    for record in ours:
        assert "correlationId=evt-log-" in record.getMessage()
        assert "orderid=ord-" in record.getMessage().lower()  # the ECP integrator logs the canonical (upper-case) id
    assert any("SchemaViolation: ecp-order $.lines" in r.getMessage() for r in ours)


def _seconds(timespan: str) -> int:
    hours, minutes, seconds = (int(float(part)) for part in timespan.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def test_cold_start_imports_only_azure_functions():
    """What a cold start loads: the handlers' dependencies must wait for the first message."""
    code = (
        "import sys, function_app; "
        "print(sorted(m for m in ('urllib3', 'httpx', 'jsonschema', 'jsonschema_rs', 'azure.servicebus', "
        "'azure.identity', 'requests', 'order_integration.runtime') if m in sys.modules))"
    )
    func_dir = Path(__file__).parents[2] / "integrator_func"
    out = subprocess.run([sys.executable, "-c", code], cwd=func_dir, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
