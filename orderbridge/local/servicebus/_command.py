"""`orderbridge local servicebus`: the local broker alone, as a Service Bus emulator the real SDKs connect to.

The entities come from a stack's synthesized queues (`--stack`) or from a JSON file shaped like the
official emulator's Config.json (`--config`,
https://learn.microsoft.com/azure/service-bus-messaging/test-locally-with-service-bus-emulator):

    {"UserConfig": {"Namespaces": [{"Name": "sbemulatorns", "Queues": [
        {"Name": "queue.1", "Properties": {"LockDuration": "PT1M", "MaxDeliveryCount": 3, "RequiresSession": false,
         "DefaultMessageTimeToLive": "PT1H", "DeadLetteringOnMessageExpiration": false,
         "RequiresDuplicateDetection": false, "DuplicateDetectionHistoryTimeWindow": "PT20S"}}]}]}}

Time runs at wall speed. Messages live in `<state-dir>/servicebus.sqlite` and survive restarts; the
shared access key is made up per run, printed, and written with the connection string into
`<state-dir>/endpoints.json` once the listener accepts connections.
"""
from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any

import click

from infra.config import parse_duration
from orderbridge.local import state
from orderbridge.local.clock import SimClock
from orderbridge.local.errors import LocalStackError
from orderbridge.local.servicebus._amqp import AmqpFront
from orderbridge.local.servicebus._auth import ROOT_KEY_NAME, Credentials, new_sas_key
from orderbridge.local.servicebus._broker import Broker
from orderbridge.local.servicebus._entities import (
    DEFAULT_DUPLICATE_WINDOW,
    DEFAULT_LOCK_DURATION,
    DEFAULT_MAX_DELIVERY_COUNT,
    EntitySettings,
    entities_from_synthesis,
)

STORE = "servicebus.sqlite"
DEFAULT_PORT = 5672  # the AMQP port, as the official emulator listens on it


@click.command("servicebus")
@click.option("--stack", default=None, help="Take the queues of this stack's synthesis (default: dev).")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Take the queues of a JSON file shaped like the official emulator's Config.json.")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".orderbridge-servicebus"),
              show_default=True, help="Where the messages and endpoints.json live.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="AMQP port (0: any free port).")
def servicebus_command(stack: str | None, config_file: Path | None, state_dir: Path, host: str, port: int) -> None:
    """Run the local Service Bus alone until Ctrl-C; print its connection string (UseDevelopmentEmulator=true)."""
    if stack is not None and config_file is not None:
        raise click.UsageError("pass --stack or --config, not both")
    entities = entities_from_config(config_file) if config_file else _stack_entities(stack or "dev")
    state_dir.mkdir(parents=True, exist_ok=True)
    credentials = Credentials(sas_keys={ROOT_KEY_NAME: new_sas_key()})
    broker = Broker(state_dir / STORE, entities, SimClock(1.0))
    try:
        with AmqpFront(broker, credentials, host=host, port=port) as front:
            connection_string = front.connection_string(ROOT_KEY_NAME)
            state.write_json(state_dir / state.ENDPOINTS, {"service_bus": {
                "connection_string": connection_string, "host": front.host, "port": front.port,
                "queues": sorted(entity.name for entity in entities),
            }})
            click.echo(f"Service Bus emulator on amqp://{front.host}:{front.port} with queues "
                       f"{', '.join(sorted(entity.name for entity in entities))}")
            click.echo(connection_string)
            click.echo(f"(also in {state_dir / state.ENDPOINTS}); Ctrl-C stops it")
            _wait_for_signal()
    finally:
        broker.close()


def entities_from_config(path: Path) -> list[EntitySettings]:
    """The queues of an emulator Config.json (every namespace's); topics are not supported locally."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        namespaces = config["UserConfig"]["Namespaces"]
        queues = [queue for namespace in namespaces for queue in namespace.get("Queues", [])]
        entities = [_queue_settings(queue) for queue in queues]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LocalStackError(
            f"{path} is not an emulator Config.json ({exc!r}); it needs UserConfig.Namespaces[].Queues[]"
            " with Name and Properties"
        ) from None
    if not entities:
        raise LocalStackError(f"{path} declares no queues")
    return entities


def _queue_settings(queue: dict[str, Any]) -> EntitySettings:
    properties = queue.get("Properties", {})
    ttl = properties.get("DefaultMessageTimeToLive")
    return EntitySettings(
        name=str(queue["Name"]),
        lock_duration=parse_duration(properties.get("LockDuration", _iso(DEFAULT_LOCK_DURATION.total_seconds()))),
        max_delivery_count=int(properties.get("MaxDeliveryCount", DEFAULT_MAX_DELIVERY_COUNT)),
        requires_session=bool(properties.get("RequiresSession", False)),
        requires_duplicate_detection=bool(properties.get("RequiresDuplicateDetection", False)),
        duplicate_detection_window=parse_duration(
            properties.get("DuplicateDetectionHistoryTimeWindow", _iso(DEFAULT_DUPLICATE_WINDOW.total_seconds()))
        ),
        default_message_ttl=parse_duration(ttl) if ttl else None,
        dead_lettering_on_expiration=bool(properties.get("DeadLetteringOnMessageExpiration", False)),
    )


def _iso(seconds: float) -> str:
    return f"PT{int(seconds)}S"


def _stack_entities(stack: str) -> list[EntitySettings]:
    from orderbridge.synth import synthesize  # synthesis loads Pulumi: only when a stack is asked for

    return entities_from_synthesis(synthesize(stack))


def _wait_for_signal() -> None:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
