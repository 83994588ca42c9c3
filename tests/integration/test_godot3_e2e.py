"""End to end in a real engine: headless Godot 3.2 runs the foragers scene with the Godot 3
addon against a real ``spikeforge serve`` subprocess.

The scene's raycast sensors see food and walls, the brains' motor outputs move the
foragers, eating food sends rewards. Every exchange is recorded on the Godot side (sensor
array sent, rewards sent, actuator array received); the Python reference client then
replays the same inputs against a fresh server with the same seed and must get the same
actuator outputs, bit for bit.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from tests.integration.godot_support.harness import (
    GODOT3_SAMPLE,
    REWARD_ERRORS,
    SLOW_MACHINE,
    Record,
    check_scripts,
    class_registry,
    copy_project,
    godot3_binary,
    read_records,
    replay,
    run_godot,
    timing_table,
)

from spikeforge.bench.godot import sensor_floats_per_agent
from spikeforge.ipc.testing import ServerProcess, start_server

pytestmark = pytest.mark.godot

GENOME = GODOT3_SAMPLE / "brains" / "forager.json"
SEED = 11
BACKEND = "auto"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch copy of the Godot 3 foragers project whose scripts all pass --check-only."""
    godot = godot3_binary()
    tmp = tmp_path_factory.mktemp("godot3")
    proj = copy_project(GODOT3_SAMPLE, tmp / "project")
    failures = check_scripts(godot, proj, tmp)
    assert not failures, f"scripts that do not parse in Godot 3: {failures}"
    return proj


def _server(tmp: Path, args: list[str] | None = None) -> ServerProcess:
    return start_server(tmp, genomes=[GENOME.parent], backend=BACKEND, seed=SEED, args=args)


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


def test_check_only_catches_a_broken_script(project: Path, tmp_path: Path) -> None:
    """The --check-only gate is real: a broken copy of a script is reported."""
    godot = godot3_binary()
    broken = copy_project(project, tmp_path / "broken")
    target = broken / "addons" / "spikeforge" / "brain_agent.gd"
    target.write_text(target.read_text(encoding="utf-8").replace("func add_reward(amount: float) -> void:",
                                                                 "func add_reward(amount: float) -> void\n"),
                      encoding="utf-8")
    failures = check_scripts(godot, broken, tmp_path, only=["addons/spikeforge/brain_agent.gd", "food.gd"])
    assert list(failures) == ["addons/spikeforge/brain_agent.gd"]


def test_committed_class_registry_is_what_the_editor_writes(project: Path, tmp_path: Path) -> None:
    """project.godot lists every class_name of the addon (headless runs need the registry)."""
    godot = godot3_binary()
    scratch = copy_project(project, tmp_path / "registry")
    run = run_godot(godot, scratch, tmp_path, {}, timeout=90, args=["-e", "--quit"])
    assert not run.timed_out
    regenerated = class_registry((scratch / "project.godot").read_text(encoding="utf-8"))
    committed = class_registry((GODOT3_SAMPLE / "project.godot").read_text(encoding="utf-8"))
    assert {c["class"] for c in committed} >= {"SpikeforgeWorld", "BrainAgent", "RaycastSensor2D",
                                                "RaycastSensor3D", "ValueSensor", "MotorActuator",
                                                "ActionActuator", "SpikeSignal"}
    assert committed == regenerated


def test_foragers_100_agents_600_frames_match_python_client(project: Path, tmp_path: Path) -> None:
    godot = godot3_binary()
    agents, frames = 100, 600
    srv = _server(tmp_path / "server")
    record = tmp_path / "record.bin"
    try:
        run = run_godot(godot, project, tmp_path, {**SLOW_MACHINE,
            "SPIKEFORGE_PORT": str(srv.port), "SPIKEFORGE_TOKEN_FILE": str(srv.token_path),
            "SPIKEFORGE_AGENTS": str(agents), "SPIKEFORGE_EXCHANGES": str(frames),
            "SPIKEFORGE_TIME_LIMIT": "150", "SPIKEFORGE_RECORD": str(record),
        }, timeout=180, args=["--fixed-fps", "60"])
    finally:
        srv.stop()
    summary = json.loads(run.marker("SPIKEFORGE_DONE"))
    assert not run.script_errors(), run.script_errors()
    assert summary["exchanges"] == frames and not summary["timed_out"]
    assert summary["brains"] == agents
    records = read_records(record)
    assert len(records) == frames
    assert len({r.session for r in records}) == 1
    # the scene drives the sensors (eye, nose, explore, wall rays: see sensor_floats_per_agent),
    # and what they sense changes over time
    sensors = np.stack([r.sensors for r in records])
    per_agent = sensor_floats_per_agent(GODOT3_SAMPLE)
    assert per_agent == 9  # eye 1 + nose 1 + explore 2 + wall_eyes 5
    assert sensors.shape == (frames, agents * per_agent)
    assert float(sensors.min()) >= -1.0 and float(sensors.max()) <= 1.0
    assert float(sensors.min()) < -0.1  # the eye: food angle / pi, both signs
    seen = float((sensors > 0).mean())
    changing = float((np.diff(sensors, axis=0) != 0).mean())
    assert 0.002 < seen < 0.9, f"fraction of rays that hit something: {seen}"
    assert changing > 0.002, f"fraction of sensor values that change between frames: {changing}"
    actuators = np.stack([r.actuators for r in records])
    assert actuators.shape == (frames, agents * 2) and float(actuators.mean()) > 1.0
    assert all(r.steps in (16, 17) for r in records)
    assert sum(r.spikes for r in records) > 1000  # SpikeSignal nodes got the motor spikes
    # every frame's actuators equal the Python reference client's on the same inputs
    assert _check_matches_python_client(tmp_path, records, agents) == frames
    print(f"\nGodot 3 foragers: {agents} agents, {frames} physics frames, food eaten {summary['eaten']}, "
          f"rewards sent in {sum(1 for r in records if r.reward_ids.size)} frames, rays hitting {seen:.3f}, "
          f"sensor values changing per frame {changing:.3f}")
    if REWARD_ERRORS:
        print(f"REWARD refused by the server {len(REWARD_ERRORS)}x (Godot saw the same): {REWARD_ERRORS[0]}")
    print(timing_table(summary))


def test_reconnects_after_the_server_restarts(project: Path, tmp_path: Path) -> None:
    """Kill the server mid-run, start a new one on the same port: Godot reconnects, its
    agents get fresh brains, and both sessions match the Python client."""
    godot = godot3_binary()
    agents, frames = 20, 360  # two breeds: two circuits, two layout groups
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
        run = run_godot(godot, project, tmp_path, {**SLOW_MACHINE,
            "SPIKEFORGE_PORT": str(port), "SPIKEFORGE_TOKEN_FILE": str(srv.token_path),
            "SPIKEFORGE_AGENTS": str(agents), "SPIKEFORGE_EXCHANGES": str(frames), "SPIKEFORGE_MIXED": "1",
            "SPIKEFORGE_TIME_LIMIT": "120", "SPIKEFORGE_RECORD": str(record),
        }, timeout=150, args=["--fixed-fps", "60"], on_line=on_line)
    finally:
        srv.stop()
        for s in restarted:
            s.stop()
    summary = json.loads(run.marker("SPIKEFORGE_DONE"))
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
    godot = godot3_binary()
    agents, frames = 20, 300
    srv = _server(tmp_path / "server")
    record = tmp_path / "record.bin"
    try:
        run = run_godot(godot, project, tmp_path, {**SLOW_MACHINE,
            "SPIKEFORGE_PORT": str(srv.port), "SPIKEFORGE_TOKEN_FILE": str(srv.token_path),
            "SPIKEFORGE_AGENTS": str(agents), "SPIKEFORGE_EXCHANGES": str(frames), "SPIKEFORGE_DROP_AT": "120",
            "SPIKEFORGE_TIME_LIMIT": "120", "SPIKEFORGE_RECORD": str(record),
        }, timeout=150, args=["--fixed-fps", "60"])
    finally:
        srv.stop()
    summary = json.loads(run.marker("SPIKEFORGE_DONE"))
    assert not run.script_errors(), run.script_errors()
    assert run.markers.get("SPIKEFORGE_CONNECTED") == ["resumed=True"], run.stdout[-3000:]
    assert summary["exchanges"] == frames and summary["sessions"] == {"1": frames}
    records = read_records(record)
    assert len({r.epoch for r in records}) == 1  # same layout before and after the drop
    assert _check_matches_python_client(tmp_path, records, agents) == frames


def test_spikeforge_world_launches_and_stops_the_server(project: Path, tmp_path: Path) -> None:
    """launch_server: SpikeforgeWorld starts `spikeforge serve` itself and kills it on exit."""
    godot = godot3_binary()
    exe = Path(sys.executable).parent / "spikeforge"
    assert exe.exists(), f"{exe} (the console script of the installed package) is missing"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = tmp_path / "launched.token"
    args = f"--genome {GENOME.parent} --seed {SEED} --backend {BACKEND} --snapshot-dir {tmp_path / 'snap'}"
    run = run_godot(godot, project, tmp_path, {**SLOW_MACHINE,
        "SPIKEFORGE_PORT": str(port), "SPIKEFORGE_TOKEN_FILE": str(token), "SPIKEFORGE_AGENTS": "10",
        "SPIKEFORGE_EXCHANGES": "60", "SPIKEFORGE_TIME_LIMIT": "90", "SPIKEFORGE_LAUNCH": str(exe),
        "SPIKEFORGE_LAUNCH_ARGS": args,
    }, timeout=120, args=["--fixed-fps", "60"])
    summary = json.loads(run.marker("SPIKEFORGE_DONE"))
    assert not run.script_errors(), run.script_errors()
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
