"""ApiConnection actions are served by the connector registered under their connection's name."""
from __future__ import annotations

from typing import Any

import pytest

from orderbridge.wdl import DefinitionError, HttpRequest, HttpResponse, TriggerInput, VirtualClock, run

from tests.wdl.helpers import definition, ok

CONNECTIONS = {"$connections": {"servicebus": {"connectionId": "/connections/servicebus"}}}


def send_action(**extra: Any) -> dict[str, Any]:
    return {"type": "ApiConnection", "runAfter": {}, "inputs": {
        "host": {"connection": {"name": "@parameters('$connections')['servicebus']['connectionId']"}},
        "method": "post", "path": "/@{encodeURIComponent('online-orders')}/messages",
        "headers": {"SessionId": "@triggerBody()['id']"}, "body": {"ContentData": "@{base64(triggerBody())}"},
        **extra}}


def run_send(connector: Any, **extra: Any):
    return run(definition({"Send": send_action(**extra)}, parameters={"$connections": {"type": "Object"}}),
               trigger=TriggerInput(body={"id": "O-1"}), clock=VirtualClock(), parameters=CONNECTIONS,
               connectors={"/connections/servicebus": connector}, jitter=lambda low, high: low)


def test_the_connector_receives_method_path_headers_and_body() -> None:
    sent: list[HttpRequest] = []

    def service_bus(request: HttpRequest) -> HttpResponse:
        sent.append(request)
        return ok({"ok": True})

    result = run_send(service_bus)
    assert result.action("Send").status == "Succeeded"
    assert (sent[0].method, sent[0].url, sent[0].headers) == ("POST", "/online-orders/messages", {"SessionId": "O-1"})
    assert sent[0].body == {"ContentData": "eyJpZCI6Ik8tMSJ9"}


def test_connector_failures_follow_the_retry_policy() -> None:
    answers = iter([HttpResponse(503), HttpResponse(429), ok()])
    result = run_send(lambda request: next(answers),
                      retryPolicy={"type": "fixed", "count": 3, "interval": "PT10S"})
    send = result.action("Send")
    assert [a.status_code for a in send.attempts] == [503, 429, 200]
    assert (result.billing.connector_actions, result.billing.retries) == (3, 2)


def run_connection(connection: dict[str, Any]) -> None:
    run(definition({"Send": {"type": "ApiConnection", "runAfter": {},
                             "inputs": {"host": {"connection": connection}, "method": "post", "path": "/"}}}),
        trigger=TriggerInput(), clock=VirtualClock())


def test_without_a_registered_connector_the_run_stops_with_a_definition_error() -> None:
    with pytest.raises(DefinitionError) as raised:
        run_connection({"name": "sb"})
    assert raised.value.reason == ("no connector is registered for connection 'sb'; "
                                   "pass connectors={'sb': callable} to run()")


def test_an_api_connection_without_a_connection_name_is_reported_as_such() -> None:
    with pytest.raises(DefinitionError) as raised:
        run_connection({"referenceName": "sb"})
    assert raised.value.reason == ("an ApiConnection action needs inputs.host.connection.name (the connection id), "
                                   "got None")
