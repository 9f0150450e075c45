"""Azurite's blob service as a child of the local stack, with its data in the state dir.

Azurite is Microsoft's storage emulator (npm `azurite`, pinned in package.json; `make test` and
`make demo` install it). It is started as `node <azurite>/dist/src/blob/main.js` on 127.0.0.1
with a port the OS picks, telemetry off, and ends with the stack:
- `stop()` (or leaving the `with` block) terminates it, then kills it if it lingers;
- if the stack's process dies without stopping it, Linux's parent-death signal
  (`prctl(PR_SET_PDEATHSIG, SIGTERM)`, set in the child before exec) ends it;
- a pid file in the state dir names it, so the next start ends a leftover of a killed run
  (checked against the process's command line, so a reused pid is never killed) before it
  opens the same data files.

The account and key in `CONNECTION_STRING` are Azurite's published development credentials
(https://learn.microsoft.com/azure/storage/common/storage-use-azurite#well-known-storage-account-and-key),
the same on every machine: not a secret.
"""
from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from orderbridge.local.eventgrid._errors import AzuriteError

REPO_ROOT = Path(__file__).resolve().parents[3]
AZURITE_BLOB_MAIN = REPO_ROOT / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
PID_FILE = "azurite.pid"
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 5.0
_LISTENING = re.compile(rb"listens on (http://[\d.]+:(\d+))")
_PR_SET_PDEATHSIG = 1


class Azurite:
    """One Azurite blob service; `with Azurite(state_dir) as azurite:` runs it for the block."""

    def __init__(self, state_dir: Path, *, main_js: Path = AZURITE_BLOB_MAIN) -> None:
        self.location = state_dir / "azurite"
        self._pid_file = state_dir / PID_FILE
        self._main_js = main_js
        self._process: subprocess.Popen[bytes] | None = None
        self.blob_endpoint = ""

    @classmethod
    def end_leftover_in(cls, state_dir: Path) -> None:
        """End the Azurite a killed run left in `state_dir`, before anything clears the dir that names it."""
        leftover = cls(state_dir)
        end_leftover(leftover._pid_file, leftover.location)

    @property
    def connection_string(self) -> str:
        """The development connection string for this instance's blob endpoint (the published key)."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint}/{ACCOUNT_NAME};"
        )

    def start(self) -> None:
        """Start Azurite and return once it accepts connections; ends a leftover of a killed run first."""
        if not self._main_js.is_file():
            raise AzuriteError(
                f"Azurite is not installed ({self._main_js} is missing): run `npm ci` in the repository root "
                "(make test and make demo do it)"
            )
        self.location.mkdir(parents=True, exist_ok=True)
        end_leftover(self._pid_file, self.location)
        log = (self.location.parent / "azurite.log").open("wb")
        self._process = subprocess.Popen(
            ["node", str(self._main_js), "--blobHost", "127.0.0.1", "--blobPort", "0", "--location",
             str(self.location), "--disableTelemetry", "--skipApiVersionCheck", "--loose", "--silent"],
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, preexec_fn=_die_with(os.getpid()),
        )
        log.close()
        self._pid_file.write_text(f"{self._process.pid}\n")
        self.blob_endpoint = self._await_listening(self._process)

    def _await_listening(self, process: subprocess.Popen[bytes]) -> str:
        assert process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        seen = b""
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            seen += line
            match = _LISTENING.search(line)
            if match:
                _drain(process.stdout)
                return match.group(1).decode()
        self.stop()
        raise AzuriteError(
            f"Azurite did not start within {START_TIMEOUT_SECONDS:.0f} s; it said: {seen.decode(errors='replace')!r} "
            f"(see {self.location.parent / 'azurite.log'})"
        )

    def stop(self) -> None:
        """Terminate Azurite (it flushes its data on SIGTERM), kill it if it does not end in time."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._pid_file.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def end_leftover(pid_file: Path, location: Path) -> None:
    """End the Azurite a killed run left on `location`, named by `pid_file`; a reused pid is left alone."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return
    if _is_azurite_on(pid, location):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while _is_azurite_on(pid, location) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _is_azurite_on(pid, location):
            os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)


def _is_azurite_on(pid: int, location: Path) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(a.endswith(b"main.js") and b"azurite" in a for a in argv) and str(location).encode() in argv


def _die_with(parent: int) -> Callable[[], None]:
    def set_parent_death_signal() -> None:
        # Runs in the child between fork and exec: SIGTERM when the thread that started it ends,
        # so call `start` from the main thread or one that lives as long as the stack.
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return set_parent_death_signal


def _drain(stream: IO[bytes]) -> None:
    # With --silent Azurite writes little after its start line; reading it on keeps the pipe from ever filling.
    def read_on() -> None:
        for _ in stream:
            pass

    threading.Thread(target=read_on, daemon=True, name="azurite-stdout").start()
