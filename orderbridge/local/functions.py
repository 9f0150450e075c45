"""The local Functions host: the real integrator functions, triggered through azure-servicebus.

Like the Azure host it indexes `function_app.app` (`FunctionApp.get_functions()`), resolves each
trigger's binding expressions (`%ONLINE_ORDERS_QUEUE%`) from the app settings the Pulumi program
sets, reads `host.json`'s `extensions.serviceBus`, and runs each Service Bus trigger with that
concurrency: `maxConcurrentCalls` listeners per plain queue, `maxConcurrentSessions` per session
queue (one call per session at a time), all sharing the Python worker's thread pool
(`PYTHON_THREADPOOL_THREAD_COUNT`). It receives as the extension does, over AMQP with the real
client: a `ServiceBusReceiver` per listener (the SDK's receivers are not thread-safe), a session
receiver for the next available session, `prefetchCount` and `clientRetryOptions` from host.json.
It renews message and session locks while a call runs, up to `maxAutoLockRenewalDuration`, and
settles as the extension does with `autoCompleteMessages`: return → complete, exception → abandon,
so Service Bus redelivers until `maxDeliveryCount`
(https://learn.microsoft.com/azure/azure-functions/functions-bindings-service-bus-trigger#peeklock-behavior,
https://learn.microsoft.com/azure/azure-functions/functions-bindings-service-bus#hostjson-settings).
The function receives an `azure.functions.ServiceBusMessage`, the class the worker builds, with
Azure's 1-based `delivery_count`: the AMQP header carries DeliveryCount − 1 and the Python SDK shows
that raw value, so the host adds one, as the .NET extension does. The trigger's connection is the
app setting the binding names (`ServiceBusConnection`), which locally holds the local namespace's
connection string; the integrators send their retries and parks over the same connection.

The host renews locks itself rather than with the SDK's `AutoLockRenewer`: the local stack's locks
are in simulated time, and `AutoLockRenewer` compares them with the wall clock.

Differences from Azure: `functionTimeout` is not enforced (a thread cannot be killed); one host
per process (the integrators' runtime is process-wide); no scale-out across instances; each
listener has its own AMQP connection (the .NET extension shares one).
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from orderbridge.local.clock import RENEWAL_FLOOR_SECONDS
from orderbridge.local.errors import LocalStackError
from orderbridge.local.servicebus import Clock, EntitySettings
from orderbridge.synth import Synthesis

logger = logging.getLogger("orderbridge.local.functions")

INTEGRATOR_DIR = Path(__file__).resolve().parents[2] / "integrator_func"
SERVICE_BUS_TRIGGER = "serviceBusTrigger"
_BINDING_EXPRESSION = re.compile(r"%([^%]+)%")
_TIMESPAN = re.compile(r"^(?:(?P<days>\d+)\.)?(?P<hours>\d{1,2}):(?P<minutes>\d{2}):(?P<seconds>\d{2}(?:\.\d+)?)$")
# How long an idle listener waits for a message (wall seconds) before it looks at the stop flag.
_POLL_SECONDS = 0.5
# How long a session listener waits for a session to become available (wall seconds); each wait
# that ends empty costs a new connection, so not much shorter.
_SESSION_WAIT_SECONDS = 1.0
# The shortest wait for a session's next message (wall seconds), however fast the clock runs: a
# receive needs a round trip, and a shorter wait would end sessions that still have messages.
_SESSION_IDLE_FLOOR_SECONDS = 0.1
# A listener whose connection failed waits this long before it connects again.
_RECONNECT_SECONDS = 1.0
# How long `start` waits for the plain listeners to connect.
_CONNECT_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class ClientRetry:
    """`host.json` extensions.serviceBus.clientRetryOptions, as azure-servicebus takes them."""

    mode: str = "exponential"
    try_timeout: timedelta = timedelta(minutes=1)
    delay: timedelta = timedelta(seconds=0.8)
    max_delay: timedelta = timedelta(minutes=1)
    max_retries: int = 3

    def client_options(self) -> dict[str, Any]:
        """The `ServiceBusClient` keywords for these options."""
        return {
            "retry_mode": self.mode,
            "retry_total": self.max_retries,
            "retry_backoff_factor": self.delay.total_seconds(),
            "retry_backoff_max": self.max_delay.total_seconds(),
            "try_timeout": self.try_timeout.total_seconds(),
        }


@dataclass(frozen=True)
class ServiceBusHostSettings:
    """`host.json` extensions.serviceBus, with the extension's defaults for what it leaves out."""

    max_concurrent_calls: int = 16
    max_concurrent_sessions: int = 8
    max_auto_lock_renewal: timedelta = timedelta(minutes=5)
    session_idle_timeout: timedelta | None = None
    auto_complete_messages: bool = True
    prefetch_count: int = 0
    client_retry: ClientRetry = field(default_factory=ClientRetry)


@dataclass(frozen=True)
class Trigger:
    """One Service Bus-triggered function, its bindings resolved."""

    function_name: str
    queue: str
    sessions: bool
    arg_name: str
    connection: str  # the app setting (prefix) that says how to connect
    user_function: Callable[..., Any] = field(repr=False)


@dataclass(frozen=True)
class Invocation:
    """One call of a function and how its message was settled."""

    function_name: str
    message_id: str
    session_id: str | None
    delivery_count: int  # Azure's, 1-based, as the function saw it
    # "Completed", "Abandoned", "LockLost" (the lock was gone before settlement) or "NotSettled"
    # (the settlement did not reach Service Bus): after the last two, Service Bus redelivers.
    outcome: str
    error: str | None = None  # the exception's type, for an abandoned message


def app_settings_from_synthesis(synthesis: Synthesis, local: Mapping[str, str | None]) -> dict[str, str]:
    """The Function App's app settings as the Pulumi program sets them, with `local` values replacing
    theirs (the namespace connection, the ERP and ECP base URLs, API keys for Key Vault references);
    a `local` value of None removes the setting."""
    apps = [a for a in synthesis.of_type("web:WebApp") if "functionapp" in str(a.revealed_inputs().get("kind", ""))]
    if len(apps) != 1:
        raise LocalStackError(
            f"stack {synthesis.stack} declares {len(apps)} Function Apps; the local host runs exactly one"
        )
    declared = apps[0].revealed_inputs().get("siteConfig", {}).get("appSettings", [])
    merged: dict[str, str | None] = {**{str(s["name"]): str(s["value"]) for s in declared}, **local}
    return {name: value for name, value in merged.items() if value is not None}


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
        prefetch_count=int(section.get("prefetchCount", defaults.prefetch_count)),
        client_retry=_client_retry(section.get("clientRetryOptions", {}), path),
    )


def _client_retry(options: Mapping[str, Any], path: Path) -> ClientRetry:
    defaults = ClientRetry()

    def span(name: str, default: timedelta) -> timedelta:
        return _timespan(options[name], path) if name in options else default

    return ClientRetry(
        mode=str(options.get("mode", defaults.mode)).lower(),
        try_timeout=span("tryTimeout", defaults.try_timeout),
        delay=span("delay", defaults.delay),
        max_delay=span("maxDelay", defaults.max_delay),
        max_retries=int(options.get("maxRetries", defaults.max_retries)),
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
                connection=str(binding.connection),
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


def host_message(message: Any, locked_until: datetime | None) -> Any:
    """The `azure.functions.ServiceBusMessage` the Python worker builds for a received `message`.

    `message` is an azure-servicebus `ServiceBusReceivedMessage`; `locked_until` is its lock's end,
    which for a session message is its session's (the SDK leaves the message's own empty). The SDK returns string keys and
    values of application properties as bytes; the worker hands the function text. Its
    `delivery_count` is the AMQP header's (DeliveryCount − 1, 0 when the header is absent, as
    AMQP 1.0 §3.2.1 defines); the function gets Azure's 1-based count.
    """
    from azure.functions.servicebus import ServiceBusMessage

    properties = {_text(key): _text(value) for key, value in (message.application_properties or {}).items()}
    return ServiceBusMessage(
        body=_body(message),
        application_properties=properties,
        user_properties=dict(properties),
        content_type=message.content_type,
        correlation_id=message.correlation_id,
        dead_letter_error_description=message.dead_letter_error_description,
        dead_letter_reason=message.dead_letter_reason,
        delivery_count=(message.delivery_count or 0) + 1,
        enqueued_time_utc=message.enqueued_time_utc,
        expires_at_utc=message.expires_at_utc,
        label=message.subject,
        locked_until=locked_until,
        lock_token=str(message.lock_token),
        message_id=message.message_id,
        partition_key=message.partition_key,
        reply_to=message.reply_to,
        reply_to_session_id=message.reply_to_session_id,
        scheduled_enqueue_time_utc=message.scheduled_enqueue_time_utc,
        sequence_number=message.sequence_number,
        session_id=message.session_id,
        state=int(message.state),
        subject=message.subject,
        time_to_live=message.time_to_live,
        to=message.to,
    )


class FunctionsHost:
    """Runs the app's Service Bus triggers on listener threads; use as a context manager.

    `app_settings` are the Function App's (see `app_settings_from_synthesis`), with the trigger's
    connection as a connection string; `entities` are the namespace's queues, which the triggers'
    queues must be (as the extension's listeners need them). `build_runtime` options such as HTTP
    timeouts go in `runtime_options`. `on_invocation` is told of every call. Locks are renewed for
    `maxAutoLockRenewalDuration` of simulated time, but at least `renewal_floor` wall seconds.
    """

    def __init__(
        self,
        *,
        entities: Mapping[str, EntitySettings],
        clock: Clock,
        app_settings: Mapping[str, str],
        app: Any = None,
        host_json: Path = INTEGRATOR_DIR / "host.json",
        runtime_options: Mapping[str, Any] | None = None,
        on_invocation: Callable[[Invocation], None] | None = None,
        renewal_floor: float = RENEWAL_FLOOR_SECONDS,
    ) -> None:
        self._entities = dict(entities)
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
        renewal = max(self._settings.max_auto_lock_renewal, timedelta(seconds=clock.simulated_seconds(renewal_floor)))
        self._renewer = _LockRenewer(clock, renewal, self._stop)
        # Closing an SDK receiver waits for its keep-alive thread (up to a second); a session
        # listener hands that wait to this pool and goes on to the next session.
        self._closer = ThreadPoolExecutor(
            max_workers=self._settings.max_concurrent_sessions, thread_name_prefix="receiver-close"
        )
        self._runtime: Any = None
        self.triggers: list[Trigger] = []

    def __enter__(self) -> "FunctionsHost":
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        """Index the app, install the integrators' runtime, and start the listeners.

        Returns once every plain listener is connected; a connection that fails raises here.
        """
        if self._stop.is_set():
            raise LocalStackError("this Functions host has been stopped; start a new FunctionsHost")
        if not self._settings.auto_complete_messages:
            raise LocalStackError(
                "host.json sets autoCompleteMessages to false; the local host settles only as the extension does"
                " with true"
            )
        app = self._app if self._app is not None else load_function_app()
        self.triggers = discover_triggers(app, self._app_settings)
        for trigger in self.triggers:
            self._check_queue(trigger)
            _connection_string(trigger, self._app_settings)
        self._install_runtime()
        self._threads = [threading.Thread(target=self._renewer.run, name="lock-renewer", daemon=True)]
        connecting: list[_Connecting] = []
        for trigger in self.triggers:
            for i in range(self._settings.max_concurrent_sessions if trigger.sessions else
                           self._settings.max_concurrent_calls):
                if trigger.sessions:
                    work, args = self._session_listener, (trigger,)
                else:
                    connecting.append(_Connecting())
                    work, args = self._queue_listener, (trigger, connecting[-1])
                self._threads.append(threading.Thread(
                    target=work, args=args, name=f"{trigger.function_name}-{i}", daemon=True))
        for thread in self._threads:
            thread.start()
        try:
            for attempt in connecting:
                attempt.result()
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """Let running calls finish, stop the listeners, and uninstall the runtime."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        self._closer.shutdown(wait=True)
        from order_integration import runtime

        runtime.install_runtime(None)
        close = getattr(getattr(self._runtime, "sender", None), "close", None)
        if close is not None:
            close()  # the integrators' sender links (AzureServiceBusSender keeps one per queue)
        self._runtime = None

    def invocations(self) -> list[Invocation]:
        """Every call so far, in the order they were settled."""
        with self._record_lock:
            return list(self._invocations)

    def _check_queue(self, trigger: Trigger) -> None:
        """The trigger's queue exists and agrees about sessions, or the listener could never start (as in Azure)."""
        entity = self._entities.get(trigger.queue)
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

        self._runtime = runtime.build_runtime(self._app_settings, now=self._clock.now, **self._runtime_options)
        runtime.install_runtime(self._runtime)

    def _client(self, trigger: Trigger) -> Any:
        """A client for one listener, with host.json's retry options."""
        from azure.servicebus import ServiceBusClient

        return ServiceBusClient.from_connection_string(
            _connection_string(trigger, self._app_settings), **self._settings.client_retry.client_options()
        )

    def _queue_listener(self, trigger: Trigger, connecting: "_Connecting") -> None:
        """One of `maxConcurrentCalls` listeners on a plain queue, with its own receiver."""
        from azure.servicebus.exceptions import ServiceBusError

        while not self._stop.is_set():
            try:
                with self._client(trigger) as client, client.get_queue_receiver(
                    trigger.queue, prefetch_count=self._settings.prefetch_count
                ) as opened:
                    connecting.succeeded()
                    receiver = _Receiver(opened)
                    while not self._stop.is_set():
                        for message in receiver.receive(_POLL_SECONDS):
                            self._invoke(trigger, receiver, message, renew=lambda m=message: receiver.renew_message(m))
            except Exception as exc:  # a listener never dies: it reports and connects again
                if not connecting.done:
                    connecting.failed(_connect_error(trigger, exc))
                    return
                self._reconnect_later(trigger, exc, expected=isinstance(exc, ServiceBusError))

    def _session_listener(self, trigger: Trigger) -> None:
        """One of `maxConcurrentSessions` listeners: holds one session at a time, one call at a time."""
        with self._client(trigger) as client:  # one per listener; closing it closes what is left open
            while not self._stop.is_set():
                self._hold_next_session(trigger, client)

    def _hold_next_session(self, trigger: Trigger, client: Any) -> None:
        """Accept the next available session, deliver its messages, then hand its receiver to the closer."""
        from azure.servicebus import NEXT_AVAILABLE_SESSION
        from azure.servicebus.exceptions import (
            OperationTimeoutError,
            ServiceBusError,
            SessionCannotBeLockedError,
            SessionLockLostError,
        )

        opened = client.get_queue_receiver(
            trigger.queue, session_id=NEXT_AVAILABLE_SESSION, max_wait_time=_SESSION_WAIT_SECONDS,
            prefetch_count=self._settings.prefetch_count,
        )
        try:
            opened.__enter__()  # accepts the next available session, waiting up to max_wait_time
            self._drain_session(trigger, _Receiver(opened))
        except (OperationTimeoutError, SessionCannotBeLockedError):
            pass  # no session was free: the listener looks again
        except SessionLockLostError:
            logger.warning("lost the lock on a session of %s; Service Bus hands it to the next receiver",
                           trigger.queue)
        except Exception as exc:  # a listener never dies: it reports and connects again
            self._reconnect_later(trigger, exc, expected=isinstance(exc, ServiceBusError))
        finally:
            self._close_later(opened)

    def _close_later(self, receiver: Any) -> None:
        """Close `receiver` on the closer pool; once the host is stopping (pool shut down), here."""
        try:
            self._closer.submit(receiver.close)
        except RuntimeError:
            receiver.close()

    def _drain_session(self, trigger: Trigger, receiver: "_Receiver") -> None:
        """Deliver the session's messages in order until it stays idle for `sessionIdleTimeout`.

        Waits in slices of at most `_POLL_SECONDS`, so a stop is noticed even at time scale 1.
        """
        idle_timeout = self._settings.session_idle_timeout
        idle = (
            self._clock.wall_seconds(idle_timeout.total_seconds(), floor=_SESSION_IDLE_FLOOR_SECONDS)
            if idle_timeout else _POLL_SECONDS
        )
        waited = 0.0
        while not self._stop.is_set() and waited < idle:
            wait = min(idle - waited, _POLL_SECONDS)
            messages = receiver.receive(wait)
            if messages:
                self._invoke(trigger, receiver, messages[0], renew=receiver.renew_session)
                waited = 0.0
            else:
                waited += wait

    def _reconnect_later(self, trigger: Trigger, error: Exception, *, expected: bool) -> None:
        """A listener's connection failed: its locked messages come back when their locks expire.

        A Service Bus error is a warning; anything else is a fault of the client library or of this
        host, logged with its traceback.
        """
        if self._stop.is_set():
            return
        if expected:
            logger.warning("%s: the listener on %s lost its connection (%s); connecting again",
                           trigger.function_name, trigger.queue, type(error).__name__)
        else:
            logger.error("%s: the listener on %s failed with %s; connecting again", trigger.function_name,
                         trigger.queue, type(error).__name__, exc_info=error)
        self._stop.wait(_RECONNECT_SECONDS)

    def _invoke(
        self, trigger: Trigger, receiver: "_Receiver", message: Any, *, renew: Callable[[], datetime]
    ) -> None:
        """Call the function with `message` on the worker pool, renewing its lock meanwhile, then settle.

        The lock is renewed from the start, also while the call waits for a worker thread.
        """
        error: BaseException | None = None
        locked_until = receiver.locked_until(message)
        delivery_count = (message.delivery_count or 0) + 1  # Azure's, as host_message gives it
        with self._renewer.renewing(locked_until, renew), self._pool:
            try:
                trigger.user_function(**{trigger.arg_name: host_message(message, locked_until)})
            except Exception as exc:  # the host catches every failure of a function (and of building its input)
                error = exc
        outcome = self._settle(trigger, receiver, message, delivery_count, error)
        self._record(Invocation(trigger.function_name, message.message_id, message.session_id, delivery_count,
                                outcome, None if error is None else type(error).__name__))

    def _settle(
        self, trigger: Trigger, receiver: "_Receiver", message: Any, delivery_count: int, error: BaseException | None
    ) -> str:
        from azure.servicebus.exceptions import (
            MessageAlreadySettled,
            MessageLockLostError,
            ServiceBusError,
            SessionLockLostError,
        )

        try:
            if error is None:
                receiver.complete(message)
                return "Completed"
            logger.warning(
                "%s failed with %s on message %s (delivery %d); abandoned, Service Bus redelivers it",
                trigger.function_name, type(error).__name__, message.message_id, delivery_count,
            )
            receiver.abandon(message)
            return "Abandoned"
        except (MessageLockLostError, SessionLockLostError):
            logger.error("%s: the lock on message %s was lost before it was settled; Service Bus redelivers it",
                         trigger.function_name, message.message_id)
            return "LockLost"
        except (ServiceBusError, MessageAlreadySettled) as exc:  # the SDK's MessageAlreadySettled is a ValueError
            logger.error("%s: settling message %s failed (%s); Service Bus redelivers it when its lock expires",
                         trigger.function_name, message.message_id, type(exc).__name__)
            return "NotSettled"

    def _record(self, invocation: Invocation) -> None:
        with self._record_lock:
            self._invocations.append(invocation)
        if self._on_invocation is not None:
            self._on_invocation(invocation)


class _Receiver:
    """An SDK receiver shared by its listener and the lock renewer, one call at a time (it is not thread-safe).

    The lock covers our calls only: with prefetch 0 the SDK's own keep-alive thread also reads the
    connection every 5 s (`_servicebus_receiver.py`, `keep_alive_interval`), as it does against Azure.
    """

    def __init__(self, receiver: Any) -> None:
        self._receiver = receiver
        self._lock = threading.Lock()

    def receive(self, wait: float) -> list[Any]:
        with self._lock:
            return self._receiver.receive_messages(max_message_count=1, max_wait_time=wait)

    def complete(self, message: Any) -> None:
        with self._lock:
            self._receiver.complete_message(message)

    def abandon(self, message: Any) -> None:
        with self._lock:
            self._receiver.abandon_message(message)

    def renew_message(self, message: Any) -> datetime:
        with self._lock:
            return self._receiver.renew_message_lock(message)

    def renew_session(self) -> datetime:
        with self._lock:
            return self._receiver.session.renew_lock()

    def locked_until(self, message: Any) -> datetime:
        """The message's lock, or for a session message its session's."""
        session = self._receiver.session if message.session_id is not None else None
        return session.locked_until_utc if session is not None else message.locked_until_utc


class _Connecting:
    """A plain listener's first connection, which `start` waits for."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self._event.is_set()

    def succeeded(self) -> None:
        self._event.set()

    def failed(self, error: BaseException) -> None:
        self._error = error
        self._event.set()

    def result(self) -> None:
        if not self._event.wait(_CONNECT_TIMEOUT_SECONDS):
            raise LocalStackError(f"a Service Bus listener did not connect within {_CONNECT_TIMEOUT_SECONDS:g} s")
        if self._error is not None:
            raise self._error


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
                self._locks.pop(key, None)

    def run(self) -> None:
        """The renewer thread: sleeps until the next lock is half-way to expiry.

        Renewals run outside the condition: a renewal is a round trip (with client retries, possibly
        minutes), and calls must still start and end meanwhile.
        """
        while not self._stop.is_set():
            with self._changed:
                due = [(key, lock) for key, lock in self._locks.items()
                       if lock.active(self._clock) and lock.wall_to_renewal(self._clock) <= 0]
            for key, lock in due:
                self._renew(key, lock)
            with self._changed:
                waits = [max(lock.wall_to_renewal(self._clock), 0.01)
                         for lock in self._locks.values() if lock.active(self._clock)]
                self._changed.wait(min([_POLL_SECONDS, *waits]))

    def _renew(self, key: int, lock: "_RenewedLock") -> None:
        try:
            renewed = lock.renewed(lock.renew(), self._clock)
        except Exception as exc:  # the renewer goes on for the other calls
            # This call goes on; its settlement then fails and Service Bus redelivers, as in Azure.
            logger.error("could not renew a lock while its function runs: %s", type(exc).__name__)
            renewed = replace(lock, ended=True)
        with self._changed:
            if key in self._locks:  # the call may have ended meanwhile
                self._locks[key] = renewed


@dataclass
class _RenewedLock:
    renew: Callable[[], datetime]
    locked_until: datetime
    deadline: datetime
    half_life: float  # wall seconds before expiry at which to renew
    ended: bool = False  # a renewal failed: no more attempts

    def active(self, clock: Clock) -> bool:
        """Still to be renewed: before `maxAutoLockRenewalDuration` ends and no renewal has failed."""
        return not self.ended and clock.now() < self.deadline

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
            f"{where}: connection {prefix!r} has no app setting {prefix} (a connection string) or"
            f" {prefix}__fullyQualifiedNamespace; pass the local namespace's connection string as {prefix}"
        )


def _connection_string(trigger: Trigger, app_settings: Mapping[str, str]) -> str:
    """The local namespace's connection string: no Entra ID runs here, so an identity-based connection cannot."""
    value = app_settings.get(trigger.connection, "")
    if not value:
        raise LocalStackError(
            f"function {trigger.function_name}: the local host connects with a connection string; app setting"
            f" {trigger.connection} is not set (only {trigger.connection}__fullyQualifiedNamespace, which needs"
            " a managed identity)"
        )
    return value


def _connect_error(trigger: Trigger, error: Exception) -> LocalStackError:
    """A listener's failed first connection, named without the connection string."""
    return LocalStackError(
        f"function {trigger.function_name} cannot listen on queue {trigger.queue!r}: {type(error).__name__}"
        f" (check app setting {trigger.connection} against the local namespace)"
    )


def _text(value: Any) -> Any:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _body(message: Any) -> bytes:
    """The body as the worker hands it: the data sections' bytes (orderbridge sends nothing else)."""
    body = message.body
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return b"".join(bytes(part) for part in body)


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
