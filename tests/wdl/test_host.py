"""WorkflowHost: trigger concurrency, waiting runs, 429 when the queue is full, caller replies."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from orderbridge.wdl import HttpRequest, HttpResponse, TriggerInput, VirtualClock, WorkflowHost

from tests.wdl.helpers import definition, ok

CALL_AND_REPLY = {
    "Call": {"type": "Http", "inputs": {"method": "POST", "uri": "http://api/x", "body": "@triggerBody()"},
             "runAfter": {}},
    "Reply": {"type": "Response", "inputs": {"statusCode": 200, "body": "@body('Call')"}, "runAfter": {"Call": []}},
}


def limited(actions: dict[str, Any], runs: int, waiting: int) -> dict[str, Any]:
    trigger = {"type": "Request", "kind": "Http", "inputs": {"method": "POST"},
               "runtimeConfiguration": {"concurrency": {"runs": runs, "maximumWaitingRuns": waiting}}}
    return definition(actions, trigger=trigger)


class GatedServer:
    """Holds every request until released, so runs stay active while the test looks."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self.entered.release()
        assert self.release.wait(10), "test did not release the server"
        return ok({"echo": request.body})


def wait_until(condition: Any) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in 5 s"
        time.sleep(0.005)


def test_runs_beyond_the_limit_wait_and_beyond_the_waiting_queue_get_429() -> None:
    server = GatedServer()
    host = WorkflowHost(limited(CALL_AND_REPLY, runs=1, waiting=1), http=server, clock=VirtualClock())
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(host.call, TriggerInput(body=1))
        assert server.entered.acquire(timeout=5)
        second = pool.submit(host.call, TriggerInput(body=2))
        wait_until(lambda: host.waiting == 1)
        throttled = host.call(TriggerInput(body=3))
        server.release.set()
        replies = [first.result(5), second.result(5)]
    assert throttled.status_code == 429 and throttled.result is None
    assert [(r.status_code, r.body) for r in replies] == [(200, {"echo": 1}), (200, {"echo": 2})]
    assert host.peak_active == 1


def test_concurrency_limit_caps_simultaneous_runs() -> None:
    server = GatedServer()
    host = WorkflowHost(limited(CALL_AND_REPLY, runs=3, waiting=20), http=server, clock=VirtualClock())
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(host.call, TriggerInput(body=i)) for i in range(8)]
        for _ in range(3):
            assert server.entered.acquire(timeout=5)
        wait_until(lambda: host.waiting == 5)
        assert host.active == 3
        server.release.set()
        replies = [f.result(5) for f in futures]
    assert sorted(r.body["echo"] for r in replies) == list(range(8))
    assert host.peak_active == 3


def test_without_concurrency_settings_runs_are_not_limited() -> None:
    server = GatedServer()
    host = WorkflowHost(definition(CALL_AND_REPLY), http=server, clock=VirtualClock())
    with ThreadPoolExecutor(max_workers=5) as pool:
        futures = [pool.submit(host.call, TriggerInput(body=i)) for i in range(5)]
        for _ in range(5):
            assert server.entered.acquire(timeout=5)
        server.release.set()
        assert all(f.result(5).status_code == 200 for f in futures)
    assert host.peak_active == 5


def test_caller_gets_202_without_a_response_action_and_502_when_it_never_ran() -> None:
    no_response = WorkflowHost(definition({"Make": {"type": "Compose", "inputs": 1, "runAfter": {}}}),
                               clock=VirtualClock())
    assert no_response.call(TriggerInput()).status_code == 202
    failing = WorkflowHost(definition({
        "Boom": {"type": "Compose", "inputs": "@div(1, 0)", "runAfter": {}},
        "Reply": {"type": "Response", "inputs": {"statusCode": 200}, "runAfter": {"Boom": []}}}), clock=VirtualClock())
    reply = failing.call(TriggerInput())
    assert reply.status_code == 502 and reply.body["error"]["code"] == "NoResponse"
    assert reply.result is not None and reply.result.status == "Failed"


def test_a_response_later_than_the_inbound_limit_reaches_the_caller_as_504() -> None:
    from tests.wdl.helpers import FakeServer

    clock = VirtualClock()
    slow = FakeServer(clock, latency=100).reply("http://api/", ok({"n": 1}))
    workflow = definition({
        "First": {"type": "Http", "inputs": {"method": "GET", "uri": "http://api/1"}, "runAfter": {}},
        "Second": {"type": "Http", "inputs": {"method": "GET", "uri": "http://api/2"}, "runAfter": {"First": []}},
        "Reply": {"type": "Response", "inputs": {"statusCode": 200}, "runAfter": {"Second": []}},
    })
    reply = WorkflowHost(workflow, http=slow, clock=clock).call(TriggerInput())
    assert reply.status_code == 504
    assert reply.result is not None and reply.result.status == "Succeeded"


def test_time_spent_waiting_for_a_run_slot_counts_toward_the_inbound_limit() -> None:
    """The caller's 120 s start when it sends the request, not when a run slot frees up."""
    clock = VirtualClock()
    gate, entered = threading.Event(), threading.Semaphore(0)

    def slow(request: HttpRequest) -> HttpResponse:
        entered.release()
        assert gate.wait(10), "test did not release the server"
        clock.sleep(100)
        return ok({"echo": request.body})

    host = WorkflowHost(limited(CALL_AND_REPLY, runs=1, waiting=1), http=slow, clock=clock)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(host.call, TriggerInput(body=1))
        assert entered.acquire(timeout=5)
        second = pool.submit(host.call, TriggerInput(body=2))
        wait_until(lambda: host.waiting == 1)
        gate.set()
        replies = [first.result(5), second.result(5)]
    assert replies[0].status_code == 200, "ran at once: 100 s"
    second_run = replies[1].result
    assert second_run is not None and second_run.status == "Succeeded"
    assert (second_run.ended - second_run.started).total_seconds() == 100, "the run alone is within 120 s"
    assert replies[1].status_code == 504, "waited 100 s for the slot, then ran 100 s: 200 s after the call"
