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
        "Show": {"type": "Compose", "inputs": "@outputs('Use')", "runAfter": {"Use": []}},
    }, parameters={"key": {"type": "SecureString"}}), trigger=TriggerInput(), parameters={"key": "k-secret"},
        http=server, clock=clock)
    record = result.action("Get_token")
    assert record.inputs == REDACTED and record.outputs == REDACTED
    assert "k-secret" not in repr(record) and "t-secret" not in repr(record)
    assert server.requests[0].headers == {"X-Api-Key": "k-secret"}
    assert result.action("Use").outputs == REDACTED
    assert result.action("Show").outputs == "t-secret"


def test_secure_inputs_hide_only_inputs_except_on_compose_where_outputs_are_hidden_too() -> None:
    clock = VirtualClock()
    server = FakeServer(clock).reply("http://api/", ok({"n": 1}))
    secure_inputs = {"secureData": {"properties": ["inputs"]}}
    result = run(definition({
        "Call": {"type": "Http", "inputs": {"method": "GET", "uri": "http://api/x"}, "runAfter": {},
                 "runtimeConfiguration": secure_inputs},
        "Make": {"type": "Compose", "inputs": "v", "runAfter": {}, "runtimeConfiguration": secure_inputs}}),
        trigger=TriggerInput(), http=server, clock=clock)
    assert result.action("Call").inputs == REDACTED
    assert result.action("Call").outputs["body"] == {"n": 1}
    assert (result.action("Make").inputs, result.action("Make").outputs) == (REDACTED, REDACTED)


def test_tracked_properties_are_evaluated_after_the_action_with_action() -> None:
    result = run(definition({"Make": {
        "type": "Compose", "inputs": {"orderId": "@triggerBody()['id']"}, "runAfter": {},
        "trackedProperties": {"orderId": "@action()['outputs']['orderId']", "source": "ecp",
                              "status": "@action()['status']"}}}),
        trigger=TriggerInput(body={"id": "O-7"}), clock=VirtualClock())
    expected = {"orderId": "O-7", "source": "ecp", "status": "Succeeded"}
    assert result.action("Make").tracked_properties == expected
    assert result.tracked_properties == {"Make": expected}


def test_actions_using_secured_data_hide_their_inputs_and_the_hiding_stops_there() -> None:
    clock = VirtualClock()
    server = FakeServer(clock).reply("http://vault/", ok({"token": "t-secret"})).reply("http://api/", ok({"ok": 1}))
    result = run(definition({
        "Get_token": {"type": "Http", "runAfter": {}, "inputs": {"method": "GET", "uri": "http://vault/token"},
                      "runtimeConfiguration": {"secureData": {"properties": ["outputs"]}}},
        "Call": {"type": "Http", "runAfter": {"Get_token": []}, "inputs": {
            "method": "GET", "uri": "http://api/x", "headers": {"X-Token": "@body('Get_token')['token']"}}},
        "Keep": {"type": "Compose", "inputs": "@body('Get_token')['token']", "runAfter": {"Get_token": []}},
        "After": {"type": "Compose", "inputs": "@outputs('Keep')", "runAfter": {"Keep": []}},
        "Uses_call": {"type": "Compose", "inputs": "@body('Call')", "runAfter": {"Call": []}},
    }), trigger=TriggerInput(), http=server, clock=clock)
    call = result.action("Call")
    assert (call.inputs, call.outputs) == (REDACTED, {"statusCode": 200, "headers": {"Content-Type": "application/json"},
                                                      "body": {"ok": 1}})
    assert (result.action("Keep").inputs, result.action("Keep").outputs) == (REDACTED, REDACTED)
    # Documented: actions using the hidden outputs of Compose are not hidden, nor are users of Call.
    assert result.action("After").outputs == "t-secret"
    assert result.action("Uses_call").inputs == {"ok": 1}


def test_authorization_headers_are_never_recorded() -> None:
    clock = VirtualClock()
    server = FakeServer(clock).reply("http://api/", ok())
    result = run(definition({"Call": {"type": "Http", "runAfter": {}, "inputs": {
        "method": "GET", "uri": "http://api/x", "headers": {"Authorization": "Bearer abc", "X-Id": "1"}}}}),
        trigger=TriggerInput(), http=server, clock=clock)
    assert server.requests[0].headers["Authorization"] == "Bearer abc"
    assert result.action("Call").inputs["headers"] == {"Authorization": "<redacted: credential>", "X-Id": "1"}


def test_secured_trigger_outputs_are_hidden_and_actions_using_them_hide_their_inputs() -> None:
    trigger = {"type": "Request", "kind": "Http", "inputs": {"method": "POST"},
               "runtimeConfiguration": {"secureData": {"properties": ["outputs"]}}}
    result = run(definition({
        "Card": {"type": "Compose", "inputs": "@triggerBody()['card']", "runAfter": {}},
        "Fixed": {"type": "Compose", "inputs": "constant", "runAfter": {}},
    }, trigger=trigger), trigger=TriggerInput(body={"card": "4111"}), clock=VirtualClock())
    assert result.trigger.outputs == REDACTED
    assert (result.action("Card").inputs, result.action("Card").outputs) == (REDACTED, REDACTED)
    assert result.action("Fixed").outputs == "constant"
    assert "4111" not in repr(result.all_records) + repr(result.trigger)


def test_expression_errors_of_secured_actions_do_not_quote_values() -> None:
    result = run(definition({"Convert": {
        "type": "Http", "runAfter": {}, "runtimeConfiguration": {"secureData": {"properties": ["inputs"]}},
        "inputs": {"method": "GET", "uri": "http://x/@{int(parameters('key'))}"}}},
        parameters={"key": {"type": "SecureString"}}),
        trigger=TriggerInput(), parameters={"key": "not-a-number-secret"}, clock=VirtualClock())
    convert = result.action("Convert")
    assert convert.status == "Failed" and convert.error_code == "InvalidTemplate"
    assert "not-a-number-secret" not in repr(convert)
    assert "actions.Convert" in convert.error_message


def test_the_callback_signature_and_authorization_header_are_not_recorded_on_the_trigger() -> None:
    result = run(definition({"Sig": {"type": "Compose", "inputs": "@triggerOutputs()['queries']['sig']",
                                     "runAfter": {}}}),
                 trigger=TriggerInput(queries={"sig": "s3cr3t", "sv": "1.0"}, headers={"Authorization": "Bearer t"}),
                 clock=VirtualClock())
    assert result.trigger.outputs["queries"] == {"sig": REDACTED, "sv": "1.0"}
    assert result.trigger.outputs["headers"] == {"Authorization": REDACTED}
    assert result.action("Sig").outputs == "s3cr3t"
