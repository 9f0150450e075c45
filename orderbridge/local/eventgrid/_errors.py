"""Errors of the local Event Grid, under the local stack's root.

LocalStackError
├── EventGridConfigError        the synthesized topology cannot be served (a missing webhook URL, a bad setting)
├── SubscriptionValidationError a webhook did not answer the validation handshake with its code
└── AzuriteError                Azurite is not installed, does not start, or refuses a dead letter
"""
from __future__ import annotations

from orderbridge.local.errors import LocalStackError


class EventGridConfigError(LocalStackError):
    """The synthesized Event Grid topology cannot be served as asked."""


class SubscriptionValidationError(LocalStackError):
    """A subscription's webhook did not echo the validation code; no event is delivered to it."""


class AzuriteError(LocalStackError):
    """Azurite (the blob store for dead letters) is missing, does not start, or fails a write."""
