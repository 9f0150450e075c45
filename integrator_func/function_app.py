"""Entry points of the integrator Functions app (Python v2 programming model).

Only `azure.functions` is imported here: the handlers, and with them httpx, jsonschema-rs,
azure-servicebus and azure-identity, load on the first message, so a cold start pays for the
decorators alone (see benchmarks/bench_integrator.py).

Lock renewal, and why it matters for the ERP: the ERP does not enforce uniqueness of
`externalDocumentNumber`, so the look-up-then-create in `erp_integrator` is only safe while this
instance holds the message lock. If the lock lapsed during a slow ERP call, Service Bus would hand
the message to another instance, whose look-up would not yet see the order being created, and the
ERP would get a second sales order. host.json keeps that from happening:
- the slowest ERP call is bounded by the HTTP client's timeouts (order_integration.http_clients,
  at most ~75 s per request, two requests per message);
- `functionTimeout` (5 min) bounds a whole invocation above that;
- `maxAutoLockRenewalDuration` (10 min) is longer than `functionTimeout`, so the host keeps renewing
  the lock (the queue's shorter `lockDuration`; for `order-updates`, the session lock) for as long
  as any invocation can run.
  https://learn.microsoft.com/azure/azure-functions/functions-bindings-service-bus#hostjson-settings

Concurrency: `maxConcurrentCalls` (16) applies to `erp_integrator`, `maxConcurrentSessions` (16)
to the session-enabled `ecp_integrator`, which gets one call per session at a time (the extension
ignores calls-per-session for session triggers, Azure/azure-sdk-for-net#38157), so the updates of
one order are applied in order. The functions are synchronous (httpx.Client): the Python worker
runs them on its thread pool, min(32, CPUs + 4) threads unless `PYTHON_THREADPOOL_THREAD_COUNT`
says otherwise. host.json allows 16 calls plus 16 sessions at once, so that app setting must be
32, or the pool, not host.json, would cap throughput.
  https://learn.microsoft.com/azure/azure-functions/python-scale-performance-reference
"""
from __future__ import annotations

import azure.functions as func

app = func.FunctionApp()

# Setting-name prefix, not a connection string: the host reads
# `ServiceBusConnection__fullyQualifiedNamespace` and connects with the app's managed identity.
SERVICE_BUS_CONNECTION = "ServiceBusConnection"


@app.function_name("erp_integrator")
@app.service_bus_queue_trigger(
    arg_name="message",
    queue_name="online-orders",
    connection=SERVICE_BUS_CONNECTION,
    is_sessions_enabled=False,
)
def erp_integrator(message: func.ServiceBusMessage) -> None:
    """Create the ECP order of `message` as an ERP sales order, or retry/park it."""
    from order_integration import runtime  # deferred: see the module docstring

    runtime.deliver_to_erp(message)


@app.function_name("ecp_integrator")
@app.service_bus_queue_trigger(
    arg_name="message",
    queue_name="order-updates",
    connection=SERVICE_BUS_CONNECTION,
    is_sessions_enabled=True,
)
def ecp_integrator(message: func.ServiceBusMessage) -> None:
    """Apply the ERP sales order state of `message` to the ECP order, or retry/park it."""
    from order_integration import runtime  # deferred: see the module docstring

    runtime.deliver_to_ecp(message)
