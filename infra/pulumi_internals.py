"""The one module that uses the Pulumi SDK's private APIs; everything else goes through it.

The SDK has no public way to list every config key of a stack, to run a program to completion
outside the engine (offline synthesis), or to recognise secret and asset markers on the wire. What
this module uses is checked by `check()`, which names what a Pulumi upgrade broke.
"""
from __future__ import annotations

import asyncio

from collections.abc import Awaitable, Callable
from importlib.metadata import version
from typing import Any

from infra.errors import PulumiInternalsChanged



def _internals() -> dict[str, Any]:
    """Every private name this module relies on, looked up now; raises if one is gone."""
    try:
        from pulumi.runtime import config as runtime_config
        from pulumi.runtime import rpc
        from pulumi.runtime.stack import run_pulumi_func
        from pulumi.runtime.sync_await import _sync_await

        return {
            "config": runtime_config.CONFIG,
            "config_env": runtime_config.get_config_env,
            "secret_keys_env": runtime_config.get_config_secret_keys_env,
            "is_secret": runtime_config.is_config_secret,
            "sig_key": rpc._special_sig_key,
            "secret_sig": rpc._special_secret_sig,
            "asset_sig": rpc._special_asset_sig,
            "run_pulumi_func": run_pulumi_func,
            "sync_await": _sync_await,
        }
    except (ImportError, AttributeError) as exc:
        raise PulumiInternalsChanged(
            f"pulumi {version('pulumi')} no longer has {exc.name if isinstance(exc, ImportError) else exc}:"
            " infra/pulumi_internals.py must be adapted to this release, or pin the pulumi version"
            " pyproject.toml names"
        ) from exc


_PULUMI = _internals()
SIG_KEY: str = _PULUMI["sig_key"]
SECRET_SIG: str = _PULUMI["secret_sig"]
ASSET_SIG: str = _PULUMI["asset_sig"]


def check() -> None:
    """Raise PulumiInternalsChanged unless every internal is present and behaves as relied on."""
    internals = _internals()
    markers = (internals["sig_key"], internals["secret_sig"], internals["asset_sig"])
    if not all(isinstance(m, str) and m for m in markers):
        raise PulumiInternalsChanged(
            f"pulumi {version('pulumi')}: the wire markers for secrets and assets are no longer strings;"
            " adapt infra/pulumi_internals.py"
        )
    if not callable(getattr(internals["config"], "get", None)):
        raise PulumiInternalsChanged(
            f"pulumi {version('pulumi')}: runtime config CONFIG is no longer a context variable;"
            " adapt infra/pulumi_internals.py"
        )


def stack_config() -> tuple[dict[str, str], set[str]]:
    """Every `project:key` config value of the current stack and the keys that are secrets.

    A deployment hands config over in the environment, mocks (synth, tests) through set_all_config;
    both sources are merged here.
    """
    values = {**_PULUMI["config_env"](), **_PULUMI["config"].get()}
    secret_keys = set(_PULUMI["secret_keys_env"]()) | {k for k in values if _PULUMI["is_secret"](k)}
    return {k: str(v) for k, v in values.items()}, secret_keys


def run_to_completion(program: Callable[[], Awaitable[None] | None]) -> None:
    """Run a Pulumi program function and wait for every registration it makes (offline synthesis)."""
    ensure_event_loop()
    _PULUMI["sync_await"](_PULUMI["run_pulumi_func"](program))


def ensure_event_loop() -> None:
    """Pulumi's `_sync_await` runs on the thread's current loop (`asyncio.get_event_loop()`); once an
    `asyncio.run()` has ended on this thread there is none, and Python 3.11 raises instead of making one."""
    policy = asyncio.get_event_loop_policy()
    try:
        loop = policy.get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        policy.set_event_loop(policy.new_event_loop())
