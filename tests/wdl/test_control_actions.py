"""If, Switch, Foreach, Until, Scope and Terminate."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from orderbridge.wdl import DefinitionError, TriggerInput, VirtualClock, run

from tests.wdl.helpers import FakeServer, definition, ok


def compose(value: Any, run_after: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"type": "Compose", "inputs": value, "runAfter": run_after or {}}


def run_body(actions: dict[str, Any], body: Any = None, **kwargs: Any):
    return run(definition(actions), trigger=TriggerInput(body=body), clock=kwargs.pop("clock", VirtualClock()),
               **kwargs)


@pytest.mark.parametrize(("total", "taken", "skipped"), [(150, "Big", "Small"), (50, "Small", "Big")])
def test_if_runs_one_branch_and_skips_the_other(total: int, taken: str, skipped: str) -> None:
    result = run_body({"Check": {
        "type": "If", "expression": "@greater(triggerBody()['total'], 100)",
        "actions": {"Big": compose("big")}, "else": {"actions": {"Small": compose("small")}}, "runAfter": {}}},
        body={"total": total})
    assert result.action(taken).status == "Succeeded"
    assert result.action(skipped).status == "Skipped"
    assert result.action("Check").inputs == {"expressionResult": total > 100}


def test_if_accepts_the_designer_condition_object() -> None:
    expression = {"and": [{"equals": ["@triggerBody()['kind']", "web"]},
                          {"not": {"equals": ["@triggerBody()['total']", 0]}},
                          {"or": [{"greater": [1, 2]}, {"less": [1, 2]}]}]}
    result = run_body({"Check": {"type": "If", "expression": expression,
                                 "actions": {"Yes": compose(1)}, "runAfter": {}}},
                      body={"kind": "web", "total": 5})
    assert result.action("Yes").status == "Succeeded"


def test_if_with_a_non_boolean_expression_fails_with_a_reason() -> None:
    result = run_body({"Check": {"type": "If", "expression": "@triggerBody()", "actions": {}, "runAfter": {}}},
                      body={"a": 1})
    check = result.action("Check")
    assert check.status == "Failed" and "must be a boolean" in check.error_message


def test_if_fails_when_its_branch_fails() -> None:
    result = run_body({"Check": {"type": "If", "expression": "@true",
                                 "actions": {"Boom": compose("@div(1, 0)")}, "runAfter": {}}})
    assert result.action("Boom").status == "Failed"
    assert result.action("Check").status == "Failed"
    assert result.status == "Failed"


@pytest.mark.parametrize(("kind", "ran"), [("web", "Web"), (2, "Two"), ("other", "Fallback")])
def test_switch_runs_the_matching_case_or_default(kind: Any, ran: str) -> None:
    result = run_body({"Route": {
        "type": "Switch", "expression": "@triggerBody()['kind']",
        "cases": {"Case_web": {"case": "web", "actions": {"Web": compose(1)}},
                  "Case_two": {"case": 2, "actions": {"Two": compose(2)}}},
        "default": {"actions": {"Fallback": compose(3)}}, "runAfter": {}}}, body={"kind": kind})
    statuses = {name: result.action(name).status for name in ("Web", "Two", "Fallback")}
    assert statuses == {name: ("Succeeded" if name == ran else "Skipped") for name in statuses}


def foreach_workflow(**options: Any) -> dict[str, Any]:
    return {"Each": {"type": "Foreach", "foreach": "@triggerBody()", "runAfter": {},
                     "actions": {"Call": {"type": "Http", "inputs": {"method": "POST", "uri": "http://api/x",
                                                                     "body": "@item()"}}}, **options}}


def test_foreach_runs_iterations_in_parallel_by_default_with_degree_20() -> None:
    clock = VirtualClock()
    server = FakeServer(clock, latency=10).reply("http://api/", ok())
    result = run_body(foreach_workflow(), body=list(range(25)), http=server, clock=clock)
    calls = result.records("Call")
    assert [c.iteration for c in calls] == [(i,) for i in range(25)]
    # 20 run at once from t=0; the 5 others start when slots free up at t=10.
    assert [int((c.start - result.started).total_seconds()) for c in calls] == [0] * 20 + [10] * 5
    each = result.action("Each")
    assert (each.end - each.start).total_seconds() == 20
    assert [r.body for r in server.requests] == list(range(25))


@pytest.mark.parametrize("options", [{"operationOptions": "Sequential"},
                                     {"runtimeConfiguration": {"concurrency": {"repetitions": 1}}}])
def test_foreach_sequential_runs_one_iteration_at_a_time(options: dict[str, Any]) -> None:
    clock = VirtualClock()
    server = FakeServer(clock, latency=10).reply("http://api/", ok())
    result = run_body(foreach_workflow(**options), body=[1, 2, 3], http=server, clock=clock)
    assert [int((c.start - result.started).total_seconds()) for c in result.records("Call")] == [0, 10, 20]


def test_foreach_repetitions_set_the_degree() -> None:
    clock = VirtualClock()
    server = FakeServer(clock, latency=10).reply("http://api/", ok())
    result = run_body(foreach_workflow(runtimeConfiguration={"concurrency": {"repetitions": 2}}),
                      body=[1, 2, 3, 4, 5], http=server, clock=clock)
    assert [int((c.start - result.started).total_seconds()) for c in result.records("Call")] == [0, 0, 10, 10, 20]


def test_foreach_repetitions_out_of_range_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError, match="repetitions must be 1..50"):
        run_body(foreach_workflow(runtimeConfiguration={"concurrency": {"repetitions": 51}}), body=[1])


def test_foreach_fails_when_an_iteration_fails_and_others_still_run() -> None:
    result = run_body({"Each": {"type": "Foreach", "foreach": "@triggerBody()", "runAfter": {},
                                "actions": {"Invert": compose("@div(1, item())")}}}, body=[1, 0, 2])
    assert [r.status for r in result.records("Invert")] == ["Succeeded", "Failed", "Succeeded"]
    assert result.action("Each").status == "Failed"


def test_foreach_over_a_non_array_fails() -> None:
    result = run_body(foreach_workflow(), body={"not": "array"})
    assert result.action("Each").status == "Failed"
    assert "must give an array" in result.action("Each").error_message


def test_nested_foreach_items_and_iteration_tuples() -> None:
    result = run_body({"Outer": {"type": "Foreach", "foreach": "@triggerBody()", "runAfter": {},
                                 "actions": {"Inner": {"type": "Foreach", "foreach": "@items('Outer')",
                                                       "actions": {"Pair": compose("@{items('Outer')}/@{item()}")}}}}},
                      body=[["a", "b"], ["c"]])
    pairs = result.records("Pair")
    assert [(p.iteration, p.outputs) for p in pairs] == [((0, 0), '["a","b"]/a'), ((0, 1), '["a","b"]/b'),
                                                          ((1, 0), '["c"]/c')]


def test_until_repeats_until_the_condition_with_delays_on_the_clock() -> None:
    clock = VirtualClock()
    actions = {
        "Init": {"type": "InitializeVariable", "inputs": {"variables": [{"name": "n", "type": "integer", "value": 0}]},
                 "runAfter": {}},
        "Poll": {"type": "Until", "expression": "@greaterOrEquals(variables('n'), 3)",
                 "limit": {"count": 10, "timeout": "PT1H"}, "runAfter": {"Init": ["Succeeded"]},
                 "actions": {"Bump": {"type": "IncrementVariable", "inputs": {"name": "n", "value": 1}},
                             "Wait": {"type": "Wait", "inputs": {"interval": {"count": 30, "unit": "Second"}},
                                      "runAfter": {"Bump": ["Succeeded"]}},
                             "Index": compose("@iterationIndexes('Poll')", {"Wait": ["Succeeded"]})}},
    }
    result = run_body(actions, clock=clock)
    assert [r.outputs for r in result.records("Index")] == [0, 1, 2]
    poll = result.action("Poll")
    assert poll.status == "Succeeded"
    assert (poll.end - poll.start).total_seconds() == 90


@pytest.mark.parametrize("expression", [
    {"equals": [{"length": ["a"]}, 1]},
    {"and": [{"greater": [{"add": [{"length": ["@triggerBody()['code']"]}, 1]}, 2]}]},
])
def test_a_designer_condition_evaluates_operands_that_are_functions(expression: dict[str, Any]) -> None:
    result = run_body({"Check": {"type": "If", "expression": expression, "runAfter": {},
                                 "actions": {"Yes": compose(1)}, "else": {"actions": {"No": compose(2)}}}},
                      body={"code": "ab"})
    assert [(r.name, r.status) for r in result.all_records] == [("No", "Skipped"), ("Yes", "Succeeded"),
                                                               ("Check", "Succeeded")]


def test_until_stops_at_its_count_limit() -> None:
    result = run_body({"Poll": {"type": "Until", "expression": "@false", "limit": {"count": 4}, "runAfter": {},
                                "actions": {"Tick": compose(1)}}})
    assert len(result.records("Tick")) == 4


def test_until_limits_may_come_from_workflow_parameters() -> None:
    loop = definition({"Poll": {"type": "Until", "expression": "@false", "runAfter": {},
                                "limit": {"count": "@parameters('attempts')", "timeout": "@parameters('budget')"},
                                "actions": {"Tick": compose(1)}}},
                      parameters={"attempts": {"type": "Int", "defaultValue": 3},
                                  "budget": {"type": "String", "defaultValue": "PT1H"}})
    result = run(loop, trigger=TriggerInput(), clock=VirtualClock())
    assert (result.status, len(result.records("Tick"))) == ("Succeeded", 3)


@pytest.mark.parametrize(("timestamp", "waited"), [
    ("2030-01-01T00:10:00Z", timedelta(minutes=10)),
    ("2030-01-01T02:10:00+02:00", timedelta(minutes=10)),
    ("2029-12-31T23:00:00Z", timedelta(0)),
])
def test_delay_until_waits_for_the_utc_timestamp(timestamp: str, waited: timedelta) -> None:
    clock = VirtualClock(datetime(2030, 1, 1, tzinfo=timezone.utc))
    result = run_body({"Delay_until": {"type": "Wait", "inputs": {"until": {"timestamp": timestamp}}, "runAfter": {}}},
                      clock=clock)
    delay = result.action("Delay_until")
    assert (result.status, delay.status, delay.end - delay.start) == ("Succeeded", "Succeeded", waited)


def test_a_wait_with_both_interval_and_until_is_refused() -> None:
    with pytest.raises(DefinitionError, match="inputs.interval .* or inputs.until .*, not both"):
        run_body({"Delay": {"type": "Wait", "runAfter": {}, "inputs": {
            "interval": {"count": 1, "unit": "Minute"}, "until": {"timestamp": "2030-01-01T00:00:00Z"}}}})


def test_until_times_out() -> None:
    result = run_body({"Poll": {"type": "Until", "expression": "@false", "limit": {"count": 100, "timeout": "PT2M"},
                                "runAfter": {}, "actions": {"Wait": {"type": "Wait", "inputs": {
                                    "interval": {"count": 1, "unit": "Minute"}}}}}})
    assert result.action("Poll").status == "TimedOut"
    assert len(result.records("Wait")) == 2
    assert result.status == "Failed"


def test_scope_status_follows_its_actions_and_result_lists_them() -> None:
    result = run_body({
        "Try": {"type": "Scope", "runAfter": {}, "actions": {
            "Good": compose(1), "Bad": compose("@div(1, 0)", {"Good": ["Succeeded"]})}},
        "Catch": compose("@result('Try')", {"Try": ["Failed"]}),
    })
    assert result.action("Try").status == "Failed"
    assert [(r["name"], r["status"]) for r in result.action("Catch").outputs] == [("Good", "Succeeded"),
                                                                                  ("Bad", "Failed")]
    # The failure is handled by Catch, which succeeded: the run succeeds.
    assert result.status == "Succeeded"


@pytest.mark.parametrize("status", ["Failed", "Cancelled", "Succeeded"])
def test_terminate_ends_the_run_with_its_status_and_error(status: str) -> None:
    result = run_body({
        "Stop": {"type": "Terminate", "inputs": {"runStatus": status,
                                                 "runError": {"code": "Stopped", "message": "by design"}},
                 "runAfter": {}},
        "After": compose(1, {"Stop": ["Succeeded"]}),
    })
    assert result.status == status
    assert result.action("Stop").status == "Succeeded"
    assert result.records("After") == []
    if status != "Succeeded":
        assert (result.error_code, result.error_message) == ("Stopped", "by design")


def test_terminate_inside_a_loop_stops_the_remaining_iterations() -> None:
    result = run_body({"Each": {"type": "Foreach", "foreach": "@triggerBody()", "operationOptions": "Sequential",
                                "runAfter": {}, "actions": {
                                    "Check": {"type": "If", "expression": "@equals(item(), 2)", "actions": {
                                        "Stop": {"type": "Terminate", "inputs": {"runStatus": "Cancelled"}}}}}}},
                      body=[1, 2, 3, 4])
    assert result.status == "Cancelled"
    assert len(result.records("Check")) == 2


def test_foreach_with_the_real_clock_runs_iterations_on_threads_and_keeps_records_ordered() -> None:
    import threading
    import time

    from orderbridge.wdl import HttpRequest, HttpResponse, SystemClock

    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def slow(request: HttpRequest) -> HttpResponse:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.05)
        with lock:
            in_flight -= 1
        return ok(request.body)

    result = run_body(foreach_workflow(runtimeConfiguration={"concurrency": {"repetitions": 4}}),
                      body=list(range(8)), http=slow, clock=SystemClock())
    assert peak == 4
    assert [r.outputs["body"] for r in result.records("Call")] == list(range(8))
    assert [r.iteration for r in result.records("Call")] == [(i,) for i in range(8)]


def test_loop_limits_are_enforced() -> None:
    too_many = run_body({"Each": {"type": "Foreach", "foreach": "@triggerBody()", "runAfter": {},
                                  "actions": {}}}, body=[0] * 100_001).action("Each")
    assert too_many.status == "Failed" and "at most 100000" in too_many.error_message
    with pytest.raises(DefinitionError, match="Until limit.count must be 1..5000"):
        run_body({"Poll": {"type": "Until", "expression": "@true", "limit": {"count": 5001}, "runAfter": {},
                           "actions": {}}})


def test_encode_uri_component_with_extra_arguments_fails_only_its_action() -> None:
    result = run_body({"Encode": compose("@encodeURIComponent('a b', 'c')"), "Plain": compose("@uriComponent('a b')")})
    encode = result.action("Encode")
    assert (encode.status, encode.error_code) == ("Failed", "InvalidTemplate")
    assert "what it does with the other arguments is not documented" in (encode.error_message or "")
    assert result.action("Plain").outputs == "a%20b"
