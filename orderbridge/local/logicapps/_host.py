"""The trigger endpoints: an ASGI app that checks the callback URL's `sig` and runs the workflow.

Each workflow answers at its callback URL, shaped as Azure's
(`/workflows/{name}/triggers/{trigger}/paths/invoke?api-version=2016-10-01&sp=%2Ftriggers%2F{trigger}%2Frun&sv=1.0&sig=...`,
https://learn.microsoft.com/azure/logic-apps/logic-apps-http-endpoint). The signature is an
HMAC-SHA256 over the path, `sp` and `sv` with an access key kept in the state dir, so the URLs
survive a `--resume`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orderbridge.local.clock import SimClock
from orderbridge.local.errors import LocalStackError
from orderbridge.local.logicapps._history import STATE_FOLDER, RunHistory
from orderbridge.local.logicapps._transport import EngineClock, LocalTransport
from orderbridge.local.logicapps._workflows import LocalWorkflow
from orderbridge.wdl import HostReply, TriggerInput, WorkflowHost
from orderbridge.wdl import decode_body, encode_body
from orderbridge.wdl._host import INBOUND_REQUEST_TIMEOUT_SECONDS

API_VERSION = "2016-10-01"
SAS_VERSION = "1.0"
INVOKE_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]  # the trigger's own `method` decides (405 otherwise)
UNLIMITED_RUN_THREADS = 100  # threads for a trigger without concurrency control
KEY_FILE = "access-key"
# The run behind an answer, as callers of Azure trigger URLs read it (public client code does; the docs
# we found do not list the header).
RUN_ID_HEADER = "x-ms-workflow-run-id"


@dataclass
class _HostedWorkflow:
    workflow: LocalWorkflow
    host: WorkflowHost
    # Threads for runs plus waiting calls, and one more so a call beyond them reaches the host's 429.
    limiter: anyio.CapacityLimiter


class LogicAppHost:
    """Hosts the workflows behind their trigger URLs; serve `app` with uvicorn.

    Files under `<state_dir>/logicapps/`: the access key that signs the URLs, and the run history.
    `bearer_token` is what the managed-identity Http actions present to the local Service Bus.
    """

    def __init__(self, workflows: list[LocalWorkflow], *, state_dir: Path, clock: SimClock, bearer_token: str,
                 client: httpx.Client | None = None) -> None:
        directory = state_dir / STATE_FOLDER
        directory.mkdir(parents=True, exist_ok=True)
        self._key = _access_key(directory / KEY_FILE)
        self.history = RunHistory.in_state_dir(state_dir)
        self._clock = EngineClock(clock)
        self._transport = LocalTransport(self._clock, bearer_token=bearer_token, client=client)
        self._hosted = {workflow.name: self._hosting(workflow, self._transport) for workflow in workflows}
        path = "/workflows/{workflow}/triggers/{trigger}/paths/invoke{relative_path:path}"
        self.app = Starlette(routes=[Route(path, self._invoke, methods=INVOKE_METHODS)])

    def _hosting(self, workflow: LocalWorkflow, transport: LocalTransport) -> _HostedWorkflow:
        host = WorkflowHost(
            workflow.definition, parameters=workflow.parameters, http=transport, clock=self._clock,
            workflow_name=workflow.name,
            # The caller's 120 s limit bounds work, so it stays 120 s of wall time at any time scale.
            inbound_timeout_seconds=self._clock.sim.simulated_seconds(INBOUND_REQUEST_TIMEOUT_SECONDS),
        )
        threads = host.runs + host.maximum_waiting_runs + 1 if host.runs else UNLIMITED_RUN_THREADS
        return _HostedWorkflow(workflow, host, anyio.CapacityLimiter(threads))

    def trigger_url(self, workflow: str, base_url: str) -> str:
        """The callback URL of `workflow` on the server at `base_url` (`http://127.0.0.1:PORT`); a secret."""
        trigger = self._hosted[workflow].workflow.trigger_name
        permissions = _permissions(trigger)
        sig = _signature(self._key, workflow, trigger, permissions, SAS_VERSION)
        return (f"{base_url}/workflows/{workflow}/triggers/{trigger}/paths/invoke?api-version={API_VERSION}"
                f"&sp={quote(permissions, safe='')}&sv={SAS_VERSION}&sig={sig}")

    def trigger_urls(self, base_url: str) -> dict[str, str]:
        """Every workflow's callback URL, by workflow name."""
        return {name: self.trigger_url(name, base_url) for name in self._hosted}

    def load(self, workflow: str) -> tuple[int, int]:
        """Runs of `workflow` executing now, and calls waiting for a run slot."""
        host = self._hosted[workflow].host
        return host.active, host.waiting

    def close(self) -> None:
        """Release the run history and the HTTP connections; stop serving `app` first."""
        self._transport.close()
        self.history.close()

    async def _invoke(self, request: Request) -> Response:
        name, trigger = request.path_params["workflow"], request.path_params["trigger"]
        hosted = self._hosted.get(name)
        if hosted is None:
            return _error(404, "WorkflowNotFound", f"The workflow '{name}' could not be found.")
        if trigger != hosted.workflow.trigger_name:
            return _error(404, "WorkflowTriggerNotFound", f"The workflow '{name}' has no trigger '{trigger}'.")
        refusal = self._refusal(name, trigger, request)
        if refusal is not None:
            return refusal
        call = TriggerInput(
            body=decode_body(await request.body(), request.headers.get("content-type")),
            headers=dict(request.headers),
            method=request.method,
            relative_path=request.scope["raw_path"].decode("latin-1").split("/paths/invoke", 1)[1],
            queries=dict(request.query_params),
        )
        reply = await anyio.to_thread.run_sync(self._run, hosted, call, limiter=hosted.limiter)
        return _http_reply(reply)

    def _refusal(self, workflow: str, trigger: str, request: Request) -> Response | None:
        """401 unless the URL carries the signature this host issued, as Azure answers (codes as reported:
        MicrosoftDocs/azure-docs#60706 for a missing one; an invalid one as seen in callers' tests)."""
        query = request.query_params
        permissions, version, sig = query.get("sp"), query.get("sv"), query.get("sig")
        if not (permissions and version and sig):
            return _error(401, "DirectApiAuthorizationRequired",
                          "The request must be authenticated only by Shared Access scheme.")
        expected = _signature(self._key, workflow, trigger, permissions, version)
        if not hmac.compare_digest(sig.encode(), expected.encode()):
            return _error(401, "DirectApiInvalidAuthorizationSignature",
                          "The provided authorization signature is not valid.")
        return None

    def _run(self, hosted: _HostedWorkflow, call: TriggerInput) -> HostReply:
        """On a worker thread: run (or throttle) the call and record the run before answering."""
        self._clock.begin_run()
        reply = hosted.host.call(call)
        if reply.result is not None:
            self.history.record(hosted.workflow.name, reply.result, reply.status_code)
        return reply


def _permissions(trigger: str) -> str:
    return f"/triggers/{trigger}/run"


def _signature(key: bytes, workflow: str, trigger: str, permissions: str, version: str) -> str:
    signed = f"/workflows/{workflow}/triggers/{trigger}\n{permissions}\n{version}".encode()
    return base64.urlsafe_b64encode(hmac.new(key, signed, hashlib.sha256).digest()).rstrip(b"=").decode("ascii")


def _access_key(path: Path) -> bytes:
    """The key that signs the trigger URLs: made once per state dir, readable by its owner only."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        try:
            return bytes.fromhex(path.read_text(encoding="ascii").strip())
        except ValueError:
            raise LocalStackError(f"{path} is not an access key; delete it (the trigger URLs change) or "
                                  "start without --resume") from None
    key = secrets.token_bytes(32)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(key.hex())
    return key


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _http_reply(reply: HostReply) -> Response:
    """The Response action's answer as Logic Apps sends it (strings as text, other values as JSON)."""
    content, headers = encode_body(reply.body, dict(reply.headers))
    if isinstance(reply.body, str) and not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "text/plain; charset=utf-8"
    if reply.result is not None:
        headers[RUN_ID_HEADER] = reply.result.run_id
    return Response(content or b"", status_code=reply.status_code, headers={k: str(v) for k, v in headers.items()})
