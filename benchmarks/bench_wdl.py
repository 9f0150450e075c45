"""Per-action overhead of the workflow engine: parse once, run many times.

    .venv/bin/python benchmarks/bench_wdl.py [--runs 300]

Runs a workflow shaped like orderbridge's processors (Request trigger, Http calls with a retry
policy, an If, a Foreach with two actions per item, Compose, Response) against an in-process
transport and a VirtualClock, so only engine time is measured. Prints the compile time, the time
per run and the time per executed action (billable executions minus the trigger).
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from orderbridge.wdl import HttpRequest, HttpResponse, TriggerInput, VirtualClock, prepare, run
from orderbridge.wdl._definition import compile_definition

ITEMS = 20

WORKFLOW: dict[str, Any] = {
    "$schema": "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {"base": {"type": "String"}, "key": {"type": "SecureString"}},
    "triggers": {"manual": {"type": "Request", "kind": "Http", "inputs": {"method": "POST"}}},
    "actions": {
        "Get_order": {"type": "Http", "runAfter": {}, "inputs": {
            "method": "GET", "uri": "@{parameters('base')}/orders/@{triggerBody()?['data']?['orderId']}",
            "headers": {"X-Api-Key": "@parameters('key')"},
            "retryPolicy": {"type": "fixed", "count": 2, "interval": "PT5S"}}},
        "Has_lines": {"type": "If", "runAfter": {"Get_order": ["Succeeded"]},
                      "expression": "@greater(length(body('Get_order')?['lines']), 0)",
                      "actions": {"For_each_line": {"type": "Foreach", "foreach": "@body('Get_order')['lines']",
                                                    "actions": {
                          "Shape": {"type": "Compose", "inputs": {
                              "sku": "@{toUpper(item()?['sku'])}", "qty": "@mul(item()['qty'], 2)",
                              "order": "@triggerBody()?['data']?['orderId']"}},
                          "Send": {"type": "Http", "runAfter": {"Shape": ["Succeeded"]}, "inputs": {
                              "method": "POST", "uri": "@{parameters('base')}/lines", "body": "@outputs('Shape')"}}}}},
                      "else": {"actions": {"Note": {"type": "Compose", "inputs": "empty"}}}},
        "Respond": {"type": "Response", "runAfter": {"Has_lines": ["Succeeded"]}, "inputs": {
            "statusCode": 200, "body": {"lines": "@length(body('Get_order')['lines'])"}}},
    },
    "outputs": {},
}

ORDER = {"lines": [{"sku": f"s{i}", "qty": i} for i in range(ITEMS)]}


def transport(request: HttpRequest) -> HttpResponse:
    return HttpResponse(200, {"Content-Type": "application/json"}, ORDER if request.method == "GET" else {"ok": True})


def measure(runs: int) -> None:
    started = time.perf_counter()
    for _ in range(20):
        compile_definition(WORKFLOW)
    compile_ms = (time.perf_counter() - started) / 20 * 1000

    compiled = prepare(WORKFLOW)
    trigger = TriggerInput(body={"data": {"orderId": "O-1"}})
    parameters = {"base": "http://ecp", "key": "k"}
    clock = VirtualClock()
    first = run(compiled, trigger=trigger, parameters=parameters, http=transport, clock=clock)
    assert first.status == "Succeeded", first.error_message
    actions = first.billing.total - first.billing.trigger

    durations = []
    for _ in range(runs):
        began = time.perf_counter()
        run(compiled, trigger=trigger, parameters=parameters, http=transport, clock=clock)
        durations.append(time.perf_counter() - began)
    cached = []
    for _ in range(max(1, runs // 5)):
        began = time.perf_counter()
        run(WORKFLOW, trigger=trigger, parameters=parameters, http=transport, clock=clock)
        cached.append(time.perf_counter() - began)

    per_run = statistics.median(durations) * 1000
    print(f"compile (parse every expression): {compile_ms:.2f} ms per definition")
    print(f"executed actions per run: {actions} (+1 trigger)")
    print(f"run, prepared definition: median {per_run:.2f} ms per run over {runs} runs")
    print(f"per executed action: {per_run / actions * 1000:.1f} µs")
    print(f"run(dict) via the content cache: median {statistics.median(cached) * 1000:.2f} ms per run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    measure(parser.parse_args().runs)


if __name__ == "__main__":
    main()
