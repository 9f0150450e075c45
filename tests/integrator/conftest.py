"""Fixtures shared by the integrator tests."""
from tests.integrator._runtime_support import harness  # noqa: F401  (registers the fixture)
