"""Delivery from a local topic to a webhook: filter, batches, retries, timeouts, dead letters, restarts."""
from __future__ import annotations

import asyncio
import random
import re
import uuid
from pathlib import Path

import httpx
import pytest
from starlette.responses import Response

from orderbridge.local.clock import SimClock
from orderbridge.local.eventgrid import Azurite, EventGridTopology, LocalEventGrid, SubscriptionValidationError
from orderbridge.local.eventgrid._retry import RETRY_SCHEDULE_SECONDS, answered, retry_delay, timed_out
from tests.local._eventgrid_fixtures import (  # noqa: F401  (fixtures)
    ECP_SUBSCRIPTION,
    ECP_TOPIC,
    FAST,
    Received,
    Webhook,
    azurite,
    dev_topology,
    event,
    eventually,
    grid,
    read_dead_letters,
    with_subscription,
)

BLOB_NAME = re.compile(r"^ORDER-EVENTS-PROCESSOR/\d{4}/[1-9]\d?/[1-9]\d?/\d{1,2}/[0-9a-f-]{36}\.json$")


async def publish(eventgrid: LocalEventGrid, events: list[dict]) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.post(eventgrid.endpoint(ECP_TOPIC), json=events, headers={"aeg-sas-key": eventgrid.key(ECP_TOPIC)})
    assert answer.status_code == 200, answer.text


def status_from_data(received: Received) -> Response:
    """Answer what the (single) event asks for in `data.answer`."""
    return Response(status_code=received.body[0]["data"].get("answer", 200))


async def answer_503_until_dead_lettered(
    topology: EventGridTopology, state_dir: Path, azurite: Azurite, event_id: str
) -> int:
    """Publish one event to a webhook that always answers 503; the number of attempts once it is dead-lettered."""
    clock = SimClock(FAST)
    webhook = Webhook(clock, lambda received: Response(status_code=503))
    async with webhook, grid(topology, state_dir, clock, webhook, azurite) as eventgrid:
        await publish(eventgrid, [event(event_id)])
        await eventually(lambda: eventgrid.states(ECP_SUBSCRIPTION) == {"dead_lettered": 1})
    return len(webhook.notifications)


def container() -> str:
    return f"dl-{uuid.uuid4().hex[:12]}"


def test_only_included_event_types_are_delivered(dev_topology: EventGridTopology, tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock()
        async with Webhook(clock) as webhook, grid(dev_topology, tmp_path, clock, webhook, None) as eventgrid:
            await publish(eventgrid, [event("wanted"), event("other", event_type="ECP.Order.Cancelled")])
            await eventually(lambda: len(webhook.notifications) == 1)
            await asyncio.sleep(0.05)
            assert [e["id"] for r in webhook.notifications for e in r.body] == ["wanted"]
            assert [d["id"] for d in eventgrid.deliveries(ECP_SUBSCRIPTION)] == ["wanted"]

    asyncio.run(scenario())


def test_batches_hold_at_most_max_events_and_stay_within_the_preferred_size(
    dev_topology: EventGridTopology, tmp_path: Path
) -> None:
    by_count = with_subscription(dev_topology, ECP_SUBSCRIPTION, max_events_per_batch=3)
    by_size = with_subscription(dev_topology, ECP_SUBSCRIPTION, max_events_per_batch=10, preferred_batch_kilobytes=1)

    async def batch_sizes(topology: EventGridTopology, state_dir: Path, events: list[dict]) -> list[int]:
        clock = SimClock()
        async with Webhook(clock) as webhook, grid(topology, state_dir, clock, webhook, None) as eventgrid:
            await publish(eventgrid, events)
            await eventually(lambda: sum(len(r.body) for r in webhook.notifications) == len(events))
            return sorted(len(r.body) for r in webhook.notifications)

    padded = [event(f"p{i}", data={"pad": "x" * 150}) for i in range(5)]  # 468 bytes stored: two fit in 1 KB, three do not
    assert asyncio.run(batch_sizes(by_count, tmp_path / "count", [event(str(i)) for i in range(7)])) == [1, 3, 3]
    assert asyncio.run(batch_sizes(by_size, tmp_path / "size", padded)) == [1, 2, 2]


def test_retry_delays_follow_azures_schedule_with_status_minimums() -> None:
    rng = random.Random(7)
    for attempt, step in enumerate(RETRY_SCHEDULE_SECONDS, start=1):
        assert 0.9 * step <= retry_delay(attempt, answered(500), rng) <= 1.1 * step
    assert 0.9 * 12 * 3600 <= retry_delay(10, answered(500), rng) <= 1.1 * 12 * 3600
    assert 0.9 * 12 * 3600 <= retry_delay(29, timed_out(), rng) <= 1.1 * 12 * 3600
    assert retry_delay(1, answered(503), rng) >= 30  # "503 Service Unavailable: retry after 30 seconds or more"
    assert retry_delay(1, answered(408), rng) >= 120  # "408 Request Timeout: retry after 2 minutes or more"
    assert retry_delay(1, answered(429), rng) >= 10
    assert [answered(s).retriable for s in (400, 401, 403, 413)] == [False] * 4
    assert [answered(s).retriable for s in (404, 408, 429, 500, 503)] == [True] * 5


def test_failed_deliveries_are_retried_on_the_scaled_schedule_until_delivered(
    dev_topology: EventGridTopology, tmp_path: Path
) -> None:
    answers = iter([500, 429, 500, 404])

    async def scenario() -> list[float]:
        clock = SimClock(FAST)
        webhook = Webhook(clock, lambda received: Response(status_code=next(answers, 200)))
        async with webhook, grid(dev_topology, tmp_path, clock, webhook, None) as eventgrid:
            await publish(eventgrid, [event("retried")])
            await eventually(lambda: eventgrid.states(ECP_SUBSCRIPTION) == {"delivered": 1})
            [delivery] = eventgrid.deliveries(ECP_SUBSCRIPTION)
            assert delivery["attempts"] == 5
            assert [r.headers["aeg-delivery-count"] for r in webhook.notifications] == ["0", "1", "2", "3", "4"]
        return [r.at for r in webhook.notifications]

    times = asyncio.run(scenario())
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    for gap, step in zip(gaps, RETRY_SCHEDULE_SECONDS):
        assert gap >= 0.9 * step, (gaps, RETRY_SCHEDULE_SECONDS[:4])  # simulated seconds; the wall is 2000 x faster


def test_codes_azure_does_not_retry_are_dead_lettered_after_one_attempt(
    dev_topology: EventGridTopology, tmp_path: Path, azurite: Azurite
) -> None:
    dead_letters = container()
    topology = with_subscription(dev_topology, ECP_SUBSCRIPTION, dead_letter_container=dead_letters)

    async def scenario() -> None:
        clock = SimClock(FAST)
        async with Webhook(clock, status_from_data) as webhook, grid(topology, tmp_path, clock, webhook, azurite) as eventgrid:
            await publish(eventgrid, [event(f"e{code}", data={"answer": code}) for code in (400, 401, 403, 413)])
            await eventually(lambda: eventgrid.states(ECP_SUBSCRIPTION) == {"dead_lettered": 4})
            assert len(webhook.notifications) == 4  # one attempt each

    asyncio.run(scenario())
    blobs = read_dead_letters(azurite, dead_letters, "ORDER-EVENTS-PROCESSOR/")
    assert all(BLOB_NAME.match(name) for name in blobs), list(blobs)
    found = {letter["id"]: letter for letters in blobs.values() for letter in letters}
    expected = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 413: "PayloadTooLarge"}
    for code, outcome in expected.items():
        letter = found[f"e{code}"]
        assert (letter["deadLetterReason"], letter["lastDeliveryOutcome"]) == (f"UndeliverableDueToHttp{outcome}", outcome)
        assert (letter["deliveryAttempts"], letter["lastHttpStatusCode"]) == (1, code)


def test_max_delivery_attempts_end_in_a_dead_letter_blob_in_azures_layout(
    dev_topology: EventGridTopology, tmp_path: Path, azurite: Azurite
) -> None:
    dead_letters = container()
    topology = with_subscription(dev_topology, ECP_SUBSCRIPTION, max_delivery_attempts=3, dead_letter_container=dead_letters)

    assert asyncio.run(answer_503_until_dead_lettered(topology, tmp_path, azurite, "exhausted")) == 3
    [(name, [letter])] = read_dead_letters(azurite, dead_letters, "ORDER-EVENTS-PROCESSOR/").items()
    assert BLOB_NAME.match(name), name
    assert letter["id"] == "exhausted" and letter["data"] == {"orderId": "exhausted"}
    assert letter["topic"] == topology.topic(ECP_TOPIC).resource_id
    assert letter["deadLetterReason"] == "MaxDeliveryAttemptsExceeded"
    assert (letter["deliveryAttempts"], letter["lastDeliveryOutcome"], letter["lastHttpStatusCode"]) == (3, "Busy", 503)
    assert letter["publishTime"] < letter["lastDeliveryAttemptTime"]


def test_an_event_past_its_time_to_live_is_dead_lettered_at_its_next_attempt(
    dev_topology: EventGridTopology, tmp_path: Path, azurite: Azurite
) -> None:
    dead_letters = container()
    topology = with_subscription(dev_topology, ECP_SUBSCRIPTION, ttl_minutes=1, dead_letter_container=dead_letters)

    asyncio.run(answer_503_until_dead_lettered(topology, tmp_path, azurite, "expired"))
    [letters] = read_dead_letters(azurite, dead_letters, "ORDER-EVENTS-PROCESSOR/").values()
    assert [(d["id"], d["deadLetterReason"]) for d in letters] == [("expired", "TimeToLiveExceeded")]
    assert 1 <= letters[0]["deliveryAttempts"] < 30  # 503s 30 s apart until the minute ran out (fewer under load)


def test_the_answer_timeout_scales_with_the_clock_but_never_below_its_wall_floor(
    dev_topology: EventGridTopology, tmp_path: Path
) -> None:
    topology = with_subscription(dev_topology, ECP_SUBSCRIPTION, max_delivery_attempts=1, dead_letter_container=None)

    async def answer_after(received: Received) -> Response:
        await asyncio.sleep(received.body[0]["data"]["seconds"])
        return Response(status_code=200)

    async def scenario() -> None:
        clock = SimClock(FAST)  # Azure's 30 s are 15 ms here: only the 0.3 s floor lets a 0.05 s answer in
        webhook = Webhook(clock, answer_after)
        async with webhook, grid(topology, tmp_path, clock, webhook, None, answer_timeout_floor=0.3) as eventgrid:
            await publish(eventgrid, [event("quick", data={"seconds": 0.05}), event("slow", data={"seconds": 0.6})])
            settled = {"delivered", "dropped"}
            await eventually(lambda: sum(n for s, n in eventgrid.states(ECP_SUBSCRIPTION).items() if s in settled) == 2)
            outcomes = {d["id"]: (d["state"], d["lastDeliveryOutcome"]) for d in eventgrid.deliveries(ECP_SUBSCRIPTION)}
        assert outcomes == {"quick": ("delivered", "Delivered"), "slow": ("dropped", "TimedOut")}

    asyncio.run(scenario())


def test_events_accepted_before_a_restart_are_delivered_after_it(dev_topology: EventGridTopology, tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock(FAST)
        healthy = False
        webhook = Webhook(clock, lambda received: Response(status_code=200 if healthy else 503))
        async with webhook:
            async with grid(dev_topology, tmp_path, clock, webhook, None) as before:
                await publish(before, [event("kept")])
                await eventually(lambda: len(webhook.notifications) >= 1)
            healthy = True
            async with grid(dev_topology, tmp_path, clock, webhook, None) as after:
                await eventually(lambda: after.states(ECP_SUBSCRIPTION) == {"delivered": 1})
                assert [d["id"] for d in after.deliveries(ECP_SUBSCRIPTION)] == ["kept"]
        assert [r.kind for r in webhook.received].count("SubscriptionValidation") == 2  # same URL: no second handshake

    asyncio.run(scenario())


def test_a_webhook_that_fails_the_handshake_gets_no_events(dev_topology: EventGridTopology, tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock()
        async with Webhook(clock) as webhook:
            webhook.url += "-that-is-missing"  # 404 to the handshake
            with pytest.raises(SubscriptionValidationError, match="order-events-processor|erp-events-processor"):
                async with grid(dev_topology, tmp_path, clock, webhook, None):
                    pass

    asyncio.run(scenario())
