"""The topology: what exists in each stack and how the parts are wired together."""
from __future__ import annotations

import functools
import importlib.util
import json
from collections import Counter
from datetime import timedelta

import pytest

from infra import roles
from infra.config import parse_config, parse_duration
from infra.pipeline import dead_letter_container
from topology import PIPELINES, PipelineSpec
from infra import workflow_definitions
from infra.package import REPO_ROOT, package_reference
from orderbridge.synth import MOCK_CREATED_AT, OfflineMocks, Synthesis, SynthResource, read_stack_file, synthesize
from pulumi.runtime.mocks import MockCallArgs

# Role assignments: 14 for the identities (per pipeline 1 topic + 2 workflow + 3 function grants,
# plus the function's vault and host storage), 10 per operator (per pipeline: receiver and sender on
# two queues, reader on the dead-letter container), 1 per publisher.
EXPECTED_COUNTS = {
    "dev": {"RoleAssignment": 14 + 10 * 1 + 2},
    "prod": {"RoleAssignment": 14 + 10 * 2 + 2},
}
COMMON_COUNTS = {
    "ResourceGroup": 1, "Workspace": 1, "Component": 1, "ActionGroup": 1,
    "MetricAlert": 2 * 9 + 1, "DiagnosticSetting": 5,
    "StorageAccount": 2, "BlobContainer": 3, "UserAssignedIdentity": 1,
    "Namespace": 1, "Queue": 4, "Topic": 2, "EventSubscription": 2, "Workflow": 2,
    "Vault": 1, "Secret": 2, "AppServicePlan": 1, "WebApp": 1,
    "Pipeline": 2, "HardenedStorage": 2, "Messaging": 1, "Observability": 1, "SecretsVault": 1,
    "Integrator": 1,
}


def config_of(stack: Synthesis):
    return parse_config(stack.stack, *read_stack_file(stack.stack))


def one(stack: Synthesis, type_: str, **where: object) -> SynthResource:
    found = [r for r in stack.of_type(type_)
             if all(r.revealed_inputs().get(k) == v for k, v in where.items())]
    assert len(found) == 1, f"expected one {type_} with {where}, found {[r.urn for r in found]}"
    return found[0]


def test_resource_counts_by_type(stack: Synthesis) -> None:
    counts = Counter(r.type.rsplit(":", 1)[-1] for r in stack.resources)
    expected = {**COMMON_COUNTS, **EXPECTED_COUNTS[stack.stack]}
    assert dict(counts) == expected


def test_one_pipeline_component_per_direction_owns_its_parts(stack: Synthesis) -> None:
    pipelines = {r.name for r in stack.of_type("pipeline:Pipeline")}
    assert pipelines == {spec.key for spec in PIPELINES}
    for spec in PIPELINES:
        owned = {r.type.rsplit(":", 1)[-1] for r in stack.resources if r.parent == spec.key}
        assert {"Queue", "Topic", "EventSubscription", "Workflow", "RoleAssignment", "MetricAlert"} <= owned


@pytest.mark.parametrize("spec", PIPELINES, ids=lambda s: s.key)
def test_queues_have_the_agreed_settings(stack: Synthesis, spec: PipelineSpec) -> None:
    queues = config_of(stack).queues
    for name, sessions, ttl in ((spec.queue_name, spec.requires_session, queues.message_time_to_live),
                                (spec.parking_queue_name, False, queues.parking_message_time_to_live)):
        queue = one(stack, "servicebus:Queue", queueName=name).revealed_inputs()
        assert queue["requiresSession"] is sessions, name
        assert queue["defaultMessageTimeToLive"] == ttl, name
        assert queue["requiresDuplicateDetection"] is True, name
        assert queue["duplicateDetectionHistoryTimeWindow"] == queues.duplicate_detection_window, name
        assert queue["deadLetteringOnMessageExpiration"] is True, name
        assert queue["maxDeliveryCount"] == queues.max_delivery_count, name
        assert queue["lockDuration"] == queues.lock_duration, name


def test_parked_messages_outlive_queued_ones(stack: Synthesis) -> None:
    """A parked message waits for an operator; it must not expire before a queued one would."""
    queues = config_of(stack).queues
    assert parse_duration(queues.parking_message_time_to_live) > parse_duration(queues.message_time_to_live)


def test_order_updates_has_sessions_and_online_orders_does_not(stack: Synthesis) -> None:
    assert one(stack, "servicebus:Queue", queueName="order-updates").revealed_inputs()["requiresSession"] is True
    assert one(stack, "servicebus:Queue", queueName="online-orders").revealed_inputs()["requiresSession"] is False


def test_queue_create_only_settings_force_a_replace_not_a_failed_update(stack: Synthesis) -> None:
    for queue in stack.of_type("servicebus:Queue"):
        assert {"requiresSession", "requiresDuplicateDetection"} <= set(queue.replace_on_changes), queue.urn


@pytest.mark.parametrize("spec", PIPELINES, ids=lambda s: s.key)
def test_subscription_endpoint_is_its_workflows_callback_url(stack: Synthesis, spec: PipelineSpec) -> None:
    subscription = one(stack, "eventgrid:EventSubscription", eventSubscriptionName=spec.workflow_name)
    expected = OfflineMocks().call(MockCallArgs(
        "azure-native:logic:listWorkflowTriggerCallbackUrl",
        {"workflowName": spec.workflow_name, "triggerName": workflow_definitions.trigger_name(spec.workflow_name),
         "resourceGroupName": "rg"}, "",
    ))["value"]
    destination = subscription.revealed_inputs()["destination"]
    assert destination["endpointType"] == "WebHook"
    assert destination["endpointUrl"] == expected, subscription.urn
    assert subscription.revealed_inputs()["scope"].endswith(f"/topics/{spec.topic_name}")


@pytest.mark.parametrize("spec", PIPELINES, ids=lambda s: s.key)
def test_subscription_filters_retries_batches_and_dead_letters(stack: Synthesis, spec: PipelineSpec) -> None:
    delivery = config_of(stack).event_delivery
    settings = one(stack, "eventgrid:EventSubscription", eventSubscriptionName=spec.workflow_name).revealed_inputs()
    assert settings["eventDeliverySchema"] == "EventGridSchema"
    assert settings["filter"]["includedEventTypes"] == [spec.event_type]
    assert settings["retryPolicy"] == {"maxDeliveryAttempts": delivery.max_attempts,
                                       "eventTimeToLiveInMinutes": delivery.time_to_live_minutes}
    assert settings["destination"]["maxEventsPerBatch"] == delivery.batch_size
    dead_letter = settings["deadLetterWithResourceIdentity"]
    assert dead_letter["identity"] == {"type": "SystemAssigned"}
    destination = dead_letter["deadLetterDestination"]
    assert destination["blobContainerName"] == dead_letter_container(spec)
    assert destination["resourceId"].endswith(f"/storageAccounts/storderbridge{stack.stack}dl")


@pytest.mark.parametrize("spec", PIPELINES, ids=lambda s: s.key)
def test_topic_identity_may_write_its_dead_letter_container(stack: Synthesis, spec: PipelineSpec) -> None:
    grant = stack.named(f"{spec.key}-topic-dead-letter-writer").revealed_inputs()
    assert grant["description"] == roles.STORAGE_BLOB_DATA_CONTRIBUTOR.name
    assert grant["scope"].endswith(f"/containers/{dead_letter_container(spec)}")


@pytest.mark.parametrize("spec", PIPELINES, ids=lambda s: s.key)
def test_workflow_parameters_are_exactly_the_declared_ones(stack: Synthesis, spec: PipelineSpec) -> None:
    workflow = one(stack, "logic:Workflow", workflowName=spec.workflow_name)
    supplied = workflow.revealed_inputs()["parameters"]
    assert set(supplied) == set(workflow_definitions.declared_parameters(spec.workflow_name)), workflow.urn


@pytest.mark.parametrize("spec", PIPELINES, ids=lambda s: s.key)
def test_workflow_parameters_name_its_queue_namespace_and_source(stack: Synthesis, spec: PipelineSpec) -> None:
    config = config_of(stack)
    supplied = {k: v["value"] for k, v in
                one(stack, "logic:Workflow", workflowName=spec.workflow_name).revealed_inputs()["parameters"].items()}
    assert supplied["queueName"] == spec.queue_name
    assert supplied["parkingQueueName"] == spec.parking_queue_name
    assert supplied["serviceBusHost"] == f"sb-orderbridge-{stack.stack}.servicebus.windows.net"
    assert supplied["sourceBaseUrl"] == {"ecp": config.ecp_base_url, "erp": config.erp_base_url}[spec.source]
    assert supplied["sourceApiKey"] == f"offline-placeholder-for-orderbridge:{spec.source}ApiKey"


@pytest.mark.parametrize("spec", PIPELINES, ids=lambda s: s.key)
def test_deployed_definition_is_the_file_with_only_trigger_concurrency_set(stack: Synthesis, spec: PipelineSpec) -> None:
    config = config_of(stack)
    deployed = one(stack, "logic:Workflow", workflowName=spec.workflow_name).revealed_inputs()["definition"]
    on_disk = json.loads(workflow_definitions.workflow_path(spec.workflow_name).read_text(encoding="utf-8"))
    trigger = workflow_definitions.trigger_name(spec.workflow_name)
    runtime = deployed["triggers"][trigger]["runtimeConfiguration"]
    assert runtime.pop("concurrency") == {"runs": config.order_fetch_concurrency,
                                          "maximumWaitingRuns": config.maximum_waiting_runs}
    if not runtime:
        del deployed["triggers"][trigger]["runtimeConfiguration"]
    on_disk["triggers"][trigger].get("runtimeConfiguration", {}).pop("concurrency", None)
    if on_disk["triggers"][trigger].get("runtimeConfiguration") == {}:
        del on_disk["triggers"][trigger]["runtimeConfiguration"]
    assert deployed == on_disk


def function_identity(stack: Synthesis) -> SynthResource:
    return one(stack, "managedidentity:UserAssignedIdentity")


def test_function_app_is_flex_consumption_python_311(stack: Synthesis) -> None:
    plan = one(stack, "web:AppServicePlan").revealed_inputs()
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"} and plan["reserved"] is True
    app = one(stack, "web:WebApp").revealed_inputs()
    assert app["kind"] == "functionapp,linux"
    assert app["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}
    storage = app["functionAppConfig"]["deployment"]["storage"]
    assert storage["value"] == f"https://storderbridge{stack.stack}fn.blob.core.windows.net/deployment-package"


def test_function_app_uses_its_user_assigned_identity_everywhere(stack: Synthesis) -> None:
    """Key Vault references, the deployment container, host storage, Service Bus and the code's own
    DefaultAzureCredential all authenticate as the one identity that holds the roles."""
    identity = function_identity(stack)
    identity_id, client_id = identity.outputs["id"], identity.outputs["clientId"]
    assert identity_id.endswith(f"/userAssignedIdentities/id-orderbridge-{stack.stack}")
    app = one(stack, "web:WebApp").revealed_inputs()
    assert app["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [identity_id]}
    assert app["keyVaultReferenceIdentity"] == identity_id
    assert app["functionAppConfig"]["deployment"]["storage"]["authentication"] == {
        "type": "UserAssignedIdentity", "userAssignedIdentityResourceId": identity_id,
    }
    settings = {s["name"]: s["value"] for s in app["siteConfig"]["appSettings"]}
    for connection in ("AzureWebJobsStorage", "ServiceBusConnection"):
        assert settings[f"{connection}__credential"] == "managedidentity", connection
        assert settings[f"{connection}__clientId"] == client_id, connection
    assert settings["AZURE_CLIENT_ID"] == client_id


def test_function_app_starts_only_after_its_roles_and_secrets_exist(stack: Synthesis) -> None:
    """A Key Vault reference unresolved at start stays literal text for up to a day: the app waits."""
    app = one(stack, "web:WebApp")
    principal = function_identity(stack).outputs["principalId"]
    grants = [a.urn for a in stack.of_type("authorization:RoleAssignment")
              if a.revealed_inputs()["principalId"] == principal]
    secrets = [s.urn for s in stack.of_type("keyvault:Secret")]
    assert len(grants) == 3 * len(PIPELINES) + 2
    missing = set(grants + secrets) - set(app.dependencies)
    assert not missing, f"{app.urn} may start before {sorted(missing)}"


def test_function_app_settings_are_the_agreed_ones(stack: Synthesis) -> None:
    config = config_of(stack)
    settings = {s["name"]: s["value"] for s in one(stack, "web:WebApp").revealed_inputs()["siteConfig"]["appSettings"]}
    assert set(settings) == {
        "ServiceBusConnection__fullyQualifiedNamespace", "ERP_BASE_URL", "ERP_API_KEY", "ECP_BASE_URL",
        "ECP_API_KEY", "ERP_WEB_CUSTOMER_NUMBER", "ERP_SHIPPING_CHARGE_ITEM", "RETRY_MAX_SPAN_MINUTES",
        "ERP_PRICES_INCLUDE_TAX", "ERP_UNKNOWN_OUTCOME_RETRY_MINUTES", "APPLICATIONINSIGHTS_CONNECTION_STRING", "AzureWebJobsStorage__accountName",
        "PYTHON_THREADPOOL_THREAD_COUNT", "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId",
        "ServiceBusConnection__credential", "ServiceBusConnection__clientId", "AZURE_CLIENT_ID",
        "ONLINE_ORDERS_DUPLICATE_DETECTION_MINUTES", "ONLINE_ORDERS_QUEUE_CREATED_AT",
        "ONLINE_ORDERS_QUEUE", "ONLINE_ORDERS_PARKING_QUEUE", "ORDER_UPDATES_QUEUE", "ORDER_UPDATES_PARKING_QUEUE",
    }
    for spec in PIPELINES:
        assert settings[spec.queue_setting] == spec.queue_name
        assert settings[spec.parking_queue_setting] == spec.parking_queue_name
    assert settings["ServiceBusConnection__fullyQualifiedNamespace"] == f"sb-orderbridge-{stack.stack}.servicebus.windows.net"
    assert settings["AzureWebJobsStorage__accountName"] == f"storderbridge{stack.stack}fn"
    assert settings["ERP_BASE_URL"] == config.erp_base_url and settings["ECP_BASE_URL"] == config.ecp_base_url
    assert settings["ERP_WEB_CUSTOMER_NUMBER"] == config.erp_web_customer_number
    assert settings["ERP_SHIPPING_CHARGE_ITEM"] == config.erp_shipping_charge_item
    assert settings["RETRY_MAX_SPAN_MINUTES"] == str(config.retry_max_span_minutes)
    assert settings["ERP_PRICES_INCLUDE_TAX"] == str(config.erp_prices_include_tax).lower()
    assert settings["ERP_UNKNOWN_OUTCOME_RETRY_MINUTES"] == str(config.erp_unknown_outcome_retry_minutes)
    assert settings["APPLICATIONINSIGHTS_CONNECTION_STRING"].startswith("InstrumentationKey=")
    online_orders = one(stack, "servicebus:Queue", queueName="online-orders")
    window = online_orders.revealed_inputs()["duplicateDetectionHistoryTimeWindow"]
    assert int(settings["ONLINE_ORDERS_DUPLICATE_DETECTION_MINUTES"]) * 60 == parse_duration(window).total_seconds()
    assert settings["ONLINE_ORDERS_QUEUE_CREATED_AT"] == MOCK_CREATED_AT  # the queue's own output
    assert online_orders.urn in one(stack, "web:WebApp").dependencies
    host = json.loads((REPO_ROOT / "integrator_func" / "host.json").read_text(encoding="utf-8"))["extensions"]["serviceBus"]
    assert int(settings["PYTHON_THREADPOOL_THREAD_COUNT"]) >= host["maxConcurrentCalls"] + host["maxConcurrentSessions"], (
        "the Python worker's thread pool must not cap host.json's Service Bus concurrency"
    )


def test_pulumi_uploads_no_package_and_tags_the_app_with_the_source_hash(stack: Synthesis) -> None:
    """The provider's Blob would write with the account key, which the account refuses: One Deploy
    ships the zip after `pulumi up`; the tag and the output name the sources it must be built from."""
    expected = package_reference(require_built=False).source_hash
    assert not stack.of_type("storage:Blob")
    assert one(stack, "web:WebApp").revealed_inputs()["tags"]["sourceHash"] == expected
    assert stack.outputs["integratorSourceHash"] == expected


@functools.cache
def integrator_bindings() -> dict[str, dict]:
    """Trigger bindings per function, read with `FunctionApp.get_functions()` from a private copy of
    `integrator_func/function_app.py` (`get_functions()` may only run once per app object)."""
    path = REPO_ROOT / "integrator_func" / "function_app.py"
    spec = importlib.util.spec_from_file_location("function_app_for_infra_tests", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {
        function.get_function_name(): next(
            b for b in function.get_bindings_dict()["bindings"] if b["type"] == "serviceBusTrigger"
        )
        for function in module.app.get_functions()
    }


def test_integrator_bindings_listen_on_queues_that_exist_with_matching_sessions(stack: Synthesis) -> None:
    queues = {q.revealed_inputs()["queueName"]: q.revealed_inputs() for q in stack.of_type("servicebus:Queue")}
    settings = {s["name"]: s["value"] for s in one(stack, "web:WebApp").revealed_inputs()["siteConfig"]["appSettings"]}
    receivers = {stack.named(a.name).revealed_inputs()["scope"].rsplit("/", 1)[-1]
                 for a in stack.of_type("authorization:RoleAssignment") if a.name.endswith("-function-receiver")}
    bindings = integrator_bindings()
    assert set(bindings) == {spec.function_name for spec in PIPELINES}
    for function, binding in bindings.items():
        expression = binding["queueName"]
        # A binding expression, resolved from the app settings as the Functions host does at indexing.
        assert expression.startswith("%") and expression.endswith("%"), expression
        name = settings[expression.strip("%")]
        assert name in queues, f"{function} listens on {name}, not in the topology"
        assert name in receivers, f"{function} has no receiver role on {name}"
        assert queues[name]["requiresSession"] is bool(binding.get("isSessionsEnabled")), name
        assert f"{binding['connection']}__fullyQualifiedNamespace" in settings
        assert name in receivers, f"the Function App may not receive from {name}"


@pytest.mark.parametrize("spec", PIPELINES, ids=lambda s: s.key)
def test_alerts_cover_dead_letters_parking_backlog_runs_and_events(stack: Synthesis, spec: PipelineSpec) -> None:
    backlog = config_of(stack).backlog_alert
    alerts = {}
    for alert in stack.of_type("monitor:MetricAlert"):
        settings = alert.revealed_inputs()
        (criterion,) = settings["criteria"]["allOf"]
        entity = (criterion.get("dimensions") or [{"values": [None]}])[0]["values"][0]
        alerts[(criterion["metricName"], entity or settings["scopes"][0].rsplit("/", 1)[-1])] = (settings, criterion)
    for metric, entity in [("DeadletteredMessages", spec.queue_name), ("ActiveMessages", spec.parking_queue_name),
                           ("DeadletteredMessages", spec.parking_queue_name),
                           ("RunsFailed", spec.workflow_name), ("RunThrottledEvents", spec.workflow_name),
                           ("TriggerThrottledEvents", spec.workflow_name), ("DroppedEventCount", spec.topic_name),
                           ("DeadLetteredCount", spec.topic_name)]:
        assert (metric, entity) in alerts, f"no {metric} alert for {entity}"
    settings, criterion = alerts[("ActiveMessages", spec.queue_name)]
    assert (criterion["threshold"], criterion["timeAggregation"]) == (backlog.threshold, "Minimum")
    assert settings["windowSize"] == backlog.window, "the backlog must be sustained for the whole window"
    for settings, _ in alerts.values():
        assert settings["actions"][0]["actionGroupId"].endswith(f"/actionGroups/ag-orderbridge-{stack.stack}")


# https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-metric-create-templates
ALERT_FREQUENCIES = ("PT1M", "PT5M", "PT15M", "PT30M", "PT1H")


def assert_frequencies_fit_windows(stack: Synthesis) -> None:
    for alert in stack.of_type("monitor:MetricAlert"):
        settings = alert.revealed_inputs()
        frequency, window = settings["evaluationFrequency"], settings["windowSize"]
        assert frequency in ALERT_FREQUENCIES, f"{alert.urn}: frequency {frequency}"
        assert parse_duration(frequency) <= parse_duration(window), f"{alert.urn}: {frequency} > {window}"
        if parse_duration(window) > timedelta(hours=4):
            assert parse_duration(frequency) >= timedelta(minutes=5), (
                f"{alert.urn}: Azure refuses {frequency} with a window over four hours ({window})"
            )


def test_alert_frequencies_fit_their_windows(stack: Synthesis) -> None:
    assert_frequencies_fit_windows(stack)


def test_a_day_long_backlog_window_is_evaluated_every_five_minutes() -> None:
    values, secret_keys = read_stack_file("dev")
    synthesis = synthesize("dev", values={**values, "orderbridge:backlogAlertWindow": "P1D"}, secret_keys=secret_keys)
    backlog = [a.revealed_inputs() for a in synthesis.of_type("monitor:MetricAlert") if a.name.endswith("-backlog")]
    assert [(a["windowSize"], a["evaluationFrequency"]) for a in backlog] == [("P1D", "PT5M")] * len(PIPELINES)
    assert_frequencies_fit_windows(synthesis)


def test_function_failures_alert_and_action_group_mails_alert_email(stack: Synthesis) -> None:
    failures = stack.named("integrator-failures").revealed_inputs()
    assert failures["criteria"]["allOf"][0]["metricName"] == "requests/failed"
    group = one(stack, "monitor:ActionGroup").revealed_inputs()
    assert group["emailReceivers"][0]["emailAddress"] == config_of(stack).alert_email


def test_diagnostics_of_workflows_namespace_and_topics_go_to_the_workspace(stack: Synthesis) -> None:
    sent = {d.revealed_inputs()["resourceUri"].rsplit("/", 1)[-1]: d.revealed_inputs()
            for d in stack.of_type("monitor:DiagnosticSetting")}
    expected = {f"sb-orderbridge-{stack.stack}"} | {s.workflow_name for s in PIPELINES} | {s.topic_name for s in PIPELINES}
    assert set(sent) == expected
    for settings in sent.values():
        assert settings["workspaceId"].endswith(f"/workspaces/log-orderbridge-{stack.stack}")
        assert settings["logs"] == [{"categoryGroup": "allLogs", "enabled": True}]


def test_outputs_name_endpoints_queues_namespace_workflows_and_function_app(stack: Synthesis) -> None:
    outputs = stack.outputs
    assert outputs["serviceBusNamespaceFqdn"] == f"sb-orderbridge-{stack.stack}.servicebus.windows.net"
    assert outputs["functionAppName"] == f"func-orderbridge-{stack.stack}"
    for spec in PIPELINES:
        assert outputs[spec.key] == {
            "topicEndpoint": f"https://{spec.topic_name}.westeurope-1.eventgrid.azure.net/api/events",
            "topicName": spec.topic_name, "workflowName": spec.workflow_name,
            "queueName": spec.queue_name, "parkingQueueName": spec.parking_queue_name,
        }


def test_the_integrator_accepts_the_settings_the_stack_gives_it(stack: Synthesis) -> None:
    """Drift between infra and integrator_func: the app's own settings loader must accept them all."""
    from order_integration.settings import load_settings

    settings = {s["name"]: s["value"] for s in one(stack, "web:WebApp").revealed_inputs()["siteConfig"]["appSettings"]}
    # Azure resolves Key Vault references before the worker reads them; stand in for the secrets.
    resolved = {k: ("resolved-secret" if v.startswith("@Microsoft.KeyVault(") else v) for k, v in settings.items()}
    loaded = load_settings(resolved)
    assert loaded.erp_api_key == "resolved-secret" and loaded.ecp_api_key == "resolved-secret"
    assert loaded.erp_prices_include_tax is config_of(stack).erp_prices_include_tax
    assert loaded.online_orders_duplicate_detection_minutes == int(settings["ONLINE_ORDERS_DUPLICATE_DETECTION_MINUTES"])
    assert loaded.online_orders_queue_created_at is not None
    for spec in PIPELINES:
        route = loaded.routes[spec.function_name]
        assert (route.queue, route.parking_queue) == (spec.queue_name, spec.parking_queue_name)
