"""Builders shared by the engine tests: minimal definitions and a scripted fake HTTP server."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orderbridge.wdl import HttpRequest, HttpResponse, TransportError, TransportTimeout, VirtualClock

SCHEMA = "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#"


def definition(actions: dict[str, Any], *, parameters: dict[str, Any] | None = None,
               trigger: dict[str, Any] | None = None, outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Request-triggered definition around `actions`."""
    return {
        "$schema": SCHEMA,
        "contentVersion": "1.0.0.0",
        "parameters": parameters or {},
        "triggers": {"manual": trigger or {"type": "Request", "kind": "Http", "inputs": {"method": "POST"}}},
        "actions": actions,
        "outputs": outputs or {},
    }


Reply = HttpResponse | Exception | Callable[[HttpRequest], HttpResponse]


@dataclass
class FakeServer:
    """A transport that answers from a script per URL prefix and remembers every request.

    `latency` seconds pass on the virtual clock for every request; a request whose timeout is
    shorter than the latency raises TransportTimeout after `timeout` seconds, as a real client would.
    """

    clock: VirtualClock
    routes: dict[str, list[Reply]] = field(default_factory=dict)
    latency: float = 0.0
    requests: list[HttpRequest] = field(default_factory=list)

    def reply(self, prefix: str, *replies: Reply) -> FakeServer:
        self.routes.setdefault(prefix, []).extend(replies)
        return self

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        if request.timeout is not None and self.latency > request.timeout:
            self.clock.sleep(request.timeout)
            raise TransportTimeout(f"{request.url} took longer than {request.timeout} s")
        self.clock.sleep(self.latency)
        for prefix, script in self.routes.items():
            if request.url.startswith(prefix):
                reply = script.pop(0) if len(script) > 1 else script[0]
                if isinstance(reply, Exception):
                    raise reply
                return reply(request) if callable(reply) else reply
        raise TransportError(f"no route for {request.url}")

    def urls(self) -> list[str]:
        return [f"{r.method} {r.url}" for r in self.requests]


def ok(body: Any = None, status: int = 200) -> HttpResponse:
    return HttpResponse(status, {"Content-Type": "application/json"}, body)
