"""The local Event Grid serves what the stack declares: its topics and subscriptions, read from synth."""
from __future__ import annotations

import dataclasses

import pytest

from orderbridge.local.eventgrid import EventGridConfigError, read_topology
from orderbridge.synth import Synthesis
from topology.pipelines import PIPELINES


def test_every_pipeline_topic_and_subscription_is_served_with_its_synthesized_settings(dev: Synthesis) -> None:
    topology = read_topology(dev)
    for pipeline in PIPELINES:
        [subscription] = topology.subscriptions_of(pipeline.topic_name)
        assert subscription.name == pipeline.workflow_name
        assert subscription.included_event_types == (pipeline.event_type,)
        assert subscription.dead_letter_container == f"{pipeline.topic_name}-deadletters"
        assert (subscription.max_delivery_attempts, subscription.ttl_minutes, subscription.max_events_per_batch) == (30, 1440, 1)
        assert topology.topic(pipeline.topic_name).resource_id.endswith(f"/Microsoft.EventGrid/topics/{pipeline.topic_name}")


def test_a_setting_azure_would_refuse_is_refused_naming_the_subscription(dev: Synthesis) -> None:
    [first, *rest] = dev.of_type("eventgrid:EventSubscription")
    inputs = first.revealed_inputs()
    broken = dataclasses.replace(first, inputs={**inputs, "retryPolicy": {**inputs["retryPolicy"], "maxDeliveryAttempts": 31}})
    resources = [broken if r is first else r for r in dev.resources]
    with pytest.raises(EventGridConfigError, match=rf"'{inputs['eventSubscriptionName']}': maxDeliveryAttempts is 31"):
        read_topology(dataclasses.replace(dev, resources=resources))
