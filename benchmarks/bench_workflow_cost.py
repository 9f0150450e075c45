"""Billable executions per order of the two Logic App workflows, measured by running them.

    .venv/bin/python benchmarks/bench_workflow_cost.py

Runs each workflow in the offline engine (orderbridge.wdl) for one event and for a batch of 10, with
a source API and Service Bus that always succeed (`orderbridge.workflow_cost`, which `orderbridge
diff` also uses), and prints the engine's metering (Consumption: the trigger and every executed
action, each loop iteration and each retry; skipped actions are free;
https://learn.microsoft.com/azure/logic-apps/logic-apps-pricing). Targets (issue 4): <= 6 for a
single event, <= 2.5 per order in a batch of 10.
"""
from __future__ import annotations

from infra.workflow_definitions import load_definition
from orderbridge.workflow_cost import WorkflowCostError, happy_path_costs
from topology import PIPELINES

TARGETS = {1: 6.0, 10: 2.5}


def main() -> None:
    print(f"{'workflow':<24} {'events':>6} {'billable':>8} {'per order':>9} {'target':>7}")
    for pipeline in PIPELINES:
        workflow = pipeline.workflow_name
        try:
            costs = happy_path_costs(load_definition(workflow, trigger_concurrency=5, maximum_waiting_runs=15), workflow)
        except WorkflowCostError as exc:
            raise SystemExit(str(exc)) from exc
        for cost in costs:
            target = TARGETS[cost.events]
            verdict = "ok" if cost.per_order <= target else "OVER"
            print(f"{workflow:<24} {cost.events:>6} {cost.total:>8} {cost.per_order:>9.2f} {target:>7.1f} {verdict}")


if __name__ == "__main__":
    main()
