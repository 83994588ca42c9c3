"""Brains as assets in real headless Godot 4 and Godot 3 (issue 12 item 3): the addon's
``SpikeforgeWorld.export_brain_asset`` writes a brain file that Python reads and spawns,
``spawn_from_asset(bytes, agent)`` and a ``BrainAgent.brain_asset_file`` spawn it back
on a real ``spikeforge serve`` (SPAWN_ASSET), and the copy exports the same arrays.

Skips without Godot 4 / Godot 3 (``make godot4``, ``godot3-server``; fails under CI like the
other Godot tests).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.integration.godot_support.harness import (
    GODOT3_SAMPLE,
    GODOT4_SAMPLE,
    REPO,
    check_scripts,
    copy_project,
    godot3_binary,
    godot4_binary,
    import_godot4_project,
    run_godot,
)

from spikeforge.ipc.testing import running_server
from spikeforge.runtime.brain_asset import read_brain
from spikeforge.runtime.world import World

pytestmark = pytest.mark.godot

HERE = REPO / "tests" / "integration"


@pytest.mark.parametrize("engine", [4, 3])
def test_godot_exports_and_respawns_a_brain_asset(tmp_path: Path, engine: int) -> None:
    godot = godot4_binary() if engine == 4 else godot3_binary()
    project = copy_project(GODOT4_SAMPLE if engine == 4 else GODOT3_SAMPLE, tmp_path / "project")
    shutil.copy(HERE / f"godot{engine}_assets" / "asset_probe.gd", project / "asset_probe.gd")
    if engine == 4:
        import_godot4_project(godot, project, tmp_path)
    else:
        failures = check_scripts(godot, project, tmp_path, only=["asset_probe.gd"])
        assert not failures, failures
    asset = tmp_path / "wolf.sfbrain"
    with running_server(tmp_path / "server") as srv:
        run = run_godot(godot, project, tmp_path, {"SPIKEFORGE_PORT": str(srv.port),
                                                   "SPIKEFORGE_TOKEN_FILE": str(srv.token_path),
                                                   "SPIKEFORGE_ASSET_OUT": str(asset)},
                        timeout=120, args=["-s", "res://asset_probe.gd"], engine=engine)
        log = srv.stderr
    out = run.stdout[-4000:] + run.stderr[-4000:]
    assert not run.timed_out, out
    assert not run.markers.get("SPIKEFORGE_ASSETS_FAIL"), out
    assert not run.script_errors(), run.script_errors()
    summary = json.loads(run.marker("SPIKEFORGE_ASSETS"))
    assert summary["first"] == 0 and summary["third"] == summary["third_agent"] == 1
    assert summary["second"] == 2 and summary["brains"] == 3 and summary["exchanges"] == 25
    assert summary["bytes"] == asset.stat().st_size
    assert "Traceback" not in log and "internal error" not in log, log[-4000:]
    # the Godot-exported file is a brain file Python verifies and spawns; the brain Godot
    # spawned from it exports the same arrays (state, weights, RNG position)
    manifest, arrays = read_brain(asset)
    copy_manifest, copy_arrays = read_brain(Path(f"{asset}.copy"))
    assert manifest["state"] and manifest["prototype"] == "probe"
    assert manifest["brain"] == copy_manifest["brain"] and manifest["brain"]["step"] > 0
    assert arrays.keys() == copy_arrays.keys()
    for name, a in arrays.items():
        assert a.tobytes() == copy_arrays[name].tobytes(), name
    assert World(backend="numpy").spawn_from(asset).prototype == "probe"
