"""The local stack: every part of both pipelines, started from one stack's synthesized desired state.

Parts start in the order their neighbours need them and stop in reverse:
Azurite (dead letters) → Service Bus (broker core, AMQP front, REST front) → the fake ECP and ERP →
the Logic App host → Event Grid (whose subscriptions hand-shake with the trigger URLs) → the
Functions host → the fakes' outboxes. Entity settings, workflow definitions and parameters, and app
settings all come from the synthesis; the only substitutions are local endpoints for Azure hosts,
local keys for Key Vault references, a connection string for the managed identity's namespace
setting, and the local queues' creation time (`local_app_settings`). The workflows send to Service
Bus over REST, as in Azure; the Functions host receives and the integrators send their retries and
parks with azure-servicebus over AMQP, as in Azure; both fronts serve the same broker.
"""
from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from orderbridge.fake_apis import CustomerCard
from orderbridge.local import state
from orderbridge.local.documents import DocumentStore
from orderbridge.local.ecp import LocalEcp
from orderbridge.local.errors import LocalStackError
from orderbridge.local.erp import LocalErp
from orderbridge.local.eventgrid import Azurite, LocalEventGrid, read_topology
from orderbridge.local.functions import FunctionsHost, app_settings_from_synthesis
from orderbridge.local.logicapps import LogicAppHost, deployed_parameters, workflows_from_synthesis
from orderbridge.local.publisher import EventOutbox, Topic
from orderbridge.local.servers import AsgiServer
from orderbridge.local.servicebus import (
    ROOT_KEY_NAME,
    AmqpFront,
    Broker,
    Credentials,
    entities_from_synthesis,
    new_sas_key,
    rest_app,
)
from orderbridge.synth import Synthesis, synthesize
from topology import (
    ECP_TO_ERP,
    ERP_TO_ECP,
    PIPELINES,
    QUEUE_CREATED_AT_SETTING,
    SERVICE_BUS_CONNECTION,
    SERVICE_BUS_NAMESPACE_SETTING,
)

logger = logging.getLogger(__name__)

# When the injected ERP outage begins, in simulated seconds after the stack started: after the
# first orders got through, so the demo shows both sides of it.
ERP_OUTAGE_START_SECONDS = 60.0
# Broker properties the REST front must not mistake for custom properties.
_NOT_CUSTOM_PROPERTIES = {"brokerproperties", "content-type", "authorization"}


@dataclass(frozen=True)
class Faults:
    """What the fakes do wrong, in simulated time (`orderbridge local demo` options)."""

    erp_outage_seconds: float = 0.0
    ecp_error_rate: float = 0.0
    duplicate_rate: float = 0.0
    erp_latency_ms: float = 0.0


@dataclass(frozen=True)
class StackOptions:
    """How to run the stack: which stack's definitions, where its state lives, how fast time runs."""

    stack: str = "dev"
    state_dir: Path = Path(".orderbridge")
    time_scale: float = 1.0
    resume: bool = False
    faults: Faults = field(default_factory=Faults)
    seed: int = 0


class LocalStack:
    """The running parts; use `async with LocalStack(options) as stack:` from the main thread."""

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.state_dir = options.state_dir
        self._closers: list[Any] = []
        self._topics: dict[str, Topic] = {}

    async def __aenter__(self) -> "LocalStack":
        try:
            await self._start()
        except BaseException:
            try:
                await self.__aexit__()
            except LocalStackError:  # the start's own error is the one to show; this one is logged
                logger.exception("while stopping the parts that had started")
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop every part, newest first; one that fails to stop does not keep the others running."""
        failures: list[BaseException] = []
        while self._closers:
            closer = self._closers.pop()
            try:
                result = closer()
                if hasattr(result, "__await__"):
                    await result
            except BaseException as error:  # raised below, after the rest have stopped (Ctrl-C included)
                failures.append(error)
        if failures and not isinstance(failures[0], Exception):
            raise failures[0]
        if failures:
            raise LocalStackError(
                f"{len(failures)} part(s) of the local stack did not stop cleanly; the first: "
                f"{type(failures[0]).__name__}: {failures[0]}"
            ) from failures[0]

    async def _start(self) -> None:
        options = self.options
        Azurite.end_leftover_in(self.state_dir)  # before a fresh start empties the dir that names it
        self.clock, started_at = state.prepare(
            self.state_dir, stack=options.stack, time_scale=options.time_scale, resume=options.resume
        )
        checkpoints = state.Checkpointer(self.state_dir, stack=options.stack, clock=self.clock, started_at=started_at)
        self._closers.append(checkpoints.checkpoint)  # the last word: after every part has stopped
        self.started_at = started_at
        self._log_to_state_dir()
        self.synthesis = synthesize(options.stack)
        self._start_service_bus()
        self._start_fakes(self.synthesis)
        self._start_logic_apps(self.synthesis)
        await self._start_event_grid(self.synthesis)
        self._start_functions(self.synthesis, started_at)
        for outbox in (self._ecp_outbox, self._erp_outbox):
            outbox.start()
        self._closers.append(checkpoints.start().stop)
        state.write_json(self.state_dir / state.ENDPOINTS, self.endpoints())

    def _log_to_state_dir(self) -> None:
        """The parts' logs (the integrators' retries and parks among them) go to `<state-dir>/stack.log`."""
        handler = logging.FileHandler(self.state_dir / "stack.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root, level = logging.getLogger(), logging.getLogger().level
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        # httpx logs every request's URL at INFO, and a trigger URL carries its `sig`; azure-servicebus
        # and Proton log each connection's steps at INFO.
        quiet = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "azure", "proton")}
        for name in quiet:
            logging.getLogger(name).setLevel(logging.WARNING)

        def restore() -> None:
            root.removeHandler(handler)
            handler.close()
            root.setLevel(level)
            for name, previous in quiet.items():
                logging.getLogger(name).setLevel(previous)

        self._closers.append(restore)

    def _start_service_bus(self) -> None:
        # Azurite first, from the main thread: its parent-death signal follows the starting thread.
        self.azurite = Azurite(self.state_dir)
        self.azurite.start()
        self._closers.append(self.azurite.stop)
        self.broker = Broker(self.state_dir / "servicebus.sqlite", entities_from_synthesis(self.synthesis), self.clock)
        self._closers.append(self.broker.close)
        # The workflows' managed identity, locally: a bearer token only this process knows; and the
        # namespace's shared access key, for the SDK's connection string.
        self.bearer_token = secrets.token_urlsafe(32)
        credentials = Credentials(bearer_token=self.bearer_token, sas_keys={ROOT_KEY_NAME: new_sas_key()})
        self._amqp = AmqpFront(self.broker, credentials).start()
        self._closers.append(self._amqp.close)
        self._service_bus = AsgiServer(
            rest_app(
                self.broker,
                credentials,
                property_names=_custom_property_names(self.synthesis),
                namespace_host=_deployed_parameter(self.synthesis, "serviceBusHost"),
            ),
            name="service-bus",
        ).start()
        self._closers.append(self._service_bus.stop)

    def _start_fakes(self, synthesis: Synthesis) -> None:
        faults, settings = self.options.faults, app_settings_from_synthesis(synthesis, {})
        self.documents = DocumentStore(self.state_dir / "fakes.sqlite")
        self._closers.append(self.documents.close)
        # In the fakes' own store: a change and the event that announces it commit together.
        self._ecp_outbox = EventOutbox(
            self.documents, name=ECP_TO_ERP.source, topic=lambda: self._topic(ECP_TO_ERP.topic_name), clock=self.clock
        )
        self._erp_outbox = EventOutbox(
            self.documents, name=ERP_TO_ECP.source, topic=lambda: self._topic(ERP_TO_ECP.topic_name), clock=self.clock
        )
        for outbox in (self._ecp_outbox, self._erp_outbox):
            self._closers.append(outbox.stop)
        self.ecp = LocalEcp(
            api_key=_deployed_parameter(synthesis, "sourceApiKey", ECP_TO_ERP.workflow_name),
            store=self.documents, outbox=self._ecp_outbox, clock=self.clock, duplicate_rate=faults.duplicate_rate, seed=self.options.seed,
        ).start()
        self._closers.append(self.ecp.stop)
        if faults.ecp_error_rate:
            self.ecp.fail_fetches(faults.ecp_error_rate, seed=self.options.seed)
        web_customer = CustomerCard(
            name="Web shop customers", prices_include_tax=settings["ERP_PRICES_INCLUDE_TAX"] == "true"
        )
        self.erp = LocalErp(
            api_key=_deployed_parameter(synthesis, "sourceApiKey", ERP_TO_ECP.workflow_name),
            store=self.documents, outbox=self._erp_outbox, clock=self.clock,
            latency_ms=faults.erp_latency_ms, customers={settings["ERP_WEB_CUSTOMER_NUMBER"]: web_customer},
        ).start()
        self._closers.append(self.erp.stop)
        if faults.erp_outage_seconds:
            # In simulated time from the state dir's first start, so a resumed run does not begin another.
            begins = self.started_at + timedelta(seconds=ERP_OUTAGE_START_SECONDS)
            self.erp.outage(begins=begins, seconds=faults.erp_outage_seconds)

    def _start_logic_apps(self, synthesis: Synthesis) -> None:
        self.workflows = workflows_from_synthesis(synthesis, self._local_endpoints(synthesis))
        self.logic_apps = LogicAppHost(
            self.workflows, state_dir=self.state_dir, clock=self.clock, bearer_token=self.bearer_token
        )
        self._closers.append(self.logic_apps.close)
        self._logic_apps_server = AsgiServer(self.logic_apps.app, name="logic-apps").start()
        self._closers.append(self._logic_apps_server.stop)

    async def _start_event_grid(self, synthesis: Synthesis) -> None:
        topology = read_topology(synthesis)
        workflow_of_topic = {pipeline.topic_name: pipeline.workflow_name for pipeline in PIPELINES}
        self.event_grid = LocalEventGrid(
            topology,
            state_dir=self.state_dir,
            clock=self.clock,
            webhook_urls={
                s.name: self.logic_apps.trigger_url(workflow_of_topic[s.topic], self._logic_apps_server.url)
                for s in topology.subscriptions
            },
            blob_connection_string=self.azurite.connection_string,
        )
        await self.event_grid.start()
        self._closers.append(self.event_grid.stop)
        self._topics = {t.name: Topic(self.event_grid.endpoint(t.name), self.event_grid.key(t.name)) for t in topology.topics}

    def _start_functions(self, synthesis: Synthesis, started_at: datetime) -> None:
        self.functions = FunctionsHost(
            entities=self.broker.entities,
            clock=self.clock,
            app_settings=app_settings_from_synthesis(synthesis, self.local_app_settings(started_at)),
        )
        self.functions.start()
        self._closers.append(self.functions.stop)

    def local_app_settings(self, started_at: datetime) -> dict[str, str | None]:
        """The Function App settings the local stack replaces: endpoints, keys, the queues' creation time.

        No Entra ID runs here, so the namespace setting of the managed identity gives way to a
        connection string, which the trigger and the integrators' sender both read (None removes a setting).
        """
        return {
            SERVICE_BUS_CONNECTION: self.service_bus_connection_string,
            SERVICE_BUS_NAMESPACE_SETTING: None,
            "ERP_BASE_URL": self.erp.base_url,
            "ERP_API_KEY": self.erp.api_key,
            "ECP_BASE_URL": self.ecp.base_url,
            "ECP_API_KEY": self.ecp.api_key,
            # The local queues were created when this state dir was first started: duplicate
            # detection has no history from before then (see order_integration.first_delivery).
            QUEUE_CREATED_AT_SETTING: started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def _local_endpoints(self, synthesis: Synthesis) -> dict[str, str]:
        """Deployed host or base URL → its local stand-in (the one substitution in workflow parameters)."""
        return {
            _deployed_parameter(synthesis, "serviceBusHost"): self._service_bus.url,
            _deployed_parameter(synthesis, "sourceBaseUrl", ECP_TO_ERP.workflow_name): self.ecp.base_url,
            _deployed_parameter(synthesis, "sourceBaseUrl", ERP_TO_ECP.workflow_name): self.erp.base_url,
        }

    @property
    def service_bus_connection_string(self) -> str:
        """The local namespace's connection string for azure-servicebus (its key is the stack's own)."""
        return self._amqp.connection_string(ROOT_KEY_NAME)

    def _topic(self, name: str) -> Topic | None:
        """Where the fakes publish; None until Event Grid serves (their outboxes wait until then)."""
        return self._topics.get(name)

    def endpoints(self) -> dict[str, Any]:
        """Every endpoint a person or a script needs, with the keys (the local stack's own, not Azure's)."""
        return {
            "stack": self.options.stack,
            "topics": self.event_grid.endpoints(),
            "logic_app_triggers": self.logic_apps.trigger_urls(self._logic_apps_server.url),
            "service_bus": {
                "endpoint": self._service_bus.url,
                "bearer_token": self.bearer_token,
                "connection_string": self.service_bus_connection_string,
            },
            "ecp": {"base_url": self.ecp.base_url, "api_key": self.ecp.api_key},
            "erp": {"base_url": self.erp.base_url, "api_key": self.erp.api_key},
            "blob": {"connection_string": self.azurite.connection_string},
        }


def _deployed_parameter(synthesis: Synthesis, name: str, workflow: str = ECP_TO_ERP.workflow_name) -> str:
    """One workflow parameter's value as the Pulumi program sets it."""
    return str(deployed_parameters(synthesis, workflow)[name])


def _custom_property_names(synthesis: Synthesis) -> set[str]:
    """The custom property spellings the workflows' Service Bus sends use (HTTP lower-cases headers)."""
    names: set[str] = set()

    def visit(actions: dict[str, Any]) -> None:
        for action in actions.values():
            inputs = action.get("inputs") if isinstance(action.get("inputs"), dict) else {}
            if action.get("type") == "Http" and "/messages" in json.dumps(inputs.get("uri", "")):
                names.update(h for h in inputs.get("headers", {}) if h.lower() not in _NOT_CUSTOM_PROPERTIES)
            for nested in _nested_actions(action):
                visit(nested)

    for resource in synthesis.of_type("logic:Workflow"):
        visit(resource.revealed_inputs()["definition"].get("actions", {}))
    return names


def _nested_actions(action: dict[str, Any]) -> list[dict[str, Any]]:
    """The action lists inside a scope, loop, condition or switch."""
    nested = [action.get("actions") or {}, (action.get("else") or {}).get("actions") or {}]
    nested += [case.get("actions") or {} for case in (action.get("cases") or {}).values()]
    nested.append((action.get("default") or {}).get("actions") or {})
    return nested
