"""The one adapter to Pulumi's private APIs says what an SDK upgrade broke, instead of failing obscurely."""
from __future__ import annotations

import pytest

from infra import pulumi_internals
from infra.errors import PulumiInternalsChanged


def test_the_pinned_pulumi_has_every_internal_the_adapter_uses() -> None:
    pulumi_internals.check()


def test_a_missing_internal_is_named_with_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    from pulumi.runtime import rpc

    monkeypatch.delattr(rpc, "_special_secret_sig")
    with pytest.raises(PulumiInternalsChanged, match="_special_secret_sig.*infra/pulumi_internals.py"):
        pulumi_internals.check()


def test_a_changed_config_store_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from pulumi.runtime import config as runtime_config

    monkeypatch.setattr(runtime_config, "CONFIG", object())
    with pytest.raises(PulumiInternalsChanged, match="CONFIG is no longer a context variable"):
        pulumi_internals.check()
