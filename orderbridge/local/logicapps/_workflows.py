"""The workflows as `pulumi up` deploys them, read from the synthesis, with local endpoints put in."""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from orderbridge.local.errors import LocalStackError
from orderbridge.synth import Synthesis

WORKFLOW_TYPE = "logic:Workflow"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# A bare host name as a parameter holds it (`sb-orderbridge-dev.servicebus.windows.net`): dotted
# labels ending in a letter, so versions such as "1.0" are not taken for hosts.
_BARE_HOST = re.compile(r"^([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z][A-Za-z0-9-]*)(?::\d+)?$")


@dataclass(frozen=True)
class LocalWorkflow:
    """One deployed workflow: its name, its definition and its parameter values."""

    name: str
    definition: dict[str, Any]
    parameters: dict[str, Any]

    @property
    def trigger_name(self) -> str:
        """The single Request trigger's name (the definition has exactly one trigger)."""
        triggers = list(self.definition.get("triggers", {}))
        if len(triggers) != 1:
            raise LocalStackError(f"workflow {self.name!r} has triggers {triggers}; the local host serves exactly one")
        return triggers[0]


def workflows_from_synthesis(synthesis: Synthesis, endpoints: Mapping[str, str]) -> list[LocalWorkflow]:
    """Every `logic:Workflow` of the synthesis, each parameter as the Pulumi program sets it except
    that a value naming an Azure endpoint is replaced by its local one.

    `endpoints` maps the deployed value (a bare host such as the Service Bus namespace host, or a
    base URL such as the ECP's) to a local `http://127.0.0.1:PORT[/path]` URL. A bare host is
    replaced by the local URL's `host:port`, since the definition writes the scheme itself.
    Raises LocalStackError when a parameter would still reach off this machine.
    """
    _check_local(endpoints)
    workflows = [_workflow(resource.revealed_inputs(), endpoints) for resource in synthesis.of_type(WORKFLOW_TYPE)]
    if not workflows:
        raise LocalStackError(f"stack {synthesis.stack} declares no {WORKFLOW_TYPE}; nothing to host")
    return workflows


def _workflow(inputs: dict[str, Any], endpoints: Mapping[str, str]) -> LocalWorkflow:
    name = inputs["workflowName"]
    definition = inputs["definition"]
    declared = definition.get("parameters", {})
    values = {key: _localized(entry["value"], endpoints) for key, entry in inputs.get("parameters", {}).items()}
    remote = {key: host for key, value in values.items()
              if not _is_secure(declared.get(key, {})) and (host := remote_host(value)) is not None}
    if remote:
        raise LocalStackError(
            f"workflow {name!r}: parameters {sorted(remote)} still point at {sorted(set(remote.values()))}; "
            "map each deployed value to a local URL in `endpoints`"
        )
    return LocalWorkflow(name, definition, values)


def _localized(value: Any, endpoints: Mapping[str, str]) -> Any:
    if not isinstance(value, str) or value not in endpoints:
        return value
    local = endpoints[value]
    return local if "://" in value else urlsplit(local).netloc


def _is_secure(declaration: Mapping[str, Any]) -> bool:
    return str(declaration.get("type", "")).lower().startswith("secure")


def remote_host(value: Any) -> str | None:
    """The host a URL or bare host name points at, when it is not this machine; else None."""
    if not isinstance(value, str):
        return None
    if "://" in value:
        host = urlsplit(value).hostname
    else:
        match = _BARE_HOST.match(value)
        host = match.group(1) if match else None
    return host if host and host.lower() not in LOOPBACK_HOSTS else None


def _check_local(endpoints: Mapping[str, str]) -> None:
    wrong = {deployed: local for deployed, local in endpoints.items()
             if urlsplit(local).scheme not in ("http", "https") or remote_host(local) or not urlsplit(local).hostname}
    if wrong:
        raise LocalStackError(f"local endpoints must be http://127.0.0.1:PORT URLs, got {wrong}")


def deployed_parameters(synthesis: Synthesis, workflow: str) -> dict[str, Any]:
    """The parameter values the Pulumi program gives `workflow`, as synthesized (before any substitution)."""
    for resource in synthesis.of_type(WORKFLOW_TYPE):
        inputs = resource.revealed_inputs()
        if inputs["workflowName"] == workflow:
            return {name: entry["value"] for name, entry in inputs["parameters"].items()}
    raise LocalStackError(f"stack {synthesis.stack} deploys no workflow {workflow!r}; the local stack needs both")
