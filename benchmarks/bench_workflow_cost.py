"""Billable executions per order of the two Logic App workflows, measured by running them.

    .venv/bin/python benchmarks/bench_workflow_cost.py

Runs each workflow in the offline engine (orderbridge.wdl) for one event and for a batch of 10, with
a source API and Service Bus that always succeed, and prints the engine's metering (Consumption:
the trigger and every executed action, each loop iteration and each retry; skipped actions are free;
https://learn.microsoft.com/azure/logic-apps/logic-apps-pricing). Targets (issue 4): <= 6 for a
single event, <= 2.5 per order in a batch of 10.
"""
from __future__ import annotations

from typing import Any

from infra.workflow_definitions import load_definition
from orderbridge.wdl import HttpRequest, HttpResponse, TriggerInput, VirtualClock, run
from topology import ECP_TO_ERP, ERP_TO_ECP

SERVICE_BUS_HOST = "sb-orderbridge-bench.servicebus.windows.net"
EVENT_DATA = {
    ECP_TO_ERP.workflow_name: (ECP_TO_ERP.event_type, lambda n: {"orderId": f"ord-{n}"}),
    ERP_TO_ECP.workflow_name: (
        ERP_TO_ECP.event_type, lambda n: {"salesOrderId": f"SO-{n}", "ecpOrderId": f"ord-{n}", "changeVersion": 1}
    ),
}
TARGETS = {1: 6.0, 10: 2.5}


def always_succeeds(request: HttpRequest) -> HttpResponse:
    """201 from Service Bus, 200 with the resource the event names from the source API (an ECP order,
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


def events(workflow: str, count: int) -> list[dict[str, Any]]:
    event_type, data = EVENT_DATA[workflow]
    return [
        {"id": f"evt-{n}", "topic": "/topics/bench", "subject": f"s/{n}", "eventType": event_type,
         "eventTime": "2026-11-27T09:14:03Z", "dataVersion": "1.0", "data": data(n)}
        for n in range(1, count + 1)
    ]


def billable(workflow: str, count: int) -> int:
    result = run(
        load_definition(workflow, trigger_concurrency=5, maximum_waiting_runs=15),
        trigger=TriggerInput(body=events(workflow, count)),
        parameters={"sourceBaseUrl": "https://source.example", "sourceApiKey": "bench-key",
                    "serviceBusHost": SERVICE_BUS_HOST, "queueName": "q", "parkingQueueName": "q-rejected"},
        http=always_succeeds,
        clock=VirtualClock(),
    )
    if result.response is None or result.response.status_code != 200:
        raise SystemExit(f"{workflow}: the run did not answer 200 ({result.status}, {result.error_message})")
    return result.billing.total


def main() -> None:
    print(f"{'workflow':<24} {'events':>6} {'billable':>8} {'per order':>9} {'target':>7}")
    for workflow in EVENT_DATA:
        for count, target in TARGETS.items():
            total = billable(workflow, count)
            per_order = total / count
            verdict = "ok" if per_order <= target else "OVER"
            print(f"{workflow:<24} {count:>6} {total:>8} {per_order:>9.2f} {target:>7.1f} {verdict}")


if __name__ == "__main__":
    main()
