"""Each stack is synthesized once per test session, and cached on disk by the tree's content
(orderbridge.synth._cache), so test workers and later runs share one synthesis."""
from __future__ import annotations

import pytest

from orderbridge.synth import Synthesis, synthesize


@pytest.fixture(scope="session")
def dev() -> Synthesis:
    return synthesize("dev")


@pytest.fixture(scope="session")
def prod() -> Synthesis:
    return synthesize("prod")


@pytest.fixture(scope="session", params=["dev", "prod"])
def stack(request: pytest.FixtureRequest) -> Synthesis:
    """Both stacks, for rules that hold everywhere."""
    return request.getfixturevalue(request.param)
