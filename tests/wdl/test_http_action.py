"""Http action: the request sent, authentication recorded, retry policies and limit.timeout."""
from __future__ import annotations

from typing import Any

import pytest

from orderbridge.wdl import (
    DefinitionError,
    HttpResponse,
    TransportError,
    TriggerInput,
    VirtualClock,
    run,
)

from tests.wdl.helpers import FakeServer, definition, ok


def http_workflow(inputs: dict[str, Any], **action: Any) -> dict[str, Any]:
    return definition({"Call": {"type": "Http", "inputs": {"method": "GET", "uri": "http://api/x", **inputs},
                                "runAfter": {}, **action}})


def run_call(workflow: dict[str, Any], server: FakeServer, clock: VirtualClock, **kwargs: Any):
    return run(workflow, trigger=TriggerInput(body={"id": "7"}), http=server, clock=clock,
               jitter=lambda low, high: high, **kwargs)


def test_request_has_method_url_with_queries_headers_body_and_authentication() -> None:
    clock = VirtualClock()
    server = FakeServer(clock).reply("http://api/", ok({"done": True}))
    auth = {"type": "ManagedServiceIdentity", "audience": "https://servicebus.azure.net"}
    workflow = http_workflow({
        "method": "post", "uri": "http://api/orders?x=1",
        "queries": {"api-version": "2021-05", "n": "@triggerBody()['id']"},
        "headers": {"BrokerProperties": "@{json('{\"MessageId\":\"m\"}')}", "Count": 3},
        "body": {"id": "@triggerBody()['id']"},
        "authentication": auth,
    })
    result = run_call(workflow, server, clock)
    sent = server.requests[0]
    assert (sent.method, sent.url) == ("POST", "http://api/orders?x=1&api-version=2021-05&n=7")
    assert sent.headers == {"BrokerProperties": '{"MessageId":"m"}', "Count": "3"}
    assert sent.body == {"id": "7"}
    assert sent.authentication == auth
    call = result.action("Call")
    assert call.inputs["authentication"] == auth
    assert call.outputs == {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": {"done": True}}


def test_basic_authentication_password_is_sent_but_never_recorded() -> None:
    clock = VirtualClock()
    server = FakeServer(clock).reply("http://api/", ok())
    auth = {"type": "Basic", "username": "u", "password": "s3cret"}
    result = run_call(http_workflow({"authentication": auth}), server, clock)
    assert server.requests[0].authentication == auth
    assert "s3cret" not in repr(result.action("Call").inputs)


def test_default_policy_retries_four_times_with_exponential_waits_capped_at_45_seconds() -> None:
    clock = VirtualClock()
    server = FakeServer(clock).reply("http://api/", HttpResponse(503))
    call = run_call(http_workflow({}), server, clock).action("Call")
    assert len(call.attempts) == 5
    waits = [(b.start - a.end).total_seconds() for a, b in zip(call.attempts, call.attempts[1:])]
    # jitter picks the top of each range: min(7.5 * 2^(n-1), 45)
    assert waits == [7.5, 15.0, 30.0, 45.0]
    assert (call.status, call.error_code) == ("Failed", "ServiceUnavailable")


def test_exponential_waits_respect_minimum_and_maximum_intervals() -> None:
    clock = VirtualClock()
    server = FakeServer(clock).reply("http://api/", HttpResponse(500))
    policy = {"type": "exponential", "count": 3, "interval": "PT10S", "minimumInterval": "PT15S",
              "maximumInterval": "PT25S"}
    lows: list[float] = []

    def lowest(low: float, high: float) -> float:
        lows.append(low)
        return low

    result = run(http_workflow({"retryPolicy": policy}), trigger=TriggerInput(), http=server, clock=clock,
                 jitter=lowest)
    call = result.action("Call")
    # retry 1: [max(0,15), min(10,25)] -> 15; retry 2: [max(10,15), 20] -> 15; retry 3: [max(20,15), 25] -> 20
    assert lows == [15.0, 15.0, 20.0]
    assert len(call.attempts) == 4


def test_fixed_policy_waits_the_interval() -> None:
    clock = VirtualClock()
    server = FakeServer(clock).reply("http://api/", HttpResponse(429), HttpResponse(408), ok())
    call = run_call(http_workflow({"retryPolicy": {"type": "fixed", "count": 2, "interval": "PT20S"}}),
                    server, clock).action("Call")
    assert call.status == "Succeeded"
    assert [a.status_code for a in call.attempts] == [429, 408, 200]
    assert (call.end - call.start).total_seconds() == 40


def test_none_policy_sends_once() -> None:
    clock = VirtualClock()
    server = FakeServer(clock).reply("http://api/", HttpResponse(503))
    call = run_call(http_workflow({"retryPolicy": {"type": "none"}}), server, clock).action("Call")
    assert len(call.attempts) == 1 and call.status == "Failed"


@pytest.mark.parametrize("status", [400, 401, 404, 409])
def test_client_errors_are_not_retried(status: int) -> None:
    clock = VirtualClock()
    server = FakeServer(clock).reply("http://api/", HttpResponse(status, {}, {"error": "no"}))
    call = run_call(http_workflow({}), server, clock).action("Call")
    assert len(server.requests) == 1
    assert call.status == "Failed"
    assert call.outputs["body"] == {"error": "no"}


def test_connection_failures_are_retried() -> None:
    clock = VirtualClock()
    server = FakeServer(clock).reply("http://api/", TransportError("refused"), ok())
    call = run_call(http_workflow({"retryPolicy": {"type": "fixed", "count": 1, "interval": "PT5S"}}),
                    server, clock).action("Call")
    assert call.status == "Succeeded"
    assert call.attempts[0].error is not None and "refused" in call.attempts[0].error


@pytest.mark.parametrize(
    "policy",
    [
        {"type": "fixed", "count": 91, "interval": "PT10S"},
        {"type": "fixed", "count": 2, "interval": "PT1S"},
        {"type": "fixed", "count": 2},
        {"type": "sometimes"},
        {"type": "exponential", "count": 2, "interval": "PT10S", "minimumInterval": "PT1M", "maximumInterval": "PT30S"},
    ],
)
def test_invalid_retry_policies_are_definition_errors(policy: dict[str, Any]) -> None:
    clock = VirtualClock()
    with pytest.raises(DefinitionError, match="retryPolicy"):
        run_call(http_workflow({"retryPolicy": policy}), FakeServer(clock).reply("http://", ok()), clock)


def test_limit_timeout_bounds_the_whole_action_including_retries() -> None:
    clock = VirtualClock()
    server = FakeServer(clock, latency=4).reply("http://api/", HttpResponse(503))
    workflow = http_workflow({"retryPolicy": {"type": "fixed", "count": 10, "interval": "PT5S"}},
                             limit={"timeout": "PT20S"})
    call = run_call(workflow, server, clock).action("Call")
    assert call.status == "TimedOut"
    assert call.error_code == "ActionTimedOut"
    assert (call.end - call.start).total_seconds() == 20
    # attempts at 0, 9, 18 s; the third is cut to the 2 s left of the budget
    assert [a.start.second for a in call.attempts] == [0, 9, 18]
    assert server.requests[-1].timeout == 2


def test_each_attempt_is_offered_the_remaining_budget_and_a_slow_answer_is_a_timeout() -> None:
    clock = VirtualClock()
    server = FakeServer(clock, latency=30).reply("http://api/", ok())
    workflow = http_workflow({"retryPolicy": {"type": "none"}}, limit={"timeout": "PT10S"})
    call = run_call(workflow, server, clock).action("Call")
    assert server.requests[0].timeout == 10
    assert call.status == "TimedOut"


def test_without_limit_each_attempt_gets_the_120_second_outbound_limit() -> None:
    clock = VirtualClock()
    server = FakeServer(clock, latency=121).reply("http://api/", ok())
    call = run_call(http_workflow({"retryPolicy": {"type": "fixed", "count": 1, "interval": "PT5S"}}),
                    server, clock).action("Call")
    assert [r.timeout for r in server.requests] == [120, 120]
    assert call.status == "Failed" and call.error_code == "RequestTimeout"


def test_an_expression_error_in_inputs_fails_the_action_with_invalid_template() -> None:
    clock = VirtualClock()
    workflow = http_workflow({"uri": "@{triggerBody()['missing']}"})
    call = run_call(workflow, FakeServer(clock), clock).action("Call")
    assert call.status == "Failed"
    assert call.error_code == "InvalidTemplate"
    assert "actions.Call" in call.error_message and "triggerBody()['missing']" in call.error_message


def test_accepted_with_location_is_polled_until_done_honouring_retry_after() -> None:
    clock = VirtualClock()
    server = FakeServer(clock).reply("http://api/jobs", HttpResponse(202, {"Location": "http://api/status/1",
                                                                             "Retry-After": "5"}))
    server.reply("http://api/status/", HttpResponse(202, {"Location": "http://api/status/1"}),
                 ok({"done": True}))
    result = run_call(http_workflow({"method": "POST", "uri": "http://api/jobs"}), server, clock)
    call = result.action("Call")
    assert call.status == "Succeeded" and call.outputs["body"] == {"done": True}
    assert server.urls() == ["POST http://api/jobs", "GET http://api/status/1", "GET http://api/status/1"]
    # 5 s from Retry-After, then the default 20 s between polls.
    assert [int((a.start - call.start).total_seconds()) for a in call.attempts] == [0, 5, 25]
    assert [a.poll for a in call.attempts] == [False, True, True]
    assert result.billing.builtin_actions == 1 and result.billing.retries == 0


def test_async_pattern_can_be_disabled_and_is_bounded_by_limit_timeout() -> None:
    clock = VirtualClock()
    accepted = HttpResponse(202, {"Location": "http://api/status/1"})
    server = FakeServer(clock).reply("http://api/", accepted)
    disabled = run_call(http_workflow({}, operationOptions="DisableAsyncPattern"), server, clock).action("Call")
    assert disabled.status == "Succeeded" and disabled.outputs["statusCode"] == 202
    bounded = run_call(http_workflow({}, limit={"timeout": "PT1M"}), server, clock).action("Call")
    assert bounded.status == "TimedOut"
    assert (bounded.end - bounded.start).total_seconds() == 60


SLOW_GET_WITH_LIMIT = {"Get": {"type": "Http", "runAfter": {}, "limit": {"timeout": "PT8S"}, "inputs": {
    "method": "GET", "uri": "http://api/slow", "retryPolicy": {"type": "fixed", "count": 1, "interval": "PT5S"}}}}


@pytest.mark.parametrize(("reading", "status", "allowances", "seconds"), [
    ("action", "TimedOut", [8.0], 8.0),  # one attempt uses the whole 8 s, no room for the retry
    ("attempt", "Failed", [8.0, 8.0], 21.0),  # 8 s, wait 5 s, 8 s: each attempt timed out
    ("async-only", "Succeeded", [120.0], 10.0),  # a synchronous request is not interrupted
])
def test_the_limit_timeout_reading_is_a_run_option(reading: str, status: str, allowances: list[float],
                                                    seconds: float) -> None:
    """The docs leave open how limit.timeout applies to a synchronous request (see _retry)."""
    clock = VirtualClock()
    server = FakeServer(clock, latency=10.0).reply("http://api/", ok({"done": True}))

    result = run(definition(SLOW_GET_WITH_LIMIT), trigger=TriggerInput(), http=server, clock=clock,
                 limit_timeout_reading=reading)

    get = result.action("Get")
    assert get.status == status
    assert [request.timeout for request in server.requests] == allowances
    assert (get.end - get.start).total_seconds() == seconds


def test_an_unknown_limit_timeout_reading_is_refused() -> None:
    with pytest.raises(DefinitionError, match="limit_timeout_reading must be one of"):
        run(definition(SLOW_GET_WITH_LIMIT), trigger=TriggerInput(), clock=VirtualClock(),
            limit_timeout_reading="per-request")
