"""Hostile input at the seams (issue 10), run through the workflows: nothing is lost, bad input gets a
503 (Event Grid redelivers) or a park with a reason, and what is queued is what the event names."""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from order_integration.contracts import ContractViolation, validate
from infra.package import REPO_ROOT
from orderbridge.wdl import HttpResponse, RunResult, VirtualClock

from tests.workflows._harness import (
    ERP_EVENTS,
    JSON_CONTENT,
    ORDER_EVENTS,
    PIPELINES,
    TRICKY_IDS,
    VALIDATION_EVENT_TYPE,
    FakeServiceBus,
    Reply,
    SCRIPTED_SOURCE_URL as SOURCE,
    ScriptedSource,
    WorkflowUnderTest,
    deliver_scripted as deliver,
)

HANDSHAKE = {"id": "h-1", "topic": "/topics/t", "subject": "", "eventType": VALIDATION_EVENT_TYPE,
             "eventTime": "2026-11-27T09:14:03Z", "dataVersion": "1", "data": {"validationCode": "code-1"}}


def answer(result: RunResult) -> int:
    assert result.response is not None, "every delivery must be answered"
    return result.response.status_code


def parked(pipeline: WorkflowUnderTest, service_bus: FakeServiceBus) -> dict[str, str]:
    """Parked event id -> reason."""
    return {m.body["id"]: m.properties["reason"] for m in service_bus.messages(pipeline.parking_queue)}


def json_reply(body: Any) -> HttpResponse:
    return HttpResponse(200, dict(JSON_CONTENT), body)


# --- 2. A handshake is a one-event delivery marked by its header -------------------------------------
# https://learn.microsoft.com/azure/event-grid/webhook-event-delivery: the validation event comes
# alone, with `aeg-event-type: SubscriptionValidation`; notifications carry `aeg-event-type: Notification`.

@pytest.mark.parametrize("delivery", ["Notification", "SubscriptionValidation"])
def test_a_validation_event_leading_a_batch_does_not_swallow_the_other_events(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus, delivery: str
) -> None:
    events = [HANDSHAKE, pipeline.event(1), pipeline.event(2)]

    result, _ = deliver(pipeline, service_bus, events, pipeline.found(*events[1:]), delivery=delivery)

    assert answer(result) == 200 and result.response.body is None, "no handshake answer for a batch"
    queued = [m.broker_properties["CorrelationId"] for m in service_bus.messages(pipeline.queue)]
    assert sorted(queued) == [events[1]["id"], events[2]["id"]]
    assert parked(pipeline, service_bus) == {HANDSHAKE["id"]: "UnsupportedEventType"}


def test_a_lone_validation_event_without_the_handshake_header_is_parked(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus
) -> None:
    result, source = deliver(pipeline, service_bus, [HANDSHAKE], HttpResponse(500))

    assert answer(result) == 200 and result.response.body is None
    assert parked(pipeline, service_bus) == {HANDSHAKE["id"]: "UnsupportedEventType"}
    assert source.requests == []


def test_the_handshake_is_answered_with_its_code_and_nothing_else_happens(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus
) -> None:
    result, source = deliver(pipeline, service_bus, [HANDSHAKE], HttpResponse(500), delivery="SubscriptionValidation")

    assert (answer(result), result.response.body) == (200, {"validationResponse": "code-1"})
    assert source.requests == [] and service_bus.requests == []


# --- 3. A fetched body that is not the resource is never queued ------------------------------------

@pytest.mark.parametrize(("case", "reply"), [
    ("maintenance page", HttpResponse(200, {"Content-Type": "text/html; charset=utf-8"}, "<html>Down</html>")),
    ("JSON text of the wrong type", HttpResponse(200, {"Content-Type": "text/plain"}, '{"id": "ord-100001"}')),
    ("no content type", HttpResponse(200, {}, {"id": "ord-100001"})),
    ("empty body", HttpResponse(200, dict(JSON_CONTENT), None)),
    ("JSON array", json_reply([{"id": "ord-100001"}])),
    ("JSON string", json_reply("ord-100001")),
    ("JSON object without an id", json_reply({"status": "maintenance"})),
    ("204", HttpResponse(204, {}, None)),
])
def test_a_body_that_is_not_a_json_resource_is_retried_not_queued(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus, case: str, reply: HttpResponse
) -> None:
    """An ECP or ERP in maintenance answers like this for hours; Event Grid retries a 503 for up to 24 h
    (https://learn.microsoft.com/azure/event-grid/delivery-and-retry), parking would need a person."""
    result, _ = deliver(pipeline, service_bus, [pipeline.event(1)], reply)

    assert answer(result) == 503, case
    assert service_bus.messages(pipeline.queue) == [] and service_bus.messages(pipeline.parking_queue) == [], case
    assert result.action(pipeline.send_action).error_code == "InvalidTemplate", "refused before any request"


@pytest.mark.parametrize(("pipeline", "field", "value", "reason"), [
    (ORDER_EVENTS, "id", "ord-999999", "OrderIdMismatch"),
    (ORDER_EVENTS, "id", "ORD-100001", "OrderIdMismatch"),
    (ERP_EVENTS, "id", "SO-999999", "SalesOrderIdMismatch"),
    (ERP_EVENTS, "externalDocumentNumber", "ord-999999", "ExternalDocumentNumberMismatch"),
    (ERP_EVENTS, "externalDocumentNumber", None, "ExternalDocumentNumberMismatch"),
    (ERP_EVENTS, "changeVersion", "three", "InvalidChangeVersion"),
    (ERP_EVENTS, "changeVersion", "007", "InvalidChangeVersion"),
    (ERP_EVENTS, "changeVersion", 0, "InvalidChangeVersion"),
    (ERP_EVENTS, "changeVersion", 2.5, "InvalidChangeVersion"),
    (ERP_EVENTS, "changeVersion", 2**63, "InvalidChangeVersion"),
    (ERP_EVENTS, "changeVersion", None, "InvalidChangeVersion"),
], indirect=["pipeline"])
def test_a_resource_that_contradicts_the_event_is_parked_with_the_reason(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus, field: str, value: Any, reason: str
) -> None:
    event = pipeline.event(1)

    result, _ = deliver(pipeline, service_bus, [event], json_reply({**pipeline.resource(event), field: value}))

    assert answer(result) == 200, result.error_message
    [message] = service_bus.messages(pipeline.parking_queue)
    assert (message.body, message.properties["reason"]) == (event, reason)
    assert service_bus.messages(pipeline.queue) == []


@pytest.mark.parametrize("pipeline", [ERP_EVENTS], indirect=True)
def test_the_same_ecp_order_in_either_case_shares_one_session(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus
) -> None:
    """Business Central upper-cases Code fields (externalDocumentNumber is Code[35]), so updates of one
    ECP order arrive as ord-… and ORD-…; Service Bus compares SessionIds exactly, hence one canonical case."""
    lower = pipeline.event(1, data={**pipeline.make_data(1), "ecpOrderId": "ord-100045"})
    upper = pipeline.event(2, data={**pipeline.make_data(2), "ecpOrderId": "ORD-100045"})
    states = {pipeline.fetch_path(e): {**pipeline.resource(e), "externalDocumentNumber": "ORD-100045"}
              for e in (lower, upper)}

    result, _ = deliver(pipeline, service_bus, [lower, upper],
                        lambda request: json_reply(states[request.url.removeprefix(SOURCE)]))

    assert answer(result) == 200, result.error_message
    sessions = {m.broker_properties["SessionId"] for m in service_bus.messages(pipeline.queue)}
    assert sessions == {"ORD-100045"} and len(service_bus.messages(pipeline.queue)) == 2


# --- 9. The MessageId names the version that is sent ----------------------------------------------

@pytest.mark.parametrize("pipeline", [ERP_EVENTS], indirect=True)
def test_a_lagging_read_is_retried_and_the_change_is_queued_once_the_erp_has_it(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus
) -> None:
    """Change 4 is queued; the event for change 5 reads state 4 (a lagging replica). Queued under
    SO-…-5 it would make the real change 5 a duplicate; under SO-…-4 it would be dropped and change 5
    never sent. So the delivery is answered 503, and the redelivery sends state 5 as SO-…-5."""
    four = pipeline.event(4, data={**pipeline.make_data(1), "changeVersion": 4})
    five = pipeline.event(5, data={**pipeline.make_data(1), "changeVersion": 5})
    state = {version: {**pipeline.resource(four), "changeVersion": version, "status": f"v{version}"}
             for version in (4, 5)}

    first, _ = deliver(pipeline, service_bus, [four], json_reply(state[4]))
    lagging, _ = deliver(pipeline, service_bus, [five], json_reply(state[4]))
    redelivery, _ = deliver(pipeline, service_bus, [five], json_reply(state[5]))

    assert [answer(r) for r in (first, lagging, redelivery)] == [200, 503, 200]
    queued = {m.broker_properties["MessageId"]: m.body for m in service_bus.messages(pipeline.queue)}
    sales_order = four["data"]["salesOrderId"]
    assert queued == {f"{sales_order}-4": state[4], f"{sales_order}-5": state[5]}
    assert service_bus.messages(pipeline.parking_queue) == []


@pytest.mark.parametrize("pipeline", [ERP_EVENTS], indirect=True)
def test_a_state_newer_than_the_event_is_queued_under_the_state_s_version(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus
) -> None:
    event = pipeline.event(1)
    newer = {**pipeline.resource(event), "changeVersion": 9}

    result, _ = deliver(pipeline, service_bus, [event], json_reply(newer))

    assert answer(result) == 200
    [message] = service_bus.messages(pipeline.queue)
    assert message.broker_properties["MessageId"] == f"{event['data']['salesOrderId']}-9"
    assert message.body == newer


# --- 7. Ids must match the event contract before anything is fetched --------------------------------

def _id_contract(pipeline: WorkflowUnderTest) -> dict[str, dict[str, Any]]:
    """The required string ids of the event's data and their schema rules (pattern, maxLength)."""
    schema = json.loads((REPO_ROOT / "schemas" / f"{pipeline.data_contract}.schema.json").read_text("utf-8"))
    return {name: spec for name, spec in schema["properties"].items()
            if name in schema["required"] and spec.get("type") == "string"}


def _schema_allows(pipeline: WorkflowUnderTest, name: str, value: str) -> bool:
    rule = _id_contract(pipeline)[name]
    by_pattern = re.fullmatch(rule["pattern"].removeprefix("^").removesuffix("$"), value) is not None
    by_pattern = by_pattern and len(value) <= rule["maxLength"]
    try:
        validate(pipeline.data_contract, {**pipeline.make_data(1), name: value})
        by_validator = True
    except ContractViolation:
        by_validator = False
    assert by_pattern == by_validator, f"{name}={value!r}: the pattern as read and the integrators' validator disagree"
    return by_validator


def _guard_cases(pipeline: WorkflowUnderTest) -> list[tuple[str, str]]:
    cases = []
    for name, rule in _id_contract(pipeline).items():
        longest = "A" * rule["maxLength"]
        cases += [(name, value) for value in [*TRICKY_IDS, longest, longest + "A", "a" + "." * (rule["maxLength"] - 1)]]
    return cases


def _run_ids(
    pipeline: WorkflowUnderTest, cases: list[tuple[str, str]]
) -> tuple[RunResult, FakeServiceBus, list[dict[str, Any]], ScriptedSource]:
    service_bus = FakeServiceBus(VirtualClock())
    events = [pipeline.event(n, data={**pipeline.make_data(n), name: value})
              for n, (name, value) in enumerate(cases, start=1)]
    result, source = deliver(pipeline, service_bus, events)
    return result, service_bus, events, source


@pytest.mark.parametrize("pipeline", PIPELINES, ids=lambda p: p.workflow)
def test_the_workflow_accepts_exactly_the_ids_the_event_contract_allows(pipeline: WorkflowUnderTest) -> None:
    """The schema's pattern and maxLength are the contract; the workflow's guard (built from chunk() and
    union(): WDL has no regex) must agree on every tricky id, and fetch none of the refused ones."""
    cases = _guard_cases(pipeline)

    result, service_bus, events, source = _run_ids(pipeline, cases)

    assert answer(result) == 200, result.error_message
    fetched = {request.url.removeprefix(SOURCE) for request in source.requests}
    reasons = parked(pipeline, service_bus)
    for (name, value), event in zip(cases, events):
        allowed = _schema_allows(pipeline, name, value)
        assert (pipeline.fetch_path(event) in fetched) == allowed, f"{name}={value!r}: fetched {not allowed}"
        assert (reasons.get(event["id"]) == "MalformedEvent") == (not allowed), f"{name}={value!r}"


@pytest.mark.parametrize("pipeline", PIPELINES, ids=lambda p: p.workflow)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(alphabet=st.sampled_from("aZ09._-/%é ‍\n"), max_size=40))
def test_random_ids_are_accepted_exactly_when_the_contract_allows_them(pipeline: WorkflowUnderTest, value: str) -> None:
    cases = [(name, value) for name in _id_contract(pipeline)]

    result, service_bus, events, _ = _run_ids(pipeline, cases)

    assert answer(result) == 200, result.error_message
    for (name, _), event in zip(cases, events):
        queued = [m for m in service_bus.messages(pipeline.queue) if m.broker_properties["CorrelationId"] == event["id"]]
        assert bool(queued) == _schema_allows(pipeline, name, value), f"{name}={value!r}"


# --- Header values built from event fields ---------------------------------------------------------

@pytest.mark.parametrize("changes", [
    {"eventType": "ECP.Order.Deleted\r\nX-Injected: 1"},
    {"eventType": "Bestellung.Gelöscht"},
    {"id": "evt-ä-1"},
    {"id": "evt-1\r\nX-Injected: 1"},
    {"dataVersion": "1.0\n"},
    {"topic": "/topics/ü"},
    {"dataVersion": "1.0\"x"},
])
def test_event_fields_that_cannot_travel_in_a_header_get_the_event_parked(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus, changes: dict[str, str]
) -> None:
    """CR/LF or non-ASCII in a header would make Service Bus refuse the send (or the park), and the
    batch would bounce until Event Grid dead-letters it without our reason. The queue send refuses such
    events as malformed; the park sends their id and type percent-encoded."""
    event = pipeline.event(1, **changes)

    result, source = deliver(pipeline, service_bus, [event])

    assert answer(result) == 200, result.error_message
    [message] = service_bus.messages(pipeline.parking_queue)
    assert message.body == event
    assert message.properties["reason"] in {"MalformedEvent", "UnsupportedEventType"}
    assert source.requests == [] and service_bus.messages(pipeline.queue) == []


# --- Property: every delivery is answered 503, or each event is queued or parked exactly once ------

_ID_PARTS = st.sampled_from(["ord-1", "SO-1", "..", ".", "a/b", "ä", "", "A" * 35, "A" * 65, "x y", "ORD-1"])
_MODES = ("found", "html", "contradicting", "404", "503", "array")


@st.composite
def hostile_event(draw: st.DrawFn, pipeline: WorkflowUnderTest) -> dict[str, Any]:
    n = draw(st.integers(1, 10**6))
    event = pipeline.event(n)
    data = dict(event["data"])
    for name in list(data):
        if draw(st.booleans()):
            data[name] = draw(st.one_of(_ID_PARTS, st.none(), st.integers(-2, 10**20), st.just(["x"])))
    if draw(st.booleans()):
        data.pop(draw(st.sampled_from(sorted(data))))
    changes = draw(st.fixed_dictionaries({}, optional={
        "eventType": st.sampled_from([pipeline.event_type, VALIDATION_EVENT_TYPE, "Other", "Ty\npe"]),
        "dataVersion": st.sampled_from(["1", "1.3", "2.0", "", "1\"", None, 1]),
        "topic": st.sampled_from(["/topics/t", "/topics/ü", "t\r\n"]),
        "id": st.text(alphabet="ab-ä\n", max_size=5).map(lambda suffix: f"evt-{n}{suffix}"),
    }))
    return {**event, "data": data, **changes}


def _source_for(pipeline: WorkflowUnderTest, events: list[dict[str, Any]], modes: list[str]) -> Reply:
    replies = {}
    for event, mode in zip(events, modes):
        try:
            path, resource = pipeline.fetch_path(event), pipeline.resource(event)
        except (KeyError, TypeError, AttributeError):
            continue
        replies[path] = {
            "found": json_reply(resource),
            "html": HttpResponse(200, {"Content-Type": "text/html"}, "<html>maintenance</html>"),
            "contradicting": json_reply({**resource, "id": "other"}),
            "404": HttpResponse(404, dict(JSON_CONTENT), {"error": "not found"}),
            "503": HttpResponse(503),
            "array": json_reply([resource]),
        }[mode]
    return lambda request: replies.get(request.url.removeprefix(SOURCE), HttpResponse(500))


@pytest.mark.parametrize("pipeline", PIPELINES, ids=lambda p: p.workflow)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_hostile_delivery_is_retried_or_each_event_is_queued_or_parked_once(
    pipeline: WorkflowUnderTest, data: st.DataObject
) -> None:
    events = data.draw(st.lists(hostile_event(pipeline), min_size=1, max_size=6,
                                unique_by=(lambda e: e["id"], lambda e: json.dumps(e["data"].get(
                                    "orderId" if pipeline is ORDER_EVENTS else "salesOrderId"), default=str))))
    if data.draw(st.booleans()):
        events.insert(0, HANDSHAKE)
    modes = data.draw(st.lists(st.sampled_from(_MODES), min_size=len(events), max_size=len(events)))
    delivery = data.draw(st.sampled_from(["Notification", "SubscriptionValidation"]))
    service_bus = FakeServiceBus(VirtualClock())

    result, _ = deliver(pipeline, service_bus, events, _source_for(pipeline, events, modes), delivery=delivery)

    status = answer(result)
    assert status in (200, 503), status
    if status == 503:
        return
    handshake = delivery == "SubscriptionValidation" and [e["eventType"] for e in events] == [VALIDATION_EVENT_TYPE]
    assert (result.response.body is not None) == handshake, "only a one-event validation delivery is a handshake"
    if handshake:
        assert service_bus.requests == []
        return
    queued = [m.broker_properties["CorrelationId"] for m in service_bus.messages(pipeline.queue)]
    parked_ids = [m.body["id"] for m in service_bus.messages(pipeline.parking_queue)]
    counts = {event["id"]: queued.count(event["id"]) + parked_ids.count(event["id"]) for event in events}
    assert counts == {event["id"]: 1 for event in events}, (counts, modes)
    by_id = {event["id"]: event for event in events}
    for message in service_bus.messages(pipeline.queue):
        event = by_id[message.broker_properties["CorrelationId"]]
        assert message.body == pipeline.resource(event), "only the resource the event names is queued"


# --- 1 and 13. One rule for a change version: the event contract's, read by the workflow's guard ----
# How an ERP might write `changeVersion`: the event schema (the integrators' validator) is the oracle.
CHANGE_VERSION_FORMS = ["7", "7.0", '"7"', str(2**63 - 1), f'"{2**63 - 1}"', str(2**63), f'"{2**63}"', "1e400",
                        "1" + "0" * 3999, "7.5", "0", "-7", '"07"', '"7.0"', '" 7"', '"+7"', '"\u0667"', "true",
                        "null", "[7]"]


@pytest.mark.parametrize("pipeline", [ERP_EVENTS], indirect=True)
def test_the_workflow_accepts_exactly_the_change_versions_the_event_contract_allows(
    pipeline: WorkflowUnderTest, service_bus: FakeServiceBus
) -> None:
    """2^63-1 is the largest (Business Central's BigInteger); 1e400 or 4,000 digits would block every later
    update if they ever reached the ECP. Parked with MalformedEvent before anything is fetched."""
    events = [pipeline.event(n, data={**pipeline.make_data(n), "changeVersion": json.loads(text)})
              for n, text in enumerate(CHANGE_VERSION_FORMS, start=1)]

    newest = {pipeline.fetch_path(e): {**pipeline.resource(e), "changeVersion": 2**63 - 1} for e in events}

    result, _ = deliver(pipeline, service_bus, events,
                        lambda request: json_reply(newest[request.url.removeprefix(SOURCE)]))

    assert answer(result) == 200, result.error_message
    reasons = parked(pipeline, service_bus)
    for text, event in zip(CHANGE_VERSION_FORMS, events):
        try:
            validate(pipeline.data_contract, event["data"])
            allowed = True
        except ContractViolation:
            allowed = False
        assert (event["id"] not in reasons) == allowed, f"changeVersion {text}: parked {reasons.get(event['id'])}"
        assert allowed or reasons[event["id"]] == "MalformedEvent", text
