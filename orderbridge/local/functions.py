"""The local Functions host: the real integrator functions, triggered by the local Service Bus.

Like the Azure host it indexes `function_app.app` (`FunctionApp.get_functions()`), resolves each
trigger's binding expressions (`%ONLINE_ORDERS_QUEUE%`) from the app settings the Pulumi program
sets, reads `host.json`'s `extensions.serviceBus`, and runs each Service Bus trigger with that
concurrency: `maxConcurrentCalls` workers per plain queue, `maxConcurrentSessions` per session
queue (one call per session at a time), all sharing the Python worker's thread pool
(`PYTHON_THREADPOOL_THREAD_COUNT`). It renews message and session locks while a call runs, up to
`maxAutoLockRenewalDuration`, and settles as the extension does with `autoCompleteMessages`:
return → complete, exception → abandon, so Service Bus redelivers until `maxDeliveryCount`
(https://learn.microsoft.com/azure/azure-functions/functions-bindings-service-bus-trigger#peeklock-behavior,
https://learn.microsoft.com/azure/azure-functions/functions-bindings-service-bus#hostjson-settings).
The function receives an `azure.functions.ServiceBusMessage`, the class the worker builds, with
Azure's 1-based `delivery_count`. The integrators' runtime is installed with the local broker as
their `MessageSender` and the simulated clock, so their retries, parks and backoff run as in Azure.

Differences from Azure: `functionTimeout` is not enforced (a thread cannot be killed); one host
per process (the integrators' runtime is process-wide); no scale-out across instances.
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from orderbridge.local.errors import LocalStackError
from orderbridge.local.servicebus import (
    Broker,
    BrokerClosed,
    BrokerSender,
    Clock,
    MessageLockLost,
    MessageState,
    ReceivedMessage,
    SessionCannotBeLocked,
    SessionLock,
    SessionLockLost,
)
from orderbridge.synth import Synthesis

logger = logging.getLogger("orderbridge.local.functions")

INTEGRATOR_DIR = Path(__file__).resolve().parents[2] / "integrator_func"
SERVICE_BUS_TRIGGER = "serviceBusTrigger"
_BINDING_EXPRESSION = re.compile(r"%([^%]+)%")
_TIMESPAN = re.compile(r"^(?:(?P<days>\d+)\.)?(?P<hours>\d{1,2}):(?P<minutes>\d{2}):(?P<seconds>\d{2}(?:\.\d+)?)$")
# How often an idle worker looks again (wall seconds) and notices a stop.
_POLL_SECONDS = 0.2
# ServiceBusReceivedMessage.State as the worker passes it (Active 0, Deferred 1, Scheduled 2).
_STATE_NUMBERS = {MessageState.ACTIVE: 0, MessageState.DEFERRED: 1, MessageState.SCHEDULED: 2}


@dataclass(frozen=True)
class ServiceBusHostSettings:
    """`host.json` extensions.serviceBus, with the extension's defaults for what it leaves out."""

    max_concurrent_calls: int = 16
    max_concurrent_sessions: int = 8
    max_auto_lock_renewal: timedelta = timedelta(minutes=5)
    session_idle_timeout: timedelta | None = None
    auto_complete_messages: bool = True


@dataclass(frozen=True)
class Trigger:
    """One Service Bus-triggered function, its bindings resolved."""

    function_name: str
    queue: str
    sessions: bool
    arg_name: str
    user_function: Callable[..., Any] = field(repr=False)


@dataclass(frozen=True)
class Invocation:
    """One call of a function and how its message was settled."""

    function_name: str
    message_id: str
    session_id: str | None
    delivery_count: int
    outcome: str  # "Completed", "Abandoned", or "LockLost" (settlement failed: Service Bus redelivers)
    error: str | None = None  # the exception's type, for an abandoned message


def app_settings_from_synthesis(synthesis: Synthesis, local: Mapping[str, str]) -> dict[str, str]:
    """The Function App's app settings as the Pulumi program sets them, with `local` values replacing
    theirs (the namespace host, the ERP and ECP base URLs, API keys for Key Vault references)."""
    apps = [a for a in synthesis.of_type("web:WebApp") if "functionapp" in str(a.revealed_inputs().get("kind", ""))]
    if len(apps) != 1:
        raise LocalStackError(
            f"stack {synthesis.stack} declares {len(apps)} Function Apps; the local host runs exactly one"
        )
    declared = apps[0].revealed_inputs().get("siteConfig", {}).get("appSettings", [])
    return {**{str(s["name"]): str(s["value"]) for s in declared}, **local}


def read_host_json(path: Path) -> ServiceBusHostSettings:
    """The Service Bus settings of `host.json`."""
    try:
        section = json.loads(path.read_text(encoding="utf-8")).get("extensions", {}).get("serviceBus", {})
    except (OSError, json.JSONDecodeError) as exc:
        raise LocalStackError(f"cannot read {path}: {exc}") from exc
    defaults = ServiceBusHostSettings()
    idle = section.get("sessionIdleTimeout")
    return ServiceBusHostSettings(
        max_concurrent_calls=int(section.get("maxConcurrentCalls", defaults.max_concurrent_calls)),
        max_concurrent_sessions=int(section.get("maxConcurrentSessions", defaults.max_concurrent_sessions)),
        max_auto_lock_renewal=_timespan(section["maxAutoLockRenewalDuration"], path)
        if "maxAutoLockRenewalDuration" in section else defaults.max_auto_lock_renewal,
        session_idle_timeout=_timespan(idle, path) if idle else None,
        auto_complete_messages=bool(section.get("autoCompleteMessages", True)),
    )


def discover_triggers(app: Any, app_settings: Mapping[str, str]) -> list[Trigger]:
    """The app's Service Bus triggers, binding expressions resolved from `app_settings` as the runtime does.

    https://learn.microsoft.com/azure/azure-functions/functions-bindings-expressions-patterns#binding-expressions---app-settings
    """
    triggers = []
    for function in _indexed(app):
        name = function.get_function_name()
        for binding in function.get_bindings():
            if binding.type != SERVICE_BUS_TRIGGER:
                continue
            where = f"function {name}"
            _check_connection(str(binding.connection), app_settings, where)
            triggers.append(Trigger(
                function_name=name,
                queue=resolve_binding_expression(str(binding.queue_name), app_settings, where),
                sessions=bool(binding.is_sessions_enabled),
                arg_name=binding.name,
                user_function=function.get_user_function(),
            ))
    return triggers


def resolve_binding_expression(text: str, app_settings: Mapping[str, str], where: str) -> str:
    """`text` with each `%NAME%` replaced by app setting NAME; a missing setting fails indexing, as in Azure."""

    def value(match: re.Match[str]) -> str:
        setting = match.group(1)
        if not app_settings.get(setting):
            raise LocalStackError(
                f"{where}: the binding expression %{setting}% does not resolve: app setting {setting} is not set"
            )
        return app_settings[setting]

    return _BINDING_EXPRESSION.sub(value, text)


def load_function_app(app_dir: Path = INTEGRATOR_DIR) -> Any:
    """`function_app.app` from `app_dir`, which goes on sys.path as the worker's script root."""
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    return importlib.import_module("function_app").app


def host_message(message: ReceivedMessage) -> Any:
    """The `azure.functions.ServiceBusMessage` the Python worker would build for `message`."""
    from azure.functions.servicebus import ServiceBusMessage

    properties = dict(message.application_properties)
    return ServiceBusMessage(
        body=message.body,
        application_properties=properties,
        user_properties=dict(properties),
        content_type=message.content_type,
        correlation_id=message.correlation_id,
        dead_letter_error_description=message.dead_letter_error_description,
        dead_letter_reason=message.dead_letter_reason,
        delivery_count=message.delivery_count,
        enqueued_time_utc=message.enqueued_time,
        expires_at_utc=message.expires_at,
        label=message.subject,
        locked_until=message.locked_until,
        lock_token=message.lock_token,
        message_id=message.message_id,
        partition_key=message.partition_key,
        reply_to=message.reply_to,
        reply_to_session_id=message.reply_to_session_id,
        scheduled_enqueue_time_utc=message.scheduled_enqueue_time,
        sequence_number=message.sequence_number,
        session_id=message.session_id,
        state=_STATE_NUMBERS[message.state],
        subject=message.subject,
        time_to_live=message.time_to_live,
        to=message.to,
    )


class FunctionsHost:
    """Runs the app's Service Bus triggers against `broker` on worker threads; use as a context manager.

    `app_settings` are the Function App's (see `app_settings_from_synthesis`); `build_runtime`
    options such as HTTP timeouts go in `runtime_options`. `on_invocation` is told of every call.
    """

    def __init__(
        self,
        broker: Broker,
        *,
        clock: Clock,
        app_settings: Mapping[str, str],
        app: Any = None,
        host_json: Path = INTEGRATOR_DIR / "host.json",
        runtime_options: Mapping[str, Any] | None = None,
        on_invocation: Callable[[Invocation], None] | None = None,
    ) -> None:
        self._broker = broker
        self._clock = clock
        self._app_settings = dict(app_settings)
        self._app = app
        self._settings = read_host_json(host_json)
        self._runtime_options = dict(runtime_options or {})
        self._on_invocation = on_invocation
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._invocations: list[Invocation] = []
        self._record_lock = threading.Lock()
        self._pool = threading.BoundedSemaphore(_worker_threads(self._app_settings))
        self._renewer = _LockRenewer(clock, self._settings.max_auto_lock_renewal, self._stop)
        self.triggers: list[Trigger] = []

    def __enter__(self) -> "FunctionsHost":
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        """Index the app, install the integrators' runtime, and start the listeners."""
        if not self._settings.auto_complete_messages:
            raise LocalStackError(
                "host.json sets autoCompleteMessages to false; the local host settles only as the extension does"
                " with true"
            )
        app = self._app if self._app is not None else load_function_app()
        self.triggers = discover_triggers(app, self._app_settings)
        for trigger in self.triggers:
            self._check_queue(trigger)
        self._install_runtime()
        self._threads = [threading.Thread(target=self._renewer.run, name="lock-renewer", daemon=True)]
        for trigger in self.triggers:
            count = self._settings.max_concurrent_sessions if trigger.sessions else self._settings.max_concurrent_calls
            work = self._session_worker if trigger.sessions else self._queue_worker
            self._threads += [
                threading.Thread(target=work, args=(trigger,), name=f"{trigger.function_name}-{i}", daemon=True)
                for i in range(count)
            ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Let running calls finish, stop the listeners, and uninstall the runtime."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        from order_integration import runtime

        runtime.install_runtime(None)

    def invocations(self) -> list[Invocation]:
        """Every call so far, in the order they were settled."""
        with self._record_lock:
            return list(self._invocations)

    def _check_queue(self, trigger: Trigger) -> None:
        """The trigger's queue exists and agrees about sessions, or the listener could never start (as in Azure)."""
        entity = self._broker.entities.get(trigger.queue)
        if entity is None:
            raise LocalStackError(
                f"function {trigger.function_name} listens on queue {trigger.queue!r}, which the namespace lacks"
            )
        if entity.requires_session != trigger.sessions:
            raise LocalStackError(
                f"function {trigger.function_name}: is_sessions_enabled={trigger.sessions} but queue {trigger.queue!r}"
                f" has requiresSession={entity.requires_session}"
            )

    def _install_runtime(self) -> None:
        from order_integration import runtime

        runtime.install_runtime(runtime.build_runtime(
            self._app_settings, sender=BrokerSender(self._broker), now=self._clock.now, **self._runtime_options,
        ))

    def _queue_worker(self, trigger: Trigger) -> None:
        """One of `maxConcurrentCalls` listeners on a plain queue."""
        while not self._stop.is_set():
            try:
                messages = self._broker.receive(trigger.queue, timeout=_POLL_SECONDS)
            except BrokerClosed:
                return
            for message in messages:
                token = str(message.lock_token)
                self._invoke(trigger, message, renew=lambda: self._broker.renew_lock(trigger.queue, token))

    def _session_worker(self, trigger: Trigger) -> None:
        """One of `maxConcurrentSessions` listeners: holds one session at a time, one call at a time."""
        while not self._stop.is_set():
            try:
                session = self._broker.accept_session(trigger.queue, timeout=_POLL_SECONDS)
            except SessionCannotBeLocked:
                continue
            except BrokerClosed:
                return
            try:
                self._drain_session(trigger, session)
            except SessionLockLost:
                logger.warning("lost the lock on session %s of %s; Service Bus hands it to the next receiver",
                               session.session_id, trigger.queue)
            except BrokerClosed:
                return
            finally:
                self._release(session)

    def _drain_session(self, trigger: Trigger, session: SessionLock) -> None:
        """Deliver the session's messages in order until it stays idle for `sessionIdleTimeout`.

        Waits in slices of at most `_POLL_SECONDS`, so a stop is noticed even at time scale 1.
        """
        idle_timeout = self._settings.session_idle_timeout
        idle = self._clock.wall_seconds(idle_timeout.total_seconds()) if idle_timeout else _POLL_SECONDS
        holder = {"session": session}

        def renew() -> datetime:
            holder["session"] = self._broker.renew_session_lock(holder["session"])
            return holder["session"].locked_until

        idle_until = time.monotonic() + idle
        while not self._stop.is_set():
            remaining = idle_until - time.monotonic()
            messages = self._broker.receive_from_session(
                holder["session"], timeout=max(min(remaining, _POLL_SECONDS), 0.0)
            )
            if messages:
                self._invoke(trigger, messages[0], renew=renew)
                idle_until = time.monotonic() + idle
            elif remaining <= 0:
                return

    def _release(self, session: SessionLock) -> None:
        try:
            self._broker.release_session(session)
        except BrokerClosed:
            pass  # closing the broker ends every lock anyway

    def _invoke(self, trigger: Trigger, message: ReceivedMessage, *, renew: Callable[[], datetime]) -> None:
        """Call the function with `message` on the worker pool, renewing its lock meanwhile, then settle."""
        error: BaseException | None = None
        with self._pool, self._renewer.renewing(message.locked_until, renew):  # type: ignore[arg-type]
            try:
                trigger.user_function(**{trigger.arg_name: host_message(message)})
            except Exception as exc:  # the host catches every failure of a function and abandons
                error = exc
        self._settle(trigger, message, error)

    def _settle(self, trigger: Trigger, message: ReceivedMessage, error: BaseException | None) -> None:
        token = message.lock_token
        try:
            if error is None:
                self._broker.complete(trigger.queue, token)  # type: ignore[arg-type]
                outcome = "Completed"
            else:
                logger.warning(
                    "%s failed with %s on message %s (delivery %d); abandoned, Service Bus redelivers it",
                    trigger.function_name, type(error).__name__, message.message_id, message.delivery_count,
                )
                self._broker.abandon(trigger.queue, token)  # type: ignore[arg-type]
                outcome = "Abandoned"
        except (MessageLockLost, SessionLockLost):
            logger.error("%s: the lock on message %s was lost before it was settled; Service Bus redelivers it",
                         trigger.function_name, message.message_id)
            outcome = "LockLost"
        self._record(Invocation(trigger.function_name, message.message_id, message.session_id, message.delivery_count,
                                outcome, None if error is None else type(error).__name__))

    def _record(self, invocation: Invocation) -> None:
        with self._record_lock:
            self._invocations.append(invocation)
        if self._on_invocation is not None:
            self._on_invocation(invocation)


class _LockRenewer:
    """Renews the locks of running calls at half their remaining time, up to `maxAutoLockRenewalDuration`."""

    def __init__(self, clock: Clock, limit: timedelta, stop: threading.Event) -> None:
        self._clock = clock
        self._limit = limit
        self._stop = stop
        self._changed = threading.Condition()
        self._locks: dict[int, _RenewedLock] = {}
        self._keys = iter(range(1, sys.maxsize))

    @contextmanager
    def renewing(self, locked_until: datetime, renew: Callable[[], datetime]) -> Iterator[None]:
        """Keep a lock alive while the block runs."""
        with self._changed:
            key = next(self._keys)
            self._locks[key] = _RenewedLock(
                renew, locked_until, self._clock.now() + self._limit, self._clock.wall_until(locked_until) / 2
            )
            self._changed.notify()
        try:
            yield
        finally:
            with self._changed:
                del self._locks[key]

    def run(self) -> None:
        """The renewer thread: sleeps until the next lock is half-way to expiry."""
        with self._changed:
            while not self._stop.is_set():
                for key, lock in list(self._locks.items()):
                    if self._clock.now() < lock.deadline and lock.wall_to_renewal(self._clock) <= 0:
                        self._renew(key, lock)
                waits = [max(lock.wall_to_renewal(self._clock), 0.01) for lock in self._locks.values()]
                self._changed.wait(min([_POLL_SECONDS, *waits]))

    def _renew(self, key: int, lock: "_RenewedLock") -> None:
        try:
            self._locks[key] = lock.renewed(lock.renew(), self._clock)
        except (MessageLockLost, SessionLockLost, BrokerClosed) as exc:
            # The call goes on; its settlement then fails and Service Bus redelivers, as in Azure.
            logger.error("could not renew a lock while its function runs: %s", type(exc).__name__)
            del self._locks[key]


@dataclass
class _RenewedLock:
    renew: Callable[[], datetime]
    locked_until: datetime
    deadline: datetime
    half_life: float  # wall seconds before expiry at which to renew

    def wall_to_renewal(self, clock: Clock) -> float:
        """Wall seconds until the lock is half-way to expiry."""
        return clock.wall_until(self.locked_until) - self.half_life

    def renewed(self, locked_until: datetime, clock: Clock) -> "_RenewedLock":
        return _RenewedLock(self.renew, locked_until, self.deadline, clock.wall_until(locked_until) / 2)


def _indexed(app: Any) -> list[Any]:
    """`app.get_functions()`, callable more than once: azure-functions 1.26 remembers indexed names and
    refuses them as duplicates on a second call, so that record is cleared around the call."""
    app.functions_bindings = None
    try:
        return list(app.get_functions())
    finally:
        app.functions_bindings = None


def _check_connection(prefix: str, app_settings: Mapping[str, str], where: str) -> None:
    """The trigger's `connection` must name settings, as the extension needs (identity or connection string)."""
    if not (app_settings.get(f"{prefix}__fullyQualifiedNamespace") or app_settings.get(prefix)):
        raise LocalStackError(
            f"{where}: connection {prefix!r} has no app setting {prefix}__fullyQualifiedNamespace (or {prefix});"
            " pass the local namespace host in the app settings"
        )


def _worker_threads(app_settings: Mapping[str, str]) -> int:
    """The Python worker's thread pool: PYTHON_THREADPOOL_THREAD_COUNT, else min(32, CPUs + 4)
    (https://learn.microsoft.com/azure/azure-functions/python-scale-performance-reference)."""
    configured = app_settings.get("PYTHON_THREADPOOL_THREAD_COUNT", "")
    return int(configured) if configured.isdigit() and int(configured) > 0 else min(32, (os.cpu_count() or 1) + 4)


def _timespan(text: str, path: Path) -> timedelta:
    """A .NET TimeSpan as host.json writes it: `[d.]hh:mm:ss[.fff]`."""
    match = _TIMESPAN.match(str(text))
    if match is None:
        raise LocalStackError(f"{path}: {text!r} is not a TimeSpan such as 00:05:00")
    parts = match.groupdict()
    return timedelta(days=int(parts["days"] or 0), hours=int(parts["hours"]), minutes=int(parts["minutes"]),
                     seconds=float(parts["seconds"]))
