"""End to end in a real engine: headless Godot 4 (4.2+; ``make godot4`` provides Debian sid's
4.6) runs the foragers sample with the Godot 4 addon against a real ``spikeforge serve``
subprocess.

The twin of ``test_godot3_e2e.py``: the scene's sensors see food and walls, the brains'
motor outputs move the foragers, eating food sends rewards. Every exchange is recorded on
the Godot side (sensor array sent, rewards sent, actuator array received); the Python
reference client replays the same inputs against a fresh server with the same seed and
must get the same actuator outputs, bit for bit. Every run is under a hard timeout and
must print no ``SCRIPT ERROR`` and no ``ERROR:`` line.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.integration.godot_support.harness import (
    GODOT4_SAMPLE,
    REWARD_ERRORS,
    SLOW_MACHINE,
    GodotRun,
    Record,
    copy_project,
    errors_in,
    godot4_binary,
    import_godot4_project,
    read_records,
    replay,
    run_godot,
    timing_table,
)

from spikeforge.bench.godot import measure_learning, scene_args, sensor_floats_per_agent
from spikeforge.ipc.testing import ServerProcess, start_server

pytestmark = pytest.mark.godot

GENOME = GODOT4_SAMPLE / "brains" / "forager.json"
SEED = 11
BACKEND = "auto"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch copy of the Godot 4 foragers project, imported (class cache built) without
    a single error."""
    godot = godot4_binary()
    tmp = tmp_path_factory.mktemp("godot4")
    proj = copy_project(GODOT4_SAMPLE, tmp / "project")
    import_godot4_project(godot, proj, tmp)
    return proj


def _server(tmp: Path, args: list[str] | None = None) -> ServerProcess:
    return start_server(tmp, genomes=[GENOME.parent], backend=BACKEND, seed=SEED, args=args)


def _run(project: Path, tmp: Path, env: dict[str, str], frames: int,
         timeout: float) -> tuple[GodotRun, dict[str, Any]]:
    run = run_godot(godot4_binary(), project, tmp, {**SLOW_MACHINE, **env}, timeout=timeout,
                    args=scene_args(4, frames), engine=4)
    assert not run.timed_out, run.stdout[-3000:] + run.stderr[-3000:]
    summary: dict[str, Any] = json.loads(run.marker("SPIKEFORGE_DONE"))
    assert not run.script_errors(), run.script_errors()
    assert run.returncode == 0, run.stderr[-3000:]
    return run, summary


def _check_matches_python_client(tmp: Path, records: list[Record], agents: int, mixed: bool = False) -> int:
    """Replay each server session's records on a fresh server; returns frames compared.
    ``mixed``: the scene gave every other agent the ``forager_fast`` genome (spawned second)."""
    text = GENOME.read_text(encoding="utf-8")
    if mixed:
        fast = (GENOME.parent / "forager_fast.json").read_text(encoding="utf-8")
        spawns = [(text, (agents + 1) // 2), (fast, agents // 2)]
        listening: list[int] | None = list(range((agents + 1) // 2))  # only the first breed
    else:
        spawns = [(text, agents)]
        listening = None
    compared = 0
    for session in sorted({r.session for r in records}):
        recs = [r for r in records if r.session == session]
        srv = _server(tmp / f"replay-{session}")
        try:
            got = replay(srv.host, srv.port, srv.token_path, spawns, recs, spike_population="motor",
                         spike_brains=listening)
        finally:
            srv.stop()
        for i, (rec, (act, spikes)) in enumerate(zip(recs, got, strict=True)):
            if not np.array_equal(rec.actuators, act):
                bad = np.flatnonzero(rec.actuators != act)[:5]
                pytest.fail(f"session {session}, exchange {i}: Godot got {rec.actuators[bad]} at {bad}, "
                            f"the Python client got {act[bad]}")
            assert rec.spikes == spikes, f"session {session}, exchange {i}: SpikeSignal nodes got {rec.spikes} " \
                                         f"motor spikes, the Python client's subscription {spikes}"
        compared += len(recs)
    return compared


def test_error_gate_is_real(project: Path, tmp_path: Path) -> None:
    """A script error in a copy of the project is caught by the import gate (Godot 4 does
    not exit non-zero on it)."""
    broken = copy_project(project, tmp_path / "broken")
    target = broken / "food.gd"
    target.write_text(target.read_text(encoding="utf-8") + "\nfunc broken() -> void\n\tpass\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="failed"):
        import_godot4_project(godot4_binary(), broken, tmp_path)
    assert errors_in("ERROR: something", engine=4) and not errors_in("ERROR: something", engine=3)


def test_foragers_100_agents_600_frames_match_python_client(project: Path, tmp_path: Path) -> None:
    agents, frames = 100, 600
    srv = _server(tmp_path / "server")
    record = tmp_path / "record.bin"
    try:
        _done, summary = _run(project, tmp_path, {
            "SPIKEFORGE_PORT": str(srv.port), "SPIKEFORGE_TOKEN_FILE": str(srv.token_path),
            "SPIKEFORGE_AGENTS": str(agents), "SPIKEFORGE_EXCHANGES": str(frames),
            "SPIKEFORGE_TIME_LIMIT": "300", "SPIKEFORGE_RECORD": str(record),
        }, frames, timeout=330)
    finally:
        srv.stop()
    assert summary["exchanges"] == frames and not summary["timed_out"]
    assert summary["brains"] == agents
    records = read_records(record)
    assert len(records) == frames
    assert len({r.session for r in records}) == 1
    sensors = np.stack([r.sensors for r in records])
    per_agent = sensor_floats_per_agent(GODOT4_SAMPLE)
    assert per_agent == 9  # eye 1 + nose 1 + explore 2 + wall_eyes 5
    assert sensors.shape == (frames, agents * per_agent)
    assert float(sensors.min()) >= -1.0 and float(sensors.max()) <= 1.0
    assert float(sensors.min()) < -0.1  # the eye: food angle / pi, both signs
    seen = float((sensors > 0).mean())
    changing = float((np.diff(sensors, axis=0) != 0).mean())
    assert 0.002 < seen < 0.9, f"fraction of positive sensor values: {seen}"
    assert changing > 0.002, f"fraction of sensor values that change between frames: {changing}"
    actuators = np.stack([r.actuators for r in records])
    assert actuators.shape == (frames, agents * 2) and float(actuators.mean()) > 1.0
    assert all(r.steps in (16, 17) for r in records)
    assert sum(r.spikes for r in records) > 1000  # SpikeSignal nodes got the motor spikes
    assert sum(1 for r in records if r.reward_ids.size) > frames // 2  # the scene rewards its brains
    assert _check_matches_python_client(tmp_path, records, agents) == frames
    print(f"\nGodot 4 foragers: {agents} agents, {frames} physics frames, food eaten {summary['eaten']}, "
          f"rewards sent in {sum(1 for r in records if r.reward_ids.size)} frames, "
          f"sensor values changing per frame {changing:.3f}")
    if REWARD_ERRORS:
        print(f"REWARD refused by the server {len(REWARD_ERRORS)}x (Godot saw the same): {REWARD_ERRORS[0]}")
    print(timing_table(summary))


def test_reconnects_after_the_server_restarts_two_breeds(project: Path, tmp_path: Path) -> None:
    """Kill the server mid-run, start a new one on the same port: Godot reconnects, its
    agents (two breeds: two circuits, two layout groups) get fresh brains, and both
    sessions match the Python client."""
    agents, frames = 20, 360
    server_dir = tmp_path / "server"
    srv = _server(server_dir)
    port = srv.port
    restarted: list[ServerProcess] = []
    lock = threading.Lock()

    def on_line(line: str) -> None:
        if line.startswith("SPIKEFORGE_PROGRESS 100 "):
            with lock:
                if not restarted:
                    srv.stop()  # SIGTERM: the connection drops mid-run
                    restarted.append(_server(server_dir, args=["--port", str(port)]))

    record = tmp_path / "record.bin"
    try:
        run = run_godot(godot4_binary(), project, tmp_path, {
            "SPIKEFORGE_PORT": str(port), "SPIKEFORGE_TOKEN_FILE": str(srv.token_path),
            "SPIKEFORGE_AGENTS": str(agents), "SPIKEFORGE_EXCHANGES": str(frames), "SPIKEFORGE_MIXED": "1",
            "SPIKEFORGE_TIME_LIMIT": "240", "SPIKEFORGE_RECORD": str(record), **SLOW_MACHINE,
        }, timeout=270, args=scene_args(4, frames), on_line=on_line, engine=4)
    finally:
        srv.stop()
        for s in restarted:
            s.stop()
    summary = json.loads(run.marker("SPIKEFORGE_DONE"))
    # the lost connection is reported as a warning, never as an error
    assert not run.script_errors(), run.script_errors()
    assert restarted, "the scene never reported 100 exchanges"
    assert summary["exchanges"] == frames and not summary["timed_out"]
    assert len(summary["sessions"]) == 2, summary["sessions"]
    assert summary["brains"] == agents  # every agent has a brain again
    assert "connection lost" in run.stderr + run.stdout
    records = read_records(record)
    assert sorted({r.session for r in records}) == [1, 2]
    n_first = sum(1 for r in records if r.session == 1)
    assert 100 <= n_first < frames
    assert [r.session for r in records] == [1] * n_first + [2] * (frames - n_first)
    assert sum(r.spikes for r in records) > 0  # the first breed's SpikeSignal nodes got spikes
    assert _check_matches_python_client(tmp_path, records, agents, mixed=True) == frames


def test_resumes_the_session_after_a_dropped_connection(project: Path, tmp_path: Path) -> None:
    """The socket drops mid-run (no BYE): Godot reconnects with its resume token, the server
    hands the session back with its brains untouched, and the run stays identical to the
    Python client's uninterrupted one."""
    agents, frames = 20, 300
    srv = _server(tmp_path / "server")
    record = tmp_path / "record.bin"
    try:
        run, summary = _run(project, tmp_path, {
            "SPIKEFORGE_PORT": str(srv.port), "SPIKEFORGE_TOKEN_FILE": str(srv.token_path),
            "SPIKEFORGE_AGENTS": str(agents), "SPIKEFORGE_EXCHANGES": str(frames), "SPIKEFORGE_DROP_AT": "120",
            "SPIKEFORGE_TIME_LIMIT": "240", "SPIKEFORGE_RECORD": str(record),
        }, frames, timeout=270)
    finally:
        srv.stop()
    assert run.markers.get("SPIKEFORGE_CONNECTED") == ["resumed=true"], run.stdout[-3000:]
    assert summary["exchanges"] == frames and summary["sessions"] == {"1": frames}
    records = read_records(record)
    assert len({r.epoch for r in records}) == 1  # same layout before and after the drop
    assert _check_matches_python_client(tmp_path, records, agents) == frames


def test_spikeforge_world_launches_and_stops_the_server(project: Path, tmp_path: Path) -> None:
    """launch_server: SpikeforgeWorld starts `spikeforge serve` itself and kills it on exit."""
    exe = Path(sys.executable).parent / "spikeforge"
    assert exe.exists(), f"{exe} (the console script of the installed package) is missing"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = tmp_path / "launched.token"
    args = f"--genome {GENOME.parent} --seed {SEED} --backend {BACKEND} --snapshot-dir {tmp_path / 'snap'}"
    _run_result, summary = _run(project, tmp_path, {
        "SPIKEFORGE_PORT": str(port), "SPIKEFORGE_TOKEN_FILE": str(token), "SPIKEFORGE_AGENTS": "10",
        "SPIKEFORGE_EXCHANGES": "60", "SPIKEFORGE_TIME_LIMIT": "180", "SPIKEFORGE_LAUNCH": str(exe),
        "SPIKEFORGE_LAUNCH_ARGS": args,
    }, 60, timeout=210)
    assert summary["exchanges"] == 60 and summary["brains"] == 10
    assert token.exists()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the launched server is gone with the game
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"the server launched by SpikeforgeWorld still listens on port {port}")


@pytest.mark.slow
def test_learning_beats_frozen_in_real_godot4(project: Path, tmp_path: Path) -> None:
    """Two game minutes, 16 foragers, fixed seeds (server 11, arena 11): over the last
    quarter the learning foragers eat at least twice what the same brains frozen eat."""
    godot = godot4_binary()
    on = measure_learning(godot, project, tmp_path, 16, 2.0, True, BACKEND, SEED, 0.25, engine=4)
    off = measure_learning(godot, project, tmp_path, 16, 2.0, False, BACKEND, SEED, 0.25, engine=4)
    print(f"\nGodot 4 foragers, 16 agents, 2 game minutes: learning {on['food_per_forager_min']} vs frozen "
          f"{off['food_per_forager_min']} food/forager/min (curves {on['curve_food_per_forager_min']} / "
          f"{off['curve_food_per_forager_min']})")
    assert on["food_per_forager_min"] >= 2.0 * off["food_per_forager_min"], (on, off)
    assert on["curve_food_per_forager_min"][-1] > on["curve_food_per_forager_min"][0]  # it improves
