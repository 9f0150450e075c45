"""Billable executions as the Consumption metering documentation counts them."""
from __future__ import annotations

from typing import Any

from orderbridge.wdl import HttpRequest, HttpResponse, TriggerInput, VirtualClock, run

from tests.wdl.helpers import FakeServer, definition, ok


def compose(run_after: dict[str, list[str]] | None = None, value: Any = 1) -> dict[str, Any]:
    return {"type": "Compose", "inputs": value, "runAfter": run_after or {}}


def test_documented_loop_example_ten_items_one_action_is_eleven_plus_the_trigger() -> None:
    result = run(definition({"Each": {"type": "Foreach", "foreach": "@triggerBody()", "runAfter": {},
                                      "actions": {"Work": compose()}}}),
                 trigger=TriggerInput(body=list(range(10))), clock=VirtualClock())
    assert (result.billing.trigger, result.billing.builtin_actions) == (1, 11)
    assert result.billing.total == 12


def test_skipped_actions_and_actions_after_terminate_are_not_metered() -> None:
    result = run(definition({
        "Check": {"type": "If", "expression": "@false", "runAfter": {},
                  "actions": {"Not_taken": compose()}, "else": {"actions": {"Taken": compose()}}},
        "Skipped": compose({"Check": ["Failed"]}),
        "Stop": {"type": "Terminate", "inputs": {"runStatus": "Succeeded"}, "runAfter": {"Check": []}},
        "Never": compose({"Stop": []}),
    }), trigger=TriggerInput(), clock=VirtualClock())
    # trigger + If + Taken + Terminate
    assert result.billing.total == 4


def test_failed_actions_and_each_retry_are_metered() -> None:
    clock = VirtualClock()
    server = FakeServer(clock).reply("http://api/", HttpResponse(500))
    result = run(definition({"Call": {"type": "Http", "runAfter": {}, "inputs": {
        "method": "GET", "uri": "http://api/x", "retryPolicy": {"type": "fixed", "count": 2, "interval": "PT5S"}}}}),
        trigger=TriggerInput(), http=server, clock=clock)
    assert result.action("Call").status == "Failed"
    assert (result.billing.builtin_actions, result.billing.retries, result.billing.total) == (3, 2, 4)


def test_connector_calls_are_counted_apart_from_built_in_actions() -> None:
    sent: list[HttpRequest] = []

    def service_bus(request: HttpRequest) -> HttpResponse:
        sent.append(request)
        return ok({"sent": True})

    result = run(definition({
        "Send": {"type": "ApiConnection", "runAfter": {}, "inputs": {
            "host": {"connection": {"name": "@parameters('$connections')['servicebus']['connectionId']"}},
            "method": "post", "path": "/@{encodeURIComponent('online-orders')}/messages",
            "queries": {"systemProperties": "None"}, "body": {"ContentData": "@{base64('hi')}"}}},
        "After": compose({"Send": []}, "@body('Send')"),
    }, parameters={"$connections": {"type": "Object"}}),
        trigger=TriggerInput(), clock=VirtualClock(),
        parameters={"$connections": {"servicebus": {"connectionId": "/connections/servicebus"}}},
        connectors={"/connections/servicebus": service_bus})
    assert (sent[0].method, sent[0].url) == ("POST", "/online-orders/messages?systemProperties=None")
    assert sent[0].body == {"ContentData": "aGk="}
    assert result.action("After").outputs == {"sent": True}
    assert (result.billing.connector_actions, result.billing.builtin_actions, result.billing.total) == (1, 1, 3)
