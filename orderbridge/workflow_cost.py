"""Billable executions of a workflow definition, measured by running its happy path in the engine.

Shared by `benchmarks/bench_workflow_cost.py`, `orderbridge diff` (cost before -> after) and
`orderbridge workflow show` (which actions a normal order pays for). The source API and Service Bus
always succeed; the engine meters as Consumption does: the trigger and every executed action, each
loop iteration and each retry; skipped actions are free
(https://learn.microsoft.com/azure/logic-apps/logic-apps-pricing).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orderbridge.errors import OrderbridgeError
from orderbridge.wdl import HttpRequest, HttpResponse, RunResult, TriggerInput, VirtualClock, WdlError, run
from topology import ECP_TO_ERP, ERP_TO_ECP, PIPELINES, PipelineSpec

SERVICE_BUS_HOST = "sb-orderbridge-cost.servicebus.windows.net"
SOURCE_BASE_URL = "https://source.example"
# The batch sizes the README and the targets of issue 4 quote: one event, and a batch of 10.
BATCH_SIZES = (1, 10)


class WorkflowCostError(OrderbridgeError):
    """A workflow's happy path cannot be measured: unknown workflow, or the run did not answer 200."""


def _pipeline(workflow_name: str) -> PipelineSpec:
    for pipeline in PIPELINES:
        if pipeline.workflow_name == workflow_name:
            return pipeline
    known = ", ".join(p.workflow_name for p in PIPELINES)
    raise WorkflowCostError(f"no pipeline declares workflow {workflow_name!r} (topology knows {known})")


# The event `data` of each pipeline's event number n (schemas/*-event.schema.json).
_EVENT_DATA: dict[str, Callable[[int], dict[str, Any]]] = {
    ECP_TO_ERP.key: lambda n: {"orderId": f"ord-{n}"},
    ERP_TO_ECP.key: lambda n: {"salesOrderId": f"SO-{n}", "ecpOrderId": f"ord-{n}", "changeVersion": 1},
}


def happy_events(workflow_name: str, count: int) -> list[dict[str, Any]]:
    """`count` valid Event Grid events of the workflow's pipeline."""
    pipeline = _pipeline(workflow_name)
    return [
        {"id": f"evt-{n}", "topic": "/topics/cost", "subject": f"s/{n}", "eventType": pipeline.event_type,
         "eventTime": "2026-11-27T09:14:03Z", "dataVersion": "1.0", "data": _EVENT_DATA[pipeline.key](n)}
        for n in range(1, count + 1)
    ]


def always_succeeds(request: HttpRequest) -> HttpResponse:
    """201 from Service Bus; 200 with the resource the event names from the source API (an ECP order,
    or an ERP sales order's state, as the workflows' body checks expect)."""
    if SERVICE_BUS_HOST in request.url:
        return HttpResponse(201)
    path = request.url.split("?", 1)[0].rstrip("/").split("/")
    if path[-1] == "state":  # /salesOrders/SO-n/state
        number = path[-2].removeprefix("SO-")
        body = {"id": path[-2], "externalDocumentNumber": f"ord-{number}", "changeVersion": 1}
    else:
        body = {"id": path[-1]}
    return HttpResponse(200, {"Content-Type": "application/json"}, body)


def happy_run(definition: dict[str, Any], workflow_name: str, count: int) -> RunResult:
    """One delivery of `count` valid events to `definition`; raises WorkflowCostError unless it answers 200."""
    try:
        result = run(
            definition,
            trigger=TriggerInput(body=happy_events(workflow_name, count)),
            parameters={"sourceBaseUrl": SOURCE_BASE_URL, "sourceApiKey": "cost-key",
                        "serviceBusHost": SERVICE_BUS_HOST, "queueName": "q", "parkingQueueName": "q-rejected"},
            http=always_succeeds,
            clock=VirtualClock(),
            workflow_name=workflow_name,
        )
    except WdlError as exc:
        raise WorkflowCostError(f"{workflow_name} cannot run in the engine: {exc}") from exc
    if result.response is None or result.response.status_code != 200:
        answered = "no answer" if result.response is None else f"answered {result.response.status_code}"
        raise WorkflowCostError(
            f"{workflow_name}: the happy path {answered} instead of 200 (run {result.status}:"
            f" {result.error_message or 'no error message'})"
        )
    return result


@dataclass(frozen=True)
class Cost:
    """Billable executions of one delivery of `events` events."""

    events: int
    total: int

    @property
    def per_order(self) -> float:
        return self.total / self.events


def happy_path_costs(definition: dict[str, Any], workflow_name: str) -> tuple[Cost, ...]:
    """The cost of one event and of a batch of 10, as the README's cost table states them."""
    return tuple(Cost(n, happy_run(definition, workflow_name, n).billing.total) for n in BATCH_SIZES)
