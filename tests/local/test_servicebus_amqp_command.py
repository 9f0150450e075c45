"""`orderbridge local servicebus` as someone who only wants an emulator runs it: a process, a config file, a
connection string in endpoints.json, and the real SDK talking to it."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from azure.servicebus import ServiceBusClient, ServiceBusMessage

CONFIG = {"UserConfig": {"Namespaces": [{"Name": "sbemulatorns", "Queues": [
    {"Name": "queue.1", "Properties": {"LockDuration": "PT30S", "MaxDeliveryCount": 3, "RequiresSession": False}},
]}]}}
RUNNER = "from orderbridge.local.servicebus import servicebus_command; servicebus_command()"


def test_the_command_serves_the_configs_queues_and_publishes_its_connection_string(tmp_path: Path) -> None:
    config = tmp_path / "Config.json"
    config.write_text(json.dumps(CONFIG), encoding="utf-8")
    state_dir = tmp_path / "state"
    process = subprocess.Popen(
        [sys.executable, "-c", RUNNER, "--config", str(config), "--state-dir", str(state_dir), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        endpoints = state_dir / "endpoints.json"
        deadline = time.monotonic() + 20
        while not endpoints.exists():
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "endpoints.json was not written within 20 s"
            time.sleep(0.05)
        service_bus = json.loads(endpoints.read_text(encoding="utf-8"))["service_bus"]
        assert service_bus["queues"] == ["queue.1"]
        assert "UseDevelopmentEmulator=true" in service_bus["connection_string"]
        with ServiceBusClient.from_connection_string(service_bus["connection_string"]) as client:
            with client.get_queue_sender("queue.1") as sender:
                sender.send_messages(ServiceBusMessage(b"hello", message_id="h-1"))
            with client.get_queue_receiver("queue.1", max_wait_time=2) as receiver:
                (message,) = receiver.receive_messages(max_wait_time=2)
                assert message.message_id == "h-1"
                receiver.complete_message(message)
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=20)[0]
    assert service_bus["connection_string"] in output
    assert process.returncode == 0, output
