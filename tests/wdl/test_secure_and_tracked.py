"""runtimeConfiguration.secureData hides values from records; trackedProperties are evaluated."""
from __future__ import annotations

from orderbridge.wdl import REDACTED, TriggerInput, VirtualClock, run

from tests.wdl.helpers import FakeServer, definition, ok


def test_secure_inputs_and_outputs_are_redacted_but_still_flow_to_later_actions() -> None:
    clock = VirtualClock()
    server = FakeServer(clock).reply("http://vault/", ok({"token": "t-secret"}))
    result = run(definition({
        "Get_token": {"type": "Http", "runAfter": {}, "inputs": {
            "method": "GET", "uri": "http://vault/token", "headers": {"X-Api-Key": "@parameters('key')"}},
            "runtimeConfiguration": {"secureData": {"properties": ["inputs", "outputs"]}}},
        "Use": {"type": "Compose", "inputs": "@body('Get_token')['token']", "runAfter": {"Get_token": []}},
    }, parameters={"key": {"type": "SecureString"}}), trigger=TriggerInput(), parameters={"key": "k-secret"},
        http=server, clock=clock)
    record = result.action("Get_token")
    assert record.inputs == REDACTED and record.outputs == REDACTED
    assert "k-secret" not in repr(record) and "t-secret" not in repr(record)
    assert server.requests[0].headers == {"X-Api-Key": "k-secret"}
    assert result.action("Use").outputs == "t-secret"


def test_only_inputs_can_be_secured() -> None:
    result = run(definition({"Make": {"type": "Compose", "inputs": "v", "runAfter": {},
                                      "runtimeConfiguration": {"secureData": {"properties": ["inputs"]}}}}),
                 trigger=TriggerInput(), clock=VirtualClock())
    assert (result.action("Make").inputs, result.action("Make").outputs) == (REDACTED, "v")


def test_tracked_properties_are_evaluated_after_the_action_with_action() -> None:
    result = run(definition({"Make": {
        "type": "Compose", "inputs": {"orderId": "@triggerBody()['id']"}, "runAfter": {},
        "trackedProperties": {"orderId": "@action()['outputs']['orderId']", "source": "ecp",
                              "status": "@action()['status']"}}}),
        trigger=TriggerInput(body={"id": "O-7"}), clock=VirtualClock())
    expected = {"orderId": "O-7", "source": "ecp", "status": "Succeeded"}
    assert result.action("Make").tracked_properties == expected
    assert result.tracked_properties == {"Make": expected}
