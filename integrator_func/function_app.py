"""Entry points of the integrator Functions app (Python v2 programming model).

Only `azure.functions` and the topology declaration (standard library only) are imported here:
the handlers, and with them urllib3, jsonschema-rs, azure-servicebus and azure-identity, load on
the first message, so a cold start pays for the decorators alone (see benchmarks/bench_integrator.py).
Function names, queues and sessions come from `topology`; each trigger's queue is a binding
expression (`%ONLINE_ORDERS_QUEUE%`) that the host resolves from the app setting infra sets.

How long the ERP may work, and why that shapes retries and lock renewal: the ERP does not enforce
unique `externalDocumentNumber`s, so `erp_integrator`'s look-up-then-create creates one order only
if no other attempt for the same order looks up while a create is still in flight. What bounds a
create is the ERP, not our client: Business Central executes a request for up to 10 minutes
("HTTP response code 504 - Gateway Timeout is returned when a request exceeds 10-minutes execution
time", https://learn.microsoft.com/dynamics365/business-central/dev-itpro/api-reference/v2.0/dynamics-current-limits),
and it keeps going after our client stops waiting. So:
- our client gives up after its timeouts (order_integration.http_clients, at most ~70 s per
  request, at most two requests per message), far below `functionTimeout` (5 min);
- a create that was sent but got no answer (timeout, dropped connection, 502/504) is OutcomeUnknown:
  its retry is scheduled no earlier than `ERP_UNKNOWN_OUTCOME_RETRY_MINUTES` (default 15 = BC's
  10-minute limit + margin), when the order is either committed, and the look-up finds it, or
  never will be;
- while an invocation runs, `maxAutoLockRenewalDuration` (10 min, longer than `functionTimeout`)
  keeps the message lock (for `order-updates`, the session lock), so Service Bus does not hand the
  same message to another instance mid-call.
  https://learn.microsoft.com/azure/azure-functions/functions-bindings-service-bus#hostjson-settings
- a message that comes back on its own (the host abandoned it because Service Bus refused the
  scheduled retry, or its worker crashed or lost the lock, possibly after sending a create) has a
  DeliveryCount above 1: before it looks anything up it becomes a retry
  `ERP_UNKNOWN_OUTCOME_RETRY_MINUTES` later, like a create whose answer was lost
  (order_integration.erp_integrator._wait_out_earlier_deliveries).

Concurrency: `maxConcurrentCalls` (16) applies to `erp_integrator`, `maxConcurrentSessions` (16)
to the session-enabled `ecp_integrator`, which gets one call per session at a time (the extension
ignores calls-per-session for session triggers, Azure/azure-sdk-for-net#38157), so the updates of
one order are applied in order. The functions are synchronous (one urllib3 pool): the Python worker
runs them on its thread pool, min(32, CPUs + 4) threads unless `PYTHON_THREADPOOL_THREAD_COUNT`
says otherwise. host.json allows 16 calls plus 16 sessions at once, so that app setting must be
32, or the pool, not host.json, would cap throughput.
  https://learn.microsoft.com/azure/azure-functions/python-scale-performance-reference
"""
from __future__ import annotations

import azure.functions as func

# SERVICE_BUS_CONNECTION is a setting-name prefix, not a connection string: in Azure the host reads
# `ServiceBusConnection__fullyQualifiedNamespace` and connects with the app's managed identity; the
# local stack sets `ServiceBusConnection` to the local namespace's connection string instead.
from topology import ECP_TO_ERP, ERP_TO_ECP, SERVICE_BUS_CONNECTION

app = func.FunctionApp()


@app.function_name(ECP_TO_ERP.function_name)
@app.service_bus_queue_trigger(
    arg_name="message",
    queue_name=ECP_TO_ERP.queue_binding,
    connection=SERVICE_BUS_CONNECTION,
    is_sessions_enabled=ECP_TO_ERP.requires_session,
)
def create_order_in_erp(message: func.ServiceBusMessage) -> None:
    """Create the ECP order of `message` as an ERP sales order, or retry/park it."""
    from order_integration import runtime  # deferred: see the module docstring

    runtime.deliver_to_erp(message)


@app.function_name(ERP_TO_ECP.function_name)
@app.service_bus_queue_trigger(
    arg_name="message",
    queue_name=ERP_TO_ECP.queue_binding,
    connection=SERVICE_BUS_CONNECTION,
    is_sessions_enabled=ERP_TO_ECP.requires_session,
)
def apply_update_in_ecp(message: func.ServiceBusMessage) -> None:
    """Apply the ERP sales order state of `message` to the ECP order, or retry/park it."""
    from order_integration import runtime  # deferred: see the module docstring

    runtime.deliver_to_ecp(message)
