"""The Unity console sample (``samples/unity_console``): a C# game loop with 100 NPC agents,
compiled with Mono's ``mcs`` and run with ``mono``. In ``shm`` mode it starts its own
``spikeforge serve`` through the package's ``ServerProcess`` launcher (as the Unity
``SpikeforgeWorld`` does); in ``inprocess`` mode it embeds CPython through pythonnet.

Without Mono these tests skip locally and FAIL under CI=true.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spikeforge.bench.unity import REPO_ROOT, Toolchain, ToolchainError, build_program, find_toolchain

pytestmark = pytest.mark.mono

SAMPLE = REPO_ROOT / "samples" / "unity_console" / "ForagerConsole.cs"


@pytest.fixture(scope="module")
def exe(tmp_path_factory: pytest.TempPathFactory) -> tuple[Toolchain, Path]:
    try:
        tc = find_toolchain()
    except ToolchainError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the Unity console sample needs Mono in CI: {exc}")
        pytest.skip(str(exc))
    out = build_program([SAMPLE], tmp_path_factory.mktemp("unity-console") / "ForagerConsole.exe", inprocess=True,
                        toolchain=tc)
    return tc, out


@pytest.mark.parametrize("mode", ["shm", "inprocess"])
def test_console_sample_runs_100_npcs(mode: str, exe: tuple[Toolchain, Path], tmp_path: Path) -> None:
    tc, path = exe
    env = dict(os.environ, HOME=str(tmp_path))  # the launched server's default folders stay in tmp
    res = subprocess.run([tc.mono, str(path), "--mode", mode, "--python", sys.executable, "--agents", "100",
                          "--frames", "120", "--backend", "native", "--genome",
                          str(REPO_ROOT / "samples" / "genomes" / "wanderer.json")],
                         capture_output=True, text=True, timeout=300, check=False, cwd=REPO_ROOT, env=env)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    # mono reports a crash after Main returned (e.g. in pythonnet's exit-time shutdown) and may still exit 0
    assert "Native Crash Reporting" not in out, out[-4000:]
    assert "unity_console: ok" in out
    assert f"mode {mode}, 100 NPCs, 120 frames" in out
