"""The Logic App host: each deployed workflow runs in `orderbridge.wdl` behind its own trigger URL.

    workflows = workflows_from_synthesis(synthesize("dev"), endpoints={
        "sb-orderbridge-dev.servicebus.windows.net": service_bus_url,   # -> serviceBusHost = 127.0.0.1:PORT
        "https://ecp-sandbox.example.com/api": ecp_url,                 # -> sourceBaseUrl
        "https://erp-sandbox.example.com/api": erp_url,
    })
    host = LogicAppHost(workflows, state_dir=state_dir, clock=clock, bearer_token=token)
    # serve host.app on 127.0.0.1; host.trigger_urls(base_url) are the callback URLs (secrets)
    host.history.runs(workflow="order-events-processor", failed=True); run_table(host.history.run(run_id))

Parameters are exactly those the Pulumi program sets (the synthesized `logic:Workflow` inputs,
API keys included); the only change is that a value naming an Azure endpoint (the Service Bus
namespace host, the ECP and ERP base URLs) is replaced by the local endpoint the caller maps it to.
Starting fails while any parameter still names a host off this machine. Two more local rules,
in the transport: `https://` to 127.0.0.1 goes as plain HTTP (no TLS locally), and a
managed-identity Http action presents the stack's bearer token instead of an Entra ID token.
"""
from orderbridge.local.logicapps._history import RunHistory, RunSummary, StoredRun
from orderbridge.local.logicapps._host import LogicAppHost
from orderbridge.local.logicapps._render import run_table, runs_table
from orderbridge.local.logicapps._transport import EngineClock, LocalTransport
from orderbridge.local.logicapps._workflows import LocalWorkflow, deployed_parameters, workflows_from_synthesis

__all__ = [
    "EngineClock",
    "LocalTransport",
    "LocalWorkflow",
    "LogicAppHost",
    "RunHistory",
    "RunSummary",
    "StoredRun",
    "deployed_parameters",
    "run_table",
    "runs_table",
    "workflows_from_synthesis",
]
