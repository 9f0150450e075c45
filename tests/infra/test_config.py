"""Stack configuration: every invalid value is a StackConfigError naming the key, all reported at once."""
from __future__ import annotations

import pytest

from infra.config import SecretText, max_event_batch_size, parse_config
from infra.errors import StackConfigError
from orderbridge.synth import read_stack_file

SECRET_KEYS = {"orderbridge:ecpApiKey", "orderbridge:erpApiKey"}
VALID = {
    "azure-native:location": "westeurope",
    "orderbridge:ecpBaseUrl": "https://ecp.example.com/api/",
    "orderbridge:erpBaseUrl": "https://erp.example.com/api",
    "orderbridge:ecpApiKey": "ecp-secret",
    "orderbridge:erpApiKey": "erp-secret",
    "orderbridge:alertEmail": "ops@example.com",
    "orderbridge:erpWebCustomerNumber": "WEB",
    "orderbridge:erpShippingChargeItem": "SHIPPING",
    "orderbridge:erpPricesIncludeTax": "true",
}


def problems_for(**changes: str | None) -> list[str]:
    values = dict(VALID)
    for key, value in changes.items():
        full = key if ":" in key else f"orderbridge:{key}"
        if value is None:
            values.pop(full, None)
        else:
            values[full] = value
    with pytest.raises(StackConfigError) as raised:
        parse_config("dev", values, SECRET_KEYS)
    return raised.value.problems


def test_valid_config_gets_deliberate_defaults() -> None:
    config = parse_config("dev", VALID, SECRET_KEYS)
    assert config.ecp_base_url == "https://ecp.example.com/api", "trailing slash is removed for the workflows"
    assert (config.order_fetch_concurrency, config.maximum_waiting_runs) == (10, 20)
    assert config.queues.duplicate_detection_window == "P1D"
    assert config.event_delivery.max_attempts == 30 and config.event_delivery.time_to_live_minutes == 1440
    assert config.retry_max_span_minutes == 90
    assert config.tags == {"project": "orderbridge", "stack": "dev"}


def test_api_keys_are_kept_out_of_repr() -> None:
    config = parse_config("dev", VALID, SECRET_KEYS)
    assert config.ecp_api_key == SecretText("ecp-secret")
    assert "ecp-secret" not in repr(config) and "erp-secret" not in str(config)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ecpBaseUrl", "http://ecp.example.com"),
        ("erpBaseUrl", "erp.example.com"),
        ("erpBaseUrl", "https://erp.example.com/api?x=1"),
        ("orderFetchConcurrency", "0"),
        ("orderFetchConcurrency", "101"),
        ("orderFetchConcurrency", "many"),
        ("maximumWaitingRuns", "15"),  # fewer than runs (10) + 10
        ("maximumWaitingRuns", "101"),
        ("eventBatchSize", "0"),
        # larger than the workflows handle in one wave (their Foreach repetitions)
        ("eventBatchSize", str(max_event_batch_size() + 1)),
        ("eventMaxDeliveryAttempts", "31"),
        ("eventTimeToLiveMinutes", "1441"),
        ("maxDeliveryCount", "0"),
        ("lockDuration", "PT10M"),
        ("lockDuration", "one minute"),
        ("messageTimeToLive", "PT1M"),
        ("parkingMessageTimeToLive", "P7D"),  # shorter than the default messageTimeToLive (P14D)
        ("parkingMessageTimeToLive", "P3651D"),
        ("parkingMessageTimeToLive", "forever"),
        ("duplicateDetectionWindow", "PT23H"),  # Event Grid redelivers for up to 24 h
        ("duplicateDetectionWindow", "P8D"),
        ("backlogAlertThreshold", "0"),
        ("backlogAlertWindow", "PT7M"),
        ("alertEmail", "not-an-address"),
        ("operatorPrincipalIds", '["alice"]'),
        ("operatorPrincipalIds", '{"a": 1}'),
        ("ecpPublisherPrincipalIds", "[not json"),
        ("tags", '["a"]'),
        ("retryMaxSpanMinutes", "0"),
        ("retryMaxSpanMinutes", "15"),  # not longer than the wait after a lost ERP create (15)
        ("erpUnknownOutcomeRetryMinutes", "5"),  # the ERP may still be working on the create
        ("erpPricesIncludeTax", "yes"),
        ("logRetentionDays", "7"),
        ("functionMaximumInstances", "10"),
        ("protectData", "yes"),
        ("nameSuffix", "Has-Caps"),
        ("erpWebCustomerNumber", ""),
    ],
)
def test_invalid_value_is_reported_with_its_key(key: str, value: str) -> None:
    problems = problems_for(**{key: value})
    assert any(f"orderbridge:{key}" in p for p in problems), problems


@pytest.mark.parametrize("key", ["azure-native:location", "ecpBaseUrl", "erpApiKey", "alertEmail",
                                 "erpWebCustomerNumber", "erpShippingChargeItem", "erpPricesIncludeTax"])
def test_missing_required_key_is_reported(key: str) -> None:
    full = key if ":" in key else f"orderbridge:{key}"
    assert any(p.startswith(full) and "required" in p for p in problems_for(**{key: None}))


def test_plain_text_api_key_is_refused_with_the_fix() -> None:
    values = dict(VALID)
    with pytest.raises(StackConfigError) as raised:
        parse_config("dev", values, {"orderbridge:erpApiKey"})
    (problem,) = raised.value.problems
    assert problem.startswith("orderbridge:ecpApiKey is stored as plain text")
    assert "pulumi config set --secret orderbridge:ecpApiKey" in problem
    assert "ecp-secret" not in str(raised.value), "the refused value must not be echoed"


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_for(ecpBaseUrl="ftp://x", eventBatchSize="0", alertEmail="nope", erpApiKey=None)
    assert len(problems) == 4, problems


def test_concurrency_above_90_leaves_no_valid_waiting_runs() -> None:
    problems = problems_for(orderFetchConcurrency="95")
    assert any("orderbridge:orderFetchConcurrency" in p and "at most 90" in p for p in problems)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_files_hold_api_keys_as_secure_values(stack: str) -> None:
    values, secret_keys = read_stack_file(stack)
    assert {"orderbridge:ecpApiKey", "orderbridge:erpApiKey"} <= secret_keys
    config = parse_config(stack, values, secret_keys)
    assert config.location == "westeurope"


def test_dev_and_prod_differ_where_teams_differ() -> None:
    dev = parse_config("dev", *read_stack_file("dev"))
    prod = parse_config("prod", *read_stack_file("prod"))
    assert prod.order_fetch_concurrency > dev.order_fetch_concurrency
    assert prod.log_retention_days > dev.log_retention_days
    assert prod.function_maximum_instances > dev.function_maximum_instances
    assert prod.protect_data and not dev.protect_data
    assert prod.alert_email != dev.alert_email


@pytest.mark.parametrize(("stack", "suffix"), [("staging", "abc"), ("Dev", ""), ("my-dev", "")])
def test_stack_name_and_suffix_must_fit_globally_unique_names(stack: str, suffix: str) -> None:
    values = {**VALID, "orderbridge:nameSuffix": suffix}
    with pytest.raises(StackConfigError) as raised:
        parse_config(stack, values, SECRET_KEYS)
    assert any(f"stack name '{stack}'" in p for p in raised.value.problems)


def test_names_fit_azure_limits_for_the_longest_allowed_stack() -> None:
    from infra.naming import Names

    names = Names("stage", "abcd")
    assert len(names.dead_letter_storage) <= 24 and len(names.function_storage) <= 24
    assert len(names.key_vault) <= 24


def test_event_batch_size_may_reach_the_workflows_loop_parallelism() -> None:
    cap = max_event_batch_size()
    config = parse_config("dev", {**VALID, "orderbridge:eventBatchSize": str(cap)}, SECRET_KEYS)
    assert config.event_delivery.batch_size == cap
