"""The Logic App host on real HTTP: a stub Service Bus REST endpoint, the fake ECP and ERP, uvicorn.

The stub stands in for the local Service Bus (built elsewhere): it records every request and
answers 201, as Service Bus does for a send (https://learn.microsoft.com/rest/api/servicebus/send-message-to-queue).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orderbridge.fake_apis import FakeEcp, FakeErp
from orderbridge.local.clock import SimClock
from orderbridge.local.servers import AsgiServer
from orderbridge.local.logicapps import LocalWorkflow, LogicAppHost, deployed_parameters, workflows_from_synthesis
from orderbridge.synth import Synthesis
from topology import ECP_TO_ERP, ERP_TO_ECP

BEARER_TOKEN = "local-token-7d41-never-in-run-history"
# Retry intervals (5 s on the fetch) pass in 0.05 s; HTTP attempts still get their wall-time floor.
TIME_SCALE = 100.0


@dataclass(frozen=True)
class ReceivedSend:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class StubServiceBus:
    """Records what the workflows send to `POST /{queue}/messages` and answers 201."""

    sends: list[ReceivedSend] = field(default_factory=list)

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{queue}/messages", self._send, methods=["POST"])])

    async def _send(self, request: Request) -> Response:
        self.sends.append(ReceivedSend(request.method, request.url.path, dict(request.headers),
                                       json.loads(await request.body())))
        return Response(status_code=201)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port; yields `http://127.0.0.1:PORT`."""
    with AsgiServer(app, name="test") as server:
        yield server.url


@dataclass
class LocalLogicApps:
    """A running host with its neighbours; `url(workflow)` is the trigger's callback URL."""

    host: LogicAppHost
    base_url: str
    ecp: FakeEcp
    erp: FakeErp
    service_bus: StubServiceBus
    workflows: list[LocalWorkflow]
    state_dir: Path

    def url(self, workflow: str = ECP_TO_ERP.workflow_name) -> str:
        return self.host.trigger_url(workflow, self.base_url)


@contextmanager
def local_logic_apps(synthesis: Synthesis, state_dir: Path, *, time_scale: float = TIME_SCALE,
                     **ecp_options: Any) -> Iterator[LocalLogicApps]:
    """The host serving the synthesized workflows, the ECP and ERP fakes with the deployed keys, and
    the stub Service Bus; every Azure endpoint mapped to its local stand-in."""
    order_events, erp_events = deployed_parameters(synthesis, ECP_TO_ERP.workflow_name), deployed_parameters(synthesis, ERP_TO_ECP.workflow_name)
    service_bus = StubServiceBus()
    with ExitStack() as stack:
        ecp = stack.enter_context(FakeEcp(api_key=order_events["sourceApiKey"], **ecp_options))
        erp = stack.enter_context(FakeErp(api_key=erp_events["sourceApiKey"]))
        service_bus_url = stack.enter_context(serving(service_bus.app))
        workflows = workflows_from_synthesis(synthesis, {
            order_events["serviceBusHost"]: service_bus_url,
            order_events["sourceBaseUrl"]: ecp.base_url,
            erp_events["sourceBaseUrl"]: erp.base_url,
        })
        host = LogicAppHost(workflows, state_dir=state_dir, clock=SimClock(time_scale), bearer_token=BEARER_TOKEN)
        stack.callback(host.close)
        base_url = stack.enter_context(serving(host.app))
        yield LocalLogicApps(host, base_url, ecp, erp, service_bus, workflows, state_dir)
