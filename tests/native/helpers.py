"""Build helpers for the C tests: compile native/ with make, export test worlds."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from tests.engine.native_nets import all_nets

from spikeforge import World
from spikeforge.runtime.export import export_world

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "native"


def build(*targets: str, san: bool = False, tsan: bool = False) -> Path:
    """``make -C native [SAN=1|TSAN=1] targets``; return the build directory."""
    if shutil.which("make") is None or shutil.which("cc") is None:
        pytest.skip("make and a C compiler are needed")
    cmd = ["make", "-s", "-C", str(NATIVE), *targets]
    if san or tsan:
        cmd.insert(4, "SAN=1" if san else "TSAN=1")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return NATIVE / ("build-san" if san else "build-tsan" if tsan else "build")


def make_world(seed: int = 4, count: int = 2) -> World:
    w = World(dt=0.001, backend="numpy", seed=seed)
    for c in all_nets():
        w.spawn(c, count=count)
    return w


def exported(tmp: Path, seed: int = 4, count: int = 2) -> tuple[Path, World]:
    w = make_world(seed, count)
    path = export_world(w, tmp / "world.sfb")
    return path, w


def run_python(w: World, frames: int, steps: int, value: float) -> int:
    """What the C host does, in the SDK: returns the spike count."""
    total = 0
    for _ in range(frames):
        w.layout.sensor_values[:] = np.float32(value)
        total += int(w.step(steps).neurons.size)
    return total
