"""Unit checks of the Godot 3 addon's nodes inside real headless Godot 3 (no server):
organ discovery, ValueSensor, raycasts against real 2D/3D physics, MotorActuator,
ActionActuator and SpikeSignal signals, and the EXCHANGE_RESULT decoder on a payload made
by the Python reference codec (spike steps beyond 2^32 included)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from tests.integration.godot_support.harness import (
    GODOT3_ADDON,
    REPO,
    errors_in,
    godot3_binary,
    godot_env,
    timeout_prefix,
)

from spikeforge.ipc import protocol as P

pytestmark = pytest.mark.godot

UNITS = REPO / "tests" / "integration" / "godot3_units" / "units.gd"


def _payload() -> tuple[bytes, P.ExchangeResult]:
    batch = P.SpikeBatch(3, False, np.array([0, 5, 2**33 + 7], np.int64), np.array([4, 0, 4], np.uint32),
                         np.array([1, 2, 11], np.uint32))
    empty = P.SpikeBatch(4, True, np.zeros(0, np.int64), np.zeros(0, np.uint32), np.zeros(0, np.uint32))
    res = P.ExchangeResult(2, 16, 0.25, 0, 1234, np.array([1.5, -2.0, 0.125], np.float32), (batch, empty))
    return res.encode(), res


def test_godot3_nodes_in_a_real_engine(tmp_path: Path) -> None:
    godot = godot3_binary()
    project = tmp_path / "units"
    (project / "addons").mkdir(parents=True)
    shutil.copytree(GODOT3_ADDON, project / "addons" / "spikeforge")
    shutil.copy(UNITS, project / "units.gd")
    (project / "project.godot").write_text(
        'config_version=4\n\n[application]\n\nconfig/name="units"\n\n[debug]\n\n'
        "file_logging/enable_file_logging=false\n", encoding="utf-8")
    payload, res = _payload()
    env = godot_env(tmp_path, {"SPIKEFORGE_RESULT_HEX": payload.hex()})
    check = subprocess.run([*timeout_prefix(60), godot, "--path", str(project), "--check-only", "-s", "units.gd"],
                           capture_output=True, text=True, timeout=70, env=env)
    assert check.returncode == 0 and not errors_in(check.stdout + check.stderr), check.stdout + check.stderr
    proc = subprocess.run([*timeout_prefix(60), godot, "--path", str(project), "-s", "units.gd"],
                          capture_output=True, text=True, timeout=70, env=env)
    out = proc.stdout
    assert "SPIKEFORGE_UNITS_DONE" in out, out[-3000:] + proc.stderr[-3000:]
    assert not [line for line in (out + proc.stderr).splitlines() if "SCRIPT ERROR" in line], proc.stderr[-3000:]
    results = [line.split(" ", 3)[1:] for line in out.splitlines() if line.startswith("SPIKEFORGE_CHECK ")]
    failed = [r for r in results if r[1] != "ok"]
    assert not failed, failed
    names = {r[0] for r in results}
    assert {"agent_sensors", "value_source_vector2", "motor_turn_right", "action_signals", "spike_signals",
            "rays2d", "rays3d"} <= names
    # the refused wrong-size write is reported, not silent
    assert "expected 2 values, got 1" in proc.stderr
    decoded = json.loads(next(line for line in out.splitlines() if line.startswith("SPIKEFORGE_DECODED "))
                         .split(" ", 1)[1])
    assert (decoded["epoch"], decoded["steps"], decoded["sim_us"]) == (res.epoch, res.steps, res.sim_us)
    assert decoded["actuators"] == res.actuators.tolist()
    assert [b["sub_id"] for b in decoded["batches"]] == [3, 4]
    first = decoded["batches"][0]
    assert first["steps"] == [0, 5, 2**33 + 7]
    assert first["brain_ids"] == [4, 0, 4] and first["neurons"] == [1, 2, 11]
    assert decoded["batches"][1]["truncated"] is True and decoded["batches"][1]["neurons"] == []
