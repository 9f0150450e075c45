"""Fixtures: each test runs against both workflows, a real loopback source API and a fake Service Bus."""
from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from orderbridge.fake_apis._server import FakeApiServer
from orderbridge.wdl import HttpxTransport, VirtualClock

from tests.workflows._harness import API_KEY, PIPELINES, FakeServiceBus, WorkflowUnderTest


@pytest.fixture(params=PIPELINES, ids=lambda p: p.workflow)
def pipeline(request: pytest.FixtureRequest) -> WorkflowUnderTest:
    return request.param


@pytest.fixture
def source_server(pipeline: WorkflowUnderTest) -> Iterator[FakeApiServer]:
    """The pipeline's source API (fake ECP or fake ERP) listening on 127.0.0.1."""
    with pipeline.source_class(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def service_bus() -> FakeServiceBus:
    return FakeServiceBus(VirtualClock())


@pytest.fixture
def http_client() -> Iterator[HttpxTransport]:
    """The engine's real HTTP transport, for calls to the loopback source API."""
    with httpx.Client() as client:
        yield HttpxTransport(client)
