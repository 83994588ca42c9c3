"""Shared pieces of the GPU tests: the lavapipe guard and small networks with every feature.

The guard FAILS (never skips) under ``CI=true`` when wgpu or a Vulkan adapter is missing,
and always fails when wgpu silently picked a non-Vulkan adapter (e.g. llvmpipe via GL).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np
import pytest
from tests.engine.native_nets import feature_net  # the same feature network the native tests use

from spikeforge import World
from spikeforge.model import (
    LIF,
    Circuit,
    FixedInDegree,
    FixedProbability,
    Normal,
    Uniform,
)


def ensure_xdg_runtime_dir() -> None:
    """wgpu complains about an invalid XDG_RUNTIME_DIR; give it a private 0700 temp dir."""
    cur = os.environ.get("XDG_RUNTIME_DIR", "")
    if not cur or not os.path.isdir(cur) or (os.stat(cur).st_mode & 0o777) != 0o700:
        d = tempfile.mkdtemp(prefix="xdg-gpu-")
        os.chmod(d, 0o700)
        os.environ["XDG_RUNTIME_DIR"] = d


def require_lavapipe() -> dict[str, Any]:
    """The adapter info of the GPU device; fail/skip as described in the module docstring."""
    ensure_xdg_runtime_dir()
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    try:
        import wgpu  # noqa: F401
    except ImportError as exc:
        msg = f"wgpu is not installed ({exc}); `make venv` installs the gpu extra"
        if in_ci:
            pytest.fail(msg)
        pytest.skip(msg)
    from spikeforge.engine import wgpu_backend as G

    why = G.gpu_unavailable()
    if why is not None and " runs on " in why:  # an adapter exists but not on Vulkan: GL fallback
        pytest.fail(f"wgpu fell back to a non-Vulkan adapter (is lavapipe installed?): {why}")
    if why is not None:
        msg = f"no wgpu device: {why} (apt-get install mesa-vulkan-drivers libvulkan1)"
        if in_ci:
            pytest.fail(msg)
        pytest.skip(msg)
    info = G.gpu_device().info
    assert info["backend_type"] == "Vulkan", f"wgpu did not get a Vulkan adapter (lavapipe missing?): {info}"
    return info


def lif_net() -> Circuit:
    c = Circuit("lifnet")
    c.add_population("e", 40, LIF(bias=16.0, t_ref=2.0), v_init=(-65.0, -50.0))
    c.add_population("i", 10, LIF(tau_m=10.0, bias=16.0), v_init=(-65.0, -50.0))
    c.connect("e", "e", FixedProbability(0.2), weight=Uniform(0.5, 3.0), delay=(1, 4))
    c.connect("e", "i", FixedInDegree(8), weight=2.0, delay=2)
    c.connect("i", "e", FixedProbability(0.3), weight=Normal(-4.0, 1.0), delay=1)
    return c


def make_world(backend: str, brains: int = 3, seed: int = 7) -> World:
    w = World(dt=0.001, backend=backend, seed=seed)
    w.spawn(feature_net(), brains)
    w.spawn(lif_net(), 2)
    return w


def drive(world: World, frame: int) -> None:
    """Deterministic sensor values for ``frame`` (incl. out-of-range and NaN values)."""
    sv = world.layout.sensor_values
    if sv.size:
        r = np.random.default_rng(1000 + frame)
        vals = r.uniform(-1.3, 1.3, sv.size).astype(np.float32)
        if frame % 4 == 1:
            vals[frame % sv.size] = np.nan
        sv[...] = vals


def host_state(world: World) -> dict[str, np.ndarray]:
    """Every array the step touches, pulled to the host (copies)."""
    world.backend.pull_state()
    L = world.layout
    out = {f"neuron.{k}": a.copy() for k, a in L.neuron.items()}
    out.update(ring=L.ring.copy(), brain_step=L.brain_step.copy(), act_counts=L.act_counts.copy(),
               act_out=L.act_out.copy(), sensor_values=L.sensor_values.copy())
    return out


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert_bytes_equal(a[k], b[k], k)


SUBNORMAL_MAX = np.float32(2.0 ** -126)


def assert_bytes_equal(a: np.ndarray, b: np.ndarray, what: str) -> None:
    """``a`` and ``b`` (one of them numpy's) byte for byte, under docs/semantics.md's contract: on a
    GPU that flushes float32 subnormals to zero (NVIDIA; any adapter but a CPU one, so lavapipe is
    held to every byte) a value one side holds below 2^-126 may be +-0 on the other."""
    assert a.dtype == b.dtype and a.shape == b.shape, what
    if a.tobytes() == b.tobytes():
        return
    from spikeforge.engine import wgpu_backend as G

    assert not G.gpu_device().on_cpu and a.dtype == np.float32, f"{what} differs"
    x, y = a.reshape(-1), b.reshape(-1)
    sub_x = (x != 0) & (np.abs(x) < SUBNORMAL_MAX)
    sub_y = (y != 0) & (np.abs(y) < SUBNORMAL_MAX)
    flushed = (sub_x & (y == 0)) | (sub_y & (x == 0))
    bad = np.flatnonzero((x.view(np.uint32) != y.view(np.uint32)) & ~flushed)
    assert bad.size == 0, f"{what} differs beyond a flushed subnormal at {bad[:5]}: {x[bad[:5]]} vs {y[bad[:5]]}"
