"""The workflow files as reviewed and deployed: lint, format, parameters, parallel shape, loop bound."""
from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from orderbridge.wdl import HttpRequest, HttpResponse, SystemClock, TriggerInput, WorkflowHost, lint
from infra.workflow_definitions import declared_parameters, load_definition, trigger_name, workflow_path

from tests.workflows._harness import (
    ERP_EVENTS,
    ORDER_EVENTS,
    FakeServiceBus,
    WorkflowUnderTest,
    ScriptedSource,
    routed,
    run_pipeline,
)

AGREED_PARAMETERS = {
    "sourceBaseUrl": "String",
    "sourceApiKey": "SecureString",
    "serviceBusHost": "String",
    "queueName": "String",
    "parkingQueueName": "String",
}
# The only absolute URLs a definition may contain: everything environment-specific is a parameter.
ALLOWED_URLS = {
    "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#",
    "https://servicebus.azure.net",
    "https://@{parameters('serviceBusHost')}/@{parameters('queueName')}/messages",
    "https://@{parameters('serviceBusHost')}/@{parameters('parkingQueueName')}/messages",
}
FOREACH_REPETITIONS = 10


def loaded(pipeline: WorkflowUnderTest) -> dict[str, Any]:
    return load_definition(pipeline.workflow, trigger_concurrency=5, maximum_waiting_runs=15)


def test_lint_finds_nothing(pipeline: WorkflowUnderTest) -> None:
    assert lint(loaded(pipeline)) == []


def test_the_file_is_pretty_printed_with_sorted_keys(pipeline: WorkflowUnderTest) -> None:
    """Reformat with: python -m json.tool --indent 2 --sort-keys FILE"""
    text = workflow_path(pipeline.workflow).read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_it_declares_exactly_the_agreed_parameters(pipeline: WorkflowUnderTest) -> None:
    declared = {name: spec["type"] for name, spec in declared_parameters(pipeline.workflow).items()}
    assert declared == AGREED_PARAMETERS
    assert not any("defaultValue" in spec for spec in declared_parameters(pipeline.workflow).values())


def test_environment_values_enter_only_through_parameters(pipeline: WorkflowUnderTest) -> None:
    text = workflow_path(pipeline.workflow).read_text(encoding="utf-8")
    urls = set(re.findall(r'https?://[^\s"\\]+', text))
    assert urls <= ALLOWED_URLS, f"hard-coded endpoints: {sorted(urls - ALLOWED_URLS)}"


def test_one_request_trigger_whose_concurrency_the_loader_sets(pipeline: WorkflowUnderTest) -> None:
    definition = loaded(pipeline)
    assert trigger_name(pipeline.workflow) == "When_Event_Grid_delivers_events"
    trigger = definition["triggers"]["When_Event_Grid_delivers_events"]
    assert trigger["type"] == "Request"
    assert trigger["runtimeConfiguration"]["concurrency"] == {"runs": 5, "maximumWaitingRuns": 15}


def _secured(action: dict[str, Any]) -> set[str]:
    return set(((action.get("runtimeConfiguration") or {}).get("secureData") or {}).get("properties") or [])


def test_the_fetch_and_the_send_hide_the_key_and_the_payload_from_run_history(pipeline: WorkflowUnderTest) -> None:
    """A reviewer-visible rule, not left to the engine's inference: the fetch carries the API key in
    its inputs and the order in its outputs, the send carries the order in its inputs
    (https://learn.microsoft.com/azure/logic-apps/logic-apps-securing-a-logic-app#secure-data-code-view)."""
    actions = loaded(pipeline)["actions"]["For_each_event"]["actions"]
    assert _secured(actions[pipeline.fetch_action]) == {"inputs", "outputs"}, pipeline.fetch_action
    assert "inputs" in _secured(actions[pipeline.send_action]), pipeline.send_action


def test_the_failure_classification_reads_the_fetch_status_null_safely(pipeline: WorkflowUnderTest) -> None:
    """A fetch that failed with InvalidTemplate (the verdict guard) has no outputs; whether Azure's
    outputs('X')?['statusCode'] is then null or an error is not documented, actions('X')?['outputs']
    is null-safe at every step."""
    classify = loaded(pipeline)["actions"]["For_each_event"]["actions"]["Classify_failure"]["inputs"]
    assert f"actions('{pipeline.fetch_action}')?['outputs']?['statusCode']" in classify
    assert "outputs(" not in classify and "body(" not in classify


def _shape(definition: dict[str, Any], renames: dict[str, str]) -> Any:
    """The definition with pipeline-specific literals removed: action names, types, runAfter,
    retry, timeout, secureData and authentication, which must be the same in both workflows."""

    def actions(block: dict[str, Any]) -> dict[str, Any]:
        return {
            renames.get(name, name): {
                "type": action["type"],
                "runAfter": {renames.get(k, k): v for k, v in action.get("runAfter", {}).items()},
                "limit": action.get("limit"),
                "runtimeConfiguration": action.get("runtimeConfiguration"),
                "retryPolicy": (action.get("inputs") or {}).get("retryPolicy")
                if isinstance(action.get("inputs"), dict) else None,
                "authentication": (action.get("inputs") or {}).get("authentication")
                if isinstance(action.get("inputs"), dict) else None,
                "headers": sorted(((action.get("inputs") or {}).get("headers") or {}))
                if isinstance(action.get("inputs"), dict) else None,
                "actions": actions(action["actions"]) if "actions" in action else None,
            }
            for name, action in block.items()
        }

    return {"parameters": definition["parameters"], "triggers": definition["triggers"],
            "actions": actions(definition["actions"])}


def test_the_two_workflows_have_the_same_shape() -> None:
    """Reviewers diff the two files: only event type, ids, fetch URL and broker properties differ."""
    shapes = [
        _shape(loaded(p), {p.fetch_action: "FETCH", p.send_action: "SEND"}) for p in (ORDER_EVENTS, ERP_EVENTS)
    ]
    assert shapes[0] == shapes[1]


def test_source_calls_of_one_run_are_bounded_by_the_foreach_repetitions(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus
) -> None:
    """A batch larger than the degree of parallelism: at most 10 fetches in flight at once, so the
    source sees at most trigger runs x 10 concurrent calls."""
    source = ScriptedSource(service_bus.clock, [pipeline.found()], latency=1.0)

    result = run_pipeline(pipeline, [pipeline.event(n) for n in range(1, 26)],
                          source_base_url="https://source.example", source=source, service_bus=service_bus)

    calls = [attempt for record in result.records(pipeline.fetch_action) for attempt in record.attempts]
    in_flight = max(sum(1 for other in calls if other.start <= call.start < other.end) for call in calls)
    assert len(calls) == 25
    assert in_flight == FOREACH_REPETITIONS


@pytest.mark.parametrize("name", ["order-events-processor", "erp-events-processor"])
def test_the_loop_degree_is_set_on_purpose(name: str) -> None:
    foreach = load_definition(name, trigger_concurrency=1, maximum_waiting_runs=11)["actions"]["For_each_event"]
    assert foreach["runtimeConfiguration"]["concurrency"]["repetitions"] == FOREACH_REPETITIONS


class CountingSource:
    """A source API in real time that remembers the most calls it ever had in flight."""

    def __init__(self, seconds_per_call: float, answer: Callable[[HttpRequest], HttpResponse]) -> None:
        self.seconds_per_call = seconds_per_call
        self.answer = answer
        self.in_flight = 0
        self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        time.sleep(self.seconds_per_call)
        with self._lock:
            self.in_flight -= 1
        return self.answer(request)


def test_concurrent_runs_call_the_source_at_most_runs_times_repetitions(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus
) -> None:
    """Four deliveries of 20 events at once, trigger concurrency 2: at most 2 x 10 calls in flight."""
    runs = 2
    batches = [[pipeline.event(100 * b + n) for n in range(20)] for b in range(4)]
    source = CountingSource(seconds_per_call=0.05, answer=pipeline.found(*sum(batches, [])))
    host = WorkflowHost(
        load_definition(pipeline.workflow, trigger_concurrency=runs, maximum_waiting_runs=runs + 10),
        parameters=pipeline.parameters("https://source.example"),
        http=routed(source, service_bus),
        clock=SystemClock(),
    )

    with ThreadPoolExecutor(max_workers=4) as callers:
        replies = list(callers.map(lambda batch: host.call(TriggerInput(body=batch)), batches))

    assert [reply.status_code for reply in replies] == [200] * 4
    assert host.peak_active <= runs
    assert source.peak <= runs * FOREACH_REPETITIONS
    assert len(service_bus.messages(pipeline.queue)) == 80
