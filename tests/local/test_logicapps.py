"""The local Logic App host: the deployed workflows behind signed trigger URLs, over real HTTP.

Events are delivered as Event Grid delivers them (a JSON array, `aeg-event-type: Notification`);
the fetch goes to the fake ECP, the send to a stub Service Bus that records it.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from rich.console import Console

from orderbridge.local.errors import LocalStackError
from orderbridge.local.logicapps import RunHistory, deployed_parameters, run_table, runs_table, workflows_from_synthesis
from orderbridge.synth import Synthesis
from orderbridge.wdl import REDACTED
from tests.local._logicapps_fixtures import BEARER_TOKEN, LocalLogicApps, local_logic_apps
from tests.workflows._harness import ORDER_EVENTS, PAYLOAD_MARKER
from topology import ECP_TO_ERP, ERP_TO_ECP

NOTIFICATION = {"aeg-event-type": "Notification"}
WORKFLOW = ECP_TO_ERP.workflow_name


@pytest.fixture
def local(dev: Synthesis, tmp_path: Path) -> Iterator[LocalLogicApps]:
    with local_logic_apps(dev, tmp_path) as running:
        yield running


def deliver(url: str, *events: dict[str, Any]) -> httpx.Response:
    return httpx.post(url, json=list(events), headers=NOTIFICATION, timeout=30)


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def with_query(url: str, **changes: str | None) -> str:
    """`url` with query parameters replaced (None removes one)."""
    query = {**query_of(url), **changes}
    return urlunsplit(urlsplit(url)._replace(query=urlencode({k: v for k, v in query.items() if v is not None})))


def test_a_trigger_url_without_the_signature_the_host_issued_is_refused_and_runs_nothing(
        local: LocalLogicApps) -> None:
    event = ORDER_EVENTS.event(1)
    ORDER_EVENTS.seed(local.ecp, event)
    sig = query_of(local.url())["sig"]
    refused = {
        "missing sig": (with_query(local.url(), sig=None), "DirectApiAuthorizationRequired"),
        "tampered sig": (with_query(local.url(), sig=sig[::-1]), "DirectApiInvalidAuthorizationSignature"),
        "the other workflow's sig": (with_query(local.url(), sig=query_of(local.url(ERP_TO_ECP.workflow_name))["sig"]),
                                     "DirectApiInvalidAuthorizationSignature"),
        "other permissions": (with_query(local.url(), sp="/triggers/x/run"), "DirectApiInvalidAuthorizationSignature"),
    }
    for case, (url, code) in refused.items():
        answer = deliver(url, event)
        assert (answer.status_code, answer.json()["error"]["code"]) == (401, code), case
    assert local.ecp.requests == [] and local.service_bus.sends == [], "a refused call must run nothing"
    assert local.host.history.runs() == []


def test_an_order_created_event_is_fetched_from_the_ecp_and_queued_with_the_bearer_token(
        local: LocalLogicApps, dev: Synthesis) -> None:
    event = ORDER_EVENTS.event(7)
    order = ORDER_EVENTS.seed(local.ecp, event)

    answer = deliver(local.url(), event)

    assert answer.status_code == 200, answer.text
    [fetch] = local.ecp.requests
    assert (fetch.method, fetch.path) == ("GET", f"/orders/{order['id']}")
    assert fetch.headers["x-api-key"] == deployed_parameters(dev, WORKFLOW)["sourceApiKey"]
    [send] = local.service_bus.sends
    assert (send.method, send.path) == ("POST", f"/{ECP_TO_ERP.queue_name}/messages")
    assert send.headers["authorization"] == f"Bearer {BEARER_TOKEN}"
    assert json.loads(send.headers["brokerproperties"])["MessageId"] == order["id"]
    assert send.body == order
    [run] = local.host.history.runs()
    assert (run.workflow, run.status, run.answered, run.run_id) == (
        WORKFLOW, "Succeeded", 200, answer.headers["x-ms-workflow-run-id"])


def test_calls_beyond_the_trigger_concurrency_and_waiting_runs_are_answered_429(local: LocalLogicApps) -> None:
    concurrency = next(w for w in local.workflows if w.name == WORKFLOW).definition["triggers"]
    concurrency = next(iter(concurrency.values()))["runtimeConfiguration"]["concurrency"]
    runs, waiting = concurrency["runs"], concurrency["maximumWaitingRuns"]
    events = [ORDER_EVENTS.event(n) for n in range(1, runs + waiting + 1)]
    for event in events:
        ORDER_EVENTS.seed(local.ecp, event)
    release = threading.Event()

    def held_back(request: object) -> float:
        release.wait(5)
        return 0.0

    local.ecp.latency = held_back  # every fetch waits until released

    with ThreadPoolExecutor(len(events)) as callers:
        answers = [callers.submit(deliver, local.url(), event) for event in events]
        deadline = time.monotonic() + 5
        while local.host.load(WORKFLOW) != (runs, waiting) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert local.host.load(WORKFLOW) == (runs, waiting)
        throttled = deliver(local.url(), ORDER_EVENTS.event(999))
        release.set()
        statuses = [answer.result().status_code for answer in answers]

    assert throttled.status_code == 429 and "Retry-After" in throttled.headers, throttled.text
    assert statuses == [200] * len(events), "every call that found a run slot or a waiting place is served"
    assert len(local.service_bus.sends) == len(events)
    assert len(local.host.history.runs()) == len(events), "a throttled call is no run"


def test_run_history_survives_reopening_keeps_no_secured_value_and_sums_billable_executions(
        local: LocalLogicApps) -> None:
    queued, failing = ORDER_EVENTS.event(1), ORDER_EVENTS.event(2)
    ORDER_EVENTS.seed(local.ecp, queued)
    ORDER_EVENTS.seed(local.ecp, failing)
    assert deliver(local.url(), queued).status_code == 200
    local.ecp.fail_next(503, 503)  # the fetch and its one retry
    assert deliver(local.url(), failing).status_code == 503
    local.host.close()

    history = RunHistory.in_state_dir(local.state_dir)
    runs = history.runs(workflow=WORKFLOW)
    [failed] = history.runs(failed=True)
    assert [run.status for run in runs] == ["Succeeded", "Failed"] and failed == runs[1]
    assert history.runs(workflow=ERP_TO_ECP.workflow_name) == []
    assert history.billable_executions() == {WORKFLOW: sum(run.billable for run in runs)}
    stored = history.run(runs[0].run_id)
    fetch = next(action for action in stored.actions if action["name"] == "Get_order_from_ECP")
    assert (fetch["inputs"], fetch["outputs"]) == (REDACTED, REDACTED)
    history.close()
    on_disk = b"".join(path.read_bytes() for path in (local.state_dir / "logicapps").glob("runs.sqlite*"))
    for secret in (deployed_key(local), BEARER_TOKEN, query_of(local.url())["sig"], PAYLOAD_MARKER):
        assert secret.encode() not in on_disk, f"{secret!r} reached the run history"


def deployed_key(local: LocalLogicApps) -> str:
    return next(w for w in local.workflows if w.name == WORKFLOW).parameters["sourceApiKey"]


def test_a_run_renders_action_by_action_with_the_redaction_shown(local: LocalLogicApps) -> None:
    event = ORDER_EVENTS.event(3)
    ORDER_EVENTS.seed(local.ecp, event)
    deliver(local.url(), event)
    console = Console(record=True, width=200)
    [run] = local.host.history.runs()

    console.print(runs_table([run]))
    console.print(run_table(local.host.history.run(run.run_id)))

    text = console.export_text()
    for shown in (run.run_id, "When_Event_Grid_delivers_events", "For_each_event", "Get_order_from_ECP",
                  "Send_order_to_queue", "Respond_to_Event_Grid", REDACTED):
        assert shown in text


def test_http_attempts_are_work_at_wall_speed_so_a_large_time_scale_does_not_time_them_out(
        dev: Synthesis, tmp_path: Path) -> None:
    """At 1000x a 50 ms fetch is 50 simulated seconds, beyond the fetch's 8 s limit.timeout; an attempt
    that answers within the stack's floor still counts as answered."""
    with local_logic_apps(dev, tmp_path, time_scale=1000, latency=0.05) as local:
        event = ORDER_EVENTS.event(4)
        ORDER_EVENTS.seed(local.ecp, event)

        answer = deliver(local.url(), event)

        assert answer.status_code == 200, answer.text
        assert len(local.ecp.requests) == 1 and len(local.service_bus.sends) == 1


def test_a_workflow_parameter_left_on_an_azure_endpoint_is_refused_at_start(dev: Synthesis) -> None:
    order_events = deployed_parameters(dev, WORKFLOW)
    only_the_service_bus = {order_events["serviceBusHost"]: "http://127.0.0.1:1"}

    with pytest.raises(LocalStackError, match="sourceBaseUrl.*ecp-sandbox"):
        workflows_from_synthesis(dev, only_the_service_bus)
