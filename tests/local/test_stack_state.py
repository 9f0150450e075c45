"""The local stack's clock, state dir and HTTP serving: what `--resume` and `--time-scale` rest on."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from orderbridge.local import state
from orderbridge.local.clock import SimClock
from orderbridge.local.errors import LocalStackError
from orderbridge.local.servers import AsgiServer

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)


def test_simulated_time_runs_at_the_time_scale() -> None:
    clock = SimClock(600.0)
    assert clock.wall_seconds(60.0) == pytest.approx(0.1)
    assert clock.simulated_seconds(0.5) == pytest.approx(300.0)


def test_floors_keep_timers_that_bound_work_at_wall_speed() -> None:
    clock = SimClock(1000.0)
    assert clock.wall_seconds(30.0, floor=5.0) == 5.0  # the 30 s answer timeout never drops below 5 s


def test_a_resumed_run_continues_the_simulated_time_of_the_killed_one(tmp_path: Path) -> None:
    clock, started_at = state.prepare(tmp_path, stack="dev", time_scale=100.0, resume=False)
    checkpoints = state.Checkpointer(tmp_path, stack="dev", clock=clock, started_at=started_at).start()
    checkpoints.stop()
    reached = datetime.fromisoformat(json.loads((tmp_path / state.MANIFEST).read_text())["simulated_now"])
    resumed, first_started = state.prepare(tmp_path, stack="dev", time_scale=10.0, resume=True)
    assert resumed.now() >= reached
    assert resumed.time_scale == 10.0
    assert first_started == started_at  # the local queues keep their creation time


def test_a_resumed_run_never_starts_behind_the_wall_clock(tmp_path: Path) -> None:
    # At time scale 1 a run that stood still for a day would resume a day behind; the SDK compares
    # locks with the wall clock, so simulated time picks up at the wall clock instead.
    state.prepare(tmp_path, stack="dev", time_scale=1.0, resume=False)
    manifest = json.loads((tmp_path / state.MANIFEST).read_text())
    a_day_ago = datetime.fromisoformat(manifest["simulated_now"]) - timedelta(days=1)
    (tmp_path / state.MANIFEST).write_text(json.dumps({**manifest, "simulated_now": a_day_ago.isoformat()}))
    before = datetime.now(timezone.utc)
    resumed, _ = state.prepare(tmp_path, stack="dev", time_scale=1.0, resume=True)
    assert resumed.now() >= before


def test_resume_refuses_another_stack_or_no_earlier_run(tmp_path: Path) -> None:
    with pytest.raises(LocalStackError, match="no earlier run"):
        state.prepare(tmp_path, stack="dev", time_scale=1.0, resume=True)
    state.Checkpointer(tmp_path, stack="prod", clock=SimClock(), started_at=NOW).checkpoint()
    with pytest.raises(LocalStackError, match="stack 'prod', not 'dev'"):
        state.prepare(tmp_path, stack="dev", time_scale=1.0, resume=True)


def test_a_fresh_run_empties_the_state_dir_but_keeps_the_synthesis_cache(tmp_path: Path) -> None:
    state.Checkpointer(tmp_path, stack="dev", clock=SimClock(), started_at=NOW).checkpoint()
    (tmp_path / "queues.db").write_text("old run")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "dev.json").write_text("{}")
    state.prepare(tmp_path, stack="dev", time_scale=1.0, resume=False)
    # The new run's manifest is written at once, so a start that fails later leaves a state dir.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "stack.json"]


def test_a_start_that_failed_leaves_a_state_dir_the_next_start_can_use(tmp_path: Path) -> None:
    state.prepare(tmp_path, stack="dev", time_scale=1.0, resume=False)
    (tmp_path / "stack.log").write_text("the start failed here")
    state.prepare(tmp_path, stack="dev", time_scale=1.0, resume=False)
    assert not (tmp_path / "stack.log").exists()


def test_what_a_folder_held_before_it_became_a_state_dir_is_never_removed(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("precious")
    state.prepare(tmp_path, stack="dev", time_scale=1.0, resume=False)
    (tmp_path / "stack.log").write_text("a run's log")
    state.prepare(tmp_path, stack="dev", time_scale=1.0, resume=False)  # a second fresh start
    assert (tmp_path / "thesis.tex").read_text() == "precious"
    assert not (tmp_path / "stack.log").exists()


def test_the_manifest_is_replaced_atomically(tmp_path: Path) -> None:
    start = datetime(2026, 12, 3, tzinfo=timezone.utc)
    state.Checkpointer(tmp_path, stack="dev", clock=SimClock(start=start), started_at=start).checkpoint()
    manifest = json.loads((tmp_path / state.MANIFEST).read_text())
    assert datetime.fromisoformat(manifest["simulated_now"]) - start < timedelta(seconds=5)
    assert not list(tmp_path.glob("*.tmp"))


def test_an_asgi_app_is_served_on_a_free_loopback_port() -> None:
    app = Starlette(routes=[Route("/ping", lambda request: PlainTextResponse("pong"))])
    with AsgiServer(app, name="ping") as server:
        url = server.url
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/ping").text == "pong"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/ping", timeout=1.0)
