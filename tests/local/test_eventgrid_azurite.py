"""Azurite ends with the stack: when the process that started it is killed, and at the next start."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from orderbridge.local.eventgrid import Azurite
from orderbridge.local.eventgrid._azurite import PID_FILE, end_leftover

REPO = Path(__file__).resolve().parents[2]

# Stands in for Azurite's main.js (which takes ~2 s to start): it prints Azurite's start line and waits.
FAKE_AZURITE_JS = 'console.log("Azurite Blob service successfully listens on http://127.0.0.1:1"); setInterval(() => {}, 1000);'

STARTER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from orderbridge.local.eventgrid import Azurite
    azurite = Azurite(Path(sys.argv[1]), main_js=Path(sys.argv[2]))
    azurite.start()
    print(azurite.blob_endpoint, flush=True)
    time.sleep(60)
    """
)


def _fake_azurite(tmp_path: Path) -> Path:
    main_js = tmp_path / "node_modules" / "azurite" / "main.js"
    main_js.parent.mkdir(parents=True)
    main_js.write_text(FAKE_AZURITE_JS)
    return main_js


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def _wait_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not _alive(pid)


def test_azurite_ends_when_the_stack_process_is_killed_and_a_leftover_is_replaced(tmp_path: Path) -> None:
    main_js = _fake_azurite(tmp_path)
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(tmp_path), str(main_js)],
        cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert starter.stdout is not None and starter.stdout.readline().startswith("http://127.0.0.1:")
        azurite_pid = int((tmp_path / PID_FILE).read_text())
        assert _alive(azurite_pid)
        starter.send_signal(signal.SIGKILL)  # no cleanup runs in the killed process
        starter.wait()
        outlived = not _wait_gone(azurite_pid)
        if outlived:
            os.kill(azurite_pid, signal.SIGKILL)
        assert not outlived, "Azurite outlived the process that started it"
    finally:
        starter.kill()

    # A pid file left by a killed run that names a live Azurite on this state dir: the next start ends it.
    leftover = subprocess.Popen(["node", str(main_js), "--location", str(tmp_path / "azurite")], stdout=subprocess.DEVNULL)
    try:
        while not Path(f"/proc/{leftover.pid}/cmdline").read_bytes():  # until node has exec'd
            time.sleep(0.01)
        (tmp_path / PID_FILE).write_text(f"{leftover.pid}\n")
        end_leftover(tmp_path / PID_FILE, tmp_path / "azurite")
        assert leftover.wait(5) is not None
        assert not (tmp_path / PID_FILE).exists()
    finally:
        leftover.kill()


def test_a_pid_file_naming_another_process_leaves_it_alone(tmp_path: Path) -> None:
    (tmp_path / PID_FILE).write_text(f"{os.getpid()}\n")  # a reused pid: this test's own process
    end_leftover(tmp_path / PID_FILE, tmp_path / "azurite")
    assert _alive(os.getpid()) and not (tmp_path / PID_FILE).exists()


def test_a_missing_install_says_how_to_get_it(tmp_path: Path) -> None:
    try:
        Azurite(tmp_path, main_js=tmp_path / "absent.js").start()
    except Exception as exc:  # noqa: BLE001 - the type is asserted below
        assert type(exc).__name__ == "AzuriteError" and "npm ci" in str(exc)
    else:
        raise AssertionError("Azurite started without being installed")
