"""Benchmark of the local Service Bus's AMQP front (issue 13). Prints figures, asserts nothing.

    PYTHONPATH=.:integrator_func .venv/bin/python benchmarks/bench_servicebus_amqp.py [--messages 1000] [--prefetch 100]

One broker on a fresh state dir (SQLite, full sync), the AMQP front, and the REST front under
uvicorn, all in this process. 1 KB messages; one sender and one receiver through the real
azure-servicebus SDK, opened before the clock starts (the SDK takes about 0.5 s to open a link and
as long to close one, mostly its own polling):
1. AMQP send, one message per call (each waits for its disposition, i.e. for the message on disk);
2. AMQP send in batches of 100 (one transaction per batch);
3. AMQP receive (peek-lock, prefetch on) and complete, each complete waiting for its outcome;
4. re-scheduling as the integrators do in an ERP outage: `AzureServiceBusSender.schedule` with its
   kept sender link, against a link opened per schedule (what the sender did before);
5. REST send (`POST /{queue}/messages`, one keep-alive connection) for comparison;
against the issue's aim of 500 messages/s (printed MET or MISSED).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import uvicorn
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusReceiver, ServiceBusSender

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "integrator_func")]

from order_integration.servicebus import AzureServiceBusSender, OutboundMessage  # noqa: E402
from orderbridge.local.clock import SimClock  # noqa: E402
from orderbridge.local.servicebus import AmqpFront, Broker, Credentials, EntitySettings, rest_app  # noqa: E402

AIM = 500.0
BODY = b"x" * 1024
KEY_NAME, KEY = "RootManageSharedAccessKey", "YmVuY2htYXJrLWtleQ=="
TOKEN = "benchmark-bearer-token"
QUEUE = "bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--prefetch", type=int, default=100)
    arguments = parser.parse_args()
    count = arguments.messages
    with tempfile.TemporaryDirectory() as folder:
        broker = Broker(Path(folder) / "servicebus.sqlite", [EntitySettings(QUEUE)], SimClock(1.0))
        credentials = Credentials(bearer_token=TOKEN, sas_keys={KEY_NAME: KEY})
        try:
            with AmqpFront(broker, credentials) as front, ServiceBusClient.from_connection_string(
                front.connection_string(KEY_NAME)
            ) as client:
                with client.get_queue_sender(QUEUE) as sender:
                    report("AMQP send, one per call", count, lambda: send_singly(sender, count))
                    report("AMQP send, batches of 100", count, lambda: send_batches(sender, count))
                with client.get_queue_receiver(QUEUE, prefetch_count=arguments.prefetch, max_wait_time=5) as receiver:
                    report(f"AMQP receive + complete (prefetch {arguments.prefetch})", 2 * count,
                           lambda: receive_and_complete(receiver, 2 * count, arguments.prefetch))
                connection_string = front.connection_string(KEY_NAME)
                report("AzureServiceBusSender.schedule, kept link", count,
                       lambda: reschedule(AzureServiceBusSender(connection_string=connection_string), count))
                report("one link per schedule (the sender before)", 5,
                       lambda: reschedule_with_a_link_each(client, 5))
            with serving(rest_app(broker, credentials)) as base_url:
                report("REST send, one per request", count, lambda: send_rest(base_url, count))
        finally:
            broker.close()


def send_singly(sender: ServiceBusSender, count: int) -> None:
    for index in range(count):
        sender.send_messages(ServiceBusMessage(BODY, message_id=f"s-{index}"))


def send_batches(sender: ServiceBusSender, count: int) -> None:
    for start in range(0, count, 100):
        sender.send_messages([ServiceBusMessage(BODY, message_id=f"b-{index}")
                              for index in range(start, min(start + 100, count))])


def receive_and_complete(receiver: ServiceBusReceiver, count: int, prefetch: int) -> None:
    done = 0
    while done < count:
        batch = receiver.receive_messages(max_message_count=prefetch, max_wait_time=5)
        if not batch:
            raise RuntimeError(f"only {done} of {count} messages arrived")
        for message in batch:
            receiver.complete_message(message)
        done += len(batch)


def reschedule(sender: AzureServiceBusSender, count: int) -> None:
    """What the integrators do for each message during an ERP outage: schedule its retry."""
    at = datetime.now(timezone.utc) + timedelta(minutes=5)
    try:
        for index in range(count):
            sender.schedule(QUEUE, OutboundMessage(body=BODY, message_id=f"ord-{index}+retry1"), at)
    finally:
        sender.close()


def reschedule_with_a_link_each(client: ServiceBusClient, count: int) -> None:
    at = datetime.now(timezone.utc) + timedelta(minutes=5)
    for index in range(count):
        with client.get_queue_sender(QUEUE) as sender:
            sender.schedule_messages(ServiceBusMessage(BODY, message_id=f"old-{index}+retry1"), at)


def send_rest(base_url: str, count: int) -> None:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        for index in range(count):
            answer = http.post(f"/{QUEUE}/messages", content=BODY,
                               headers={"BrokerProperties": f'{{"MessageId": "r-{index}"}}'})
            answer.raise_for_status()


def report(what: str, count: int, run: Callable[[], None]) -> None:
    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    rate = count / seconds
    verdict = "" if what.startswith(("REST", "one link")) else f"  {'MET' if rate >= AIM else 'MISSED'} (aim {AIM:.0f}/s)"
    print(f"{what:45s} {count:6d} messages in {seconds:6.2f} s = {rate:7.0f} msg/s{verdict}")


@contextmanager
def serving(app: object) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


if __name__ == "__main__":
    main()
