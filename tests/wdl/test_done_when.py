"""The issue's acceptance workflow: Request trigger, Http with retries, If, Foreach and Response."""
from __future__ import annotations

from orderbridge.wdl import HttpResponse, TriggerInput, VirtualClock, run

from tests.wdl.helpers import FakeServer, definition, ok

WORKFLOW = definition(
    {
        "Get_order": {
            "type": "Http",
            "inputs": {
                "method": "GET",
                "uri": "@{parameters('sourceBaseUrl')}/orders/@{triggerBody()?['orderId']}",
                "headers": {"X-Api-Key": "@parameters('sourceApiKey')"},
                "retryPolicy": {"type": "fixed", "count": 3, "interval": "PT10S"},
            },
            "runAfter": {},
        },
        "Has_lines": {
            "type": "If",
            "expression": "@greater(length(body('Get_order')?['lines']), 0)",
            "actions": {
                "For_each_line": {
                    "type": "Foreach",
                    "foreach": "@body('Get_order')['lines']",
                    "actions": {
                        "Reserve_line": {
                            "type": "Http",
                            "inputs": {
                                "method": "POST",
                                "uri": "@{parameters('sourceBaseUrl')}/reservations",
                                "body": {"sku": "@item()['sku']", "order": "@triggerBody()?['orderId']"},
                            },
                        }
                    },
                }
            },
            "else": {"actions": {"Note_empty": {"type": "Compose", "inputs": "empty order"}}},
            "runAfter": {"Get_order": ["Succeeded"]},
        },
        "Respond": {
            "type": "Response",
            "kind": "Http",
            "inputs": {"statusCode": 200, "body": {"reserved": "@length(body('Get_order')['lines'])"}},
            "runAfter": {"Has_lines": ["Succeeded"]},
        },
    },
    parameters={"sourceBaseUrl": {"type": "String"}, "sourceApiKey": {"type": "SecureString"}},
)


def test_acceptance_workflow_runs_with_azure_statuses_requests_response_and_billing() -> None:
    clock = VirtualClock()
    server = FakeServer(clock, latency=0.5)
    server.reply("http://ecp/orders/", HttpResponse(503), HttpResponse(502),
                 ok({"lines": [{"sku": "A"}, {"sku": "B"}]}))
    server.reply("http://ecp/reservations", ok({"reserved": True}, status=201))

    result = run(WORKFLOW, trigger=TriggerInput(body={"orderId": "O-1"}),
                 parameters={"sourceBaseUrl": "http://ecp", "sourceApiKey": "k-123"}, http=server, clock=clock)

    assert result.status == "Succeeded"
    get = result.action("Get_order")
    assert get.status == "Succeeded"
    assert [a.status_code for a in get.attempts] == [503, 502, 200]
    # Fixed interval: 10 s between attempts, each attempt 0.5 s on the virtual clock.
    assert (get.end - get.start).total_seconds() == 3 * 0.5 + 2 * 10
    assert server.urls()[:3] == ["GET http://ecp/orders/O-1"] * 3
    assert server.requests[0].headers == {"X-Api-Key": "k-123"}
    assert [r.body for r in server.requests[3:]] == [{"sku": "A", "order": "O-1"}, {"sku": "B", "order": "O-1"}]
    assert [r.status for r in result.records("Reserve_line")] == ["Succeeded", "Succeeded"]
    assert [r.iteration for r in result.records("Reserve_line")] == [(0,), (1,)]
    assert result.action("Note_empty").status == "Skipped"
    assert result.action("Has_lines").status == "Succeeded"
    assert result.response is not None
    assert (result.response.status_code, result.response.body) == (200, {"reserved": 2})
    # Trigger 1 + Get_order 3 executions (2 retries) + If 1 + Foreach 1 + 2 iterations + Response 1;
    # the skipped Compose is not metered.
    assert result.billing.trigger == 1
    assert result.billing.retries == 2
    assert result.billing.total == 1 + 3 + 1 + 1 + 2 + 1


def test_acceptance_workflow_fails_when_retries_are_exhausted_and_skips_the_rest() -> None:
    clock = VirtualClock()
    server = FakeServer(clock).reply("http://ecp/orders/", HttpResponse(500, {}, {"error": "down"}))

    result = run(WORKFLOW, trigger=TriggerInput(body={"orderId": "O-2"}),
                 parameters={"sourceBaseUrl": "http://ecp", "sourceApiKey": "k"}, http=server, clock=clock)

    assert result.status == "Failed"
    get = result.action("Get_order")
    assert (get.status, get.error_code, len(get.attempts)) == ("Failed", "InternalServerError", 4)
    assert get.outputs == {"statusCode": 500, "headers": {}, "body": {"error": "down"}}
    assert result.action("Has_lines").status == "Skipped"
    assert result.action("Respond").status == "Skipped"
    assert result.response is None
    assert result.billing.total == 1 + 4
