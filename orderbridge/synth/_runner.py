"""Running the Pulumi program offline: the mocks instead of an engine, one fresh context per run."""
from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pulumi

from infra.config import PROJECT, load_config
from infra.package import REPO_ROOT, package_reference
from infra.program import build
from infra.pulumi_internals import ensure_event_loop, run_to_completion
from orderbridge.synth._cache import cached_synthesis
from orderbridge.synth._mocks import OfflineMocks, RecordingMonitor
from orderbridge.synth._stack_files import read_stack_file
from orderbridge.synth._state import Synthesis

Program = Callable[[], Mapping[str, Any]]


def _run(stack: str, values: Mapping[str, str], secret_keys: set[str], program: Program) -> Synthesis:
    ensure_event_loop()  # set_mocks takes the thread's current loop
    monitor = RecordingMonitor(OfflineMocks())
    pulumi.runtime.set_mocks(OfflineMocks(), project=PROJECT, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(dict(values), sorted(secret_keys))
    outputs: dict[str, Any] = {}

    def run_program() -> None:
        pulumi.Output.from_input(program()).apply(outputs.update)

    run_to_completion(run_program)
    resources = sorted(monitor.records, key=lambda r: (r.type, r.name))
    return Synthesis(stack, resources, outputs)


def run_offline(stack: str, program: Program, *, values: Mapping[str, str], secret_keys: set[str]) -> Synthesis:
    """Run `program` (which returns the stack outputs) under the offline mocks with the given config."""
    started = time.perf_counter()
    # A fresh context per run: Pulumi keeps its settings, root stack and config in context variables.
    synthesis = contextvars.Context().run(_run, stack, values, secret_keys, program)
    synthesis.seconds = time.perf_counter() - started
    return synthesis


def synthesize(
    stack: str,
    *,
    values: Mapping[str, str] | None = None,
    secret_keys: set[str] | None = None,
    repo_root: Path = REPO_ROOT,
) -> Synthesis:
    """The desired state of `stack`, from its stack file or from the given config `values`.

    A stack file's synthesis is cached by the content of everything it reads (`_cache`), so repeated
    runs, tests and the local stack pay for it once. Raises `infra.errors.StackConfigError` (every
    bad key) before any resource is registered.
    """
    if values is not None:
        return _synthesize(stack, values, secret_keys or set(), repo_root)
    return cached_synthesis(
        stack, repo_root, lambda: _synthesize(stack, *read_stack_file(stack, repo_root), repo_root)
    )


def _synthesize(stack: str, values: Mapping[str, str], secret_keys: set[str], repo_root: Path) -> Synthesis:
    return run_offline(
        stack,
        lambda: build(load_config(), package_reference(repo_root, require_built=False)),
        values=values,
        secret_keys=secret_keys,
    )
