"""runAfter statuses, skip propagation and the rule for the run's final status."""
from __future__ import annotations

from typing import Any

import pytest

from orderbridge.wdl import DefinitionError, HttpResponse, TriggerInput, VirtualClock, run

from tests.wdl.helpers import FakeServer, definition, ok

FAIL = {"type": "Compose", "inputs": "@div(1, 0)"}


def step(run_after: dict[str, list[str]] | None = None, value: Any = "ok") -> dict[str, Any]:
    return {"type": "Compose", "inputs": value, "runAfter": run_after or {}}


def run_actions(actions: dict[str, Any], **kwargs: Any):
    return run(definition(actions), trigger=TriggerInput(), clock=VirtualClock(), **kwargs)


def statuses(result: Any, *names: str) -> list[str]:
    return [result.action(name).status for name in names]


def test_default_runs_after_succeeded_and_skips_after_failure() -> None:
    result = run_actions({"A": {**FAIL, "runAfter": {}}, "B": step({"A": ["Succeeded"]}), "C": step({"B": []})})
    assert statuses(result, "A", "B", "C") == ["Failed", "Skipped", "Skipped"]
    assert result.status == "Failed"
    assert result.error_code == "ActionFailed"


def test_handler_running_after_failed_makes_the_run_succeed() -> None:
    result = run_actions({"A": {**FAIL, "runAfter": {}}, "Handle": step({"A": ["Failed"]})})
    assert statuses(result, "A", "Handle") == ["Failed", "Succeeded"]
    assert result.status == "Succeeded"


def test_handler_not_needed_is_skipped_and_the_branch_status_comes_from_its_predecessor() -> None:
    result = run_actions({"A": step(), "Handle": step({"A": ["Failed"]})})
    assert statuses(result, "A", "Handle") == ["Succeeded", "Skipped"]
    assert result.status == "Succeeded"


def test_skipped_is_accepted_when_listed() -> None:
    result = run_actions({"A": {**FAIL, "runAfter": {}}, "B": step({"A": ["Succeeded"]}),
                          "Always": step({"B": ["Succeeded", "Skipped", "Failed", "TimedOut"]})})
    assert statuses(result, "B", "Always") == ["Skipped", "Succeeded"]
    assert result.status == "Succeeded"


def test_timed_out_status_can_be_handled() -> None:
    clock = VirtualClock()
    server = FakeServer(clock, latency=5).reply("http://api/", ok())
    result = run(definition({
        "Slow": {"type": "Http", "inputs": {"method": "GET", "uri": "http://api/x", "retryPolicy": {"type": "none"}},
                 "limit": {"timeout": "PT2S"}, "runAfter": {}},
        "OnTimeout": step({"Slow": ["TimedOut"]}),
        "OnFailure": step({"Slow": ["Failed"]}),
    }), trigger=TriggerInput(), http=server, clock=clock)
    only_handler = run(definition({
        "Slow": {"type": "Http", "inputs": {"method": "GET", "uri": "http://api/x", "retryPolicy": {"type": "none"}},
                 "limit": {"timeout": "PT2S"}, "runAfter": {}},
        "OnTimeout": step({"Slow": ["TimedOut"]}),
    }), trigger=TriggerInput(), http=server, clock=clock)
    assert only_handler.status == "Succeeded"
    assert statuses(result, "Slow", "OnTimeout", "OnFailure") == ["TimedOut", "Succeeded", "Skipped"]
    # The documented rule: the OnFailure branch ends Skipped, so it takes Slow's status (TimedOut),
    # and any branch ending in failure fails the run.
    assert result.status == "Failed"


def test_all_predecessors_must_match() -> None:
    result = run_actions({"A": step(), "B": {**FAIL, "runAfter": {}},
                          "Join": step({"A": ["Succeeded"], "B": ["Succeeded"]}),
                          "JoinAny": step({"A": ["Succeeded"], "B": ["Failed"]})})
    assert statuses(result, "Join", "JoinAny") == ["Skipped", "Succeeded"]
    # Join was skipped because B failed: that branch ends failed.
    assert result.status == "Failed"


def test_parallel_branches_fail_the_run_if_any_ends_failed() -> None:
    result = run_actions({"Left": step(), "Right": {**FAIL, "runAfter": {}}})
    assert result.status == "Failed"


def test_parallel_branches_start_together_on_the_virtual_clock() -> None:
    clock = VirtualClock()
    server = FakeServer(clock, latency=3).reply("http://api/", ok())
    call = {"type": "Http", "inputs": {"method": "GET", "uri": "http://api/x"}}
    result = run(definition({"A": {**call, "runAfter": {}}, "B": {**call, "runAfter": {}},
                             "After": step({"A": ["Succeeded"], "B": ["Succeeded"]})}),
                 trigger=TriggerInput(), http=server, clock=clock)
    assert result.action("A").start == result.action("B").start
    assert (result.action("After").start - result.started).total_seconds() == 3


def test_status_names_are_case_insensitive_and_empty_list_means_succeeded() -> None:
    result = run_actions({"A": {**FAIL, "runAfter": {}}, "B": step({"A": ["failed"]}), "C": step({"B": []})})
    assert statuses(result, "B", "C") == ["Succeeded", "Succeeded"]


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        ({"A": step({"Ghost": ["Succeeded"]})}, "runAfter names 'Ghost'"),
        ({"A": step({"B": []}), "B": step({"A": []})}, "cycle"),
        ({"A": step({"B": ["Sometimes"]}), "B": step()}, "unknown status"),
    ],
)
def test_bad_run_after_is_a_definition_error(actions: dict[str, Any], message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        run_actions(actions)


def test_failed_http_outputs_are_visible_to_the_handler() -> None:
    clock = VirtualClock()
    server = FakeServer(clock).reply("http://api/", HttpResponse(404, {}, {"message": "no such order"}))
    result = run(definition({
        "Get": {"type": "Http", "inputs": {"method": "GET", "uri": "http://api/o/1"}, "runAfter": {}},
        "Why": step({"Get": ["Failed"]}, "@{outputs('Get')['statusCode']}: @{body('Get')['message']}"),
        "Status": step({"Get": ["Failed"]}, "@actions('Get')['status']"),
    }), trigger=TriggerInput(), http=server, clock=clock)
    assert result.action("Why").outputs == "404: no such order"
    assert result.action("Status").outputs == "Failed"
