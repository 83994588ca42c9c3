"""FOLD (``GpuBackend(fold_prep=...)``, ``SPIKEFORGE_GPU_FOLD_PREP``): the per-step path without the
prep dispatch, its steps alternating the even and odd kernels (neuron/propagate, neuron1/propagate1)
and propagation on a fixed grid, gives the numpy step's answers byte for byte."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.engine.test_gpu_common import assert_same, drive, host_state, make_world, require_lavapipe

from spikeforge import World
from spikeforge.engine import wgpu_backend as G
from spikeforge.model import LIF, Circuit, FixedProbability, Uniform

pytestmark = pytest.mark.gpu

# steps per advance: odd and even counts, advances of one step (each starts on an even step)
ADVANCES = (5, 1, 2, 3, 1, 1, 7, 4, 6, 1, 9)


@pytest.fixture(scope="module")
def adapter() -> dict[str, Any]:
    return require_lavapipe()


def busy_net() -> Circuit:
    """400 neurons of which ~50-80 spike every step (more than a workgroup of invocations)."""
    c = Circuit("busy")
    c.add_population("e", 400, LIF(bias=40.0, t_ref=1.0), v_init=(-65.0, -50.0))
    c.connect("e", "e", FixedProbability(0.05), weight=Uniform(0.2, 1.0), delay=(1, 3))
    return c


def gpu_world(fold: bool, busy: bool = False, **kw: Any) -> World:
    w = make_world("numpy")  # feature_net has gap junctions: the gap kernel runs every step
    if busy:
        w.spawn(busy_net(), 1)
    w.backend.close()
    w.backend = G.GpuBackend(w.layout, fold_prep=fold, **kw)
    return w


def compare(ref: World, gpu: World, advances: tuple[int, ...] = ADVANCES) -> int:
    """Step both worlds by ``advances``, byte for byte; the most spikes of one step."""
    most = 0
    for f, n in enumerate(advances):
        for w in (ref, gpu):
            drive(w, f)
        a, b = ref.step(n), gpu.step(n)
        assert a.steps.tobytes() == b.steps.tobytes() and a.neurons.tobytes() == b.neurons.tobytes(), f"frame {f}"
        for name in ("act_out", "act_counts", "sensor_values"):
            x, y = getattr(ref.layout, name), getattr(gpu.layout, name)
            assert x.tobytes() == y.tobytes(), f"frame {f}: {name}"
        if a.steps.size:
            most = max(most, int(np.bincount(a.steps - a.steps.min()).max()))
    assert_same(host_state(ref), host_state(gpu))
    return most


@pytest.mark.parametrize("wg_per_spike", [False, True])
def test_fold_steps_as_numpy(adapter: dict[str, Any], wg_per_spike: bool) -> None:
    ref, gpu = make_world("numpy"), gpu_world(True, wg_per_spike=wg_per_spike)
    be = gpu.backend
    assert isinstance(be, G.GpuBackend)
    assert be.fold and not be.fused and be.layout.gap_a.size
    assert "prep" not in be.kernels and {"neuron1", "propagate1"} <= set(be.kernels)
    assert [k for k, _ in be._step_program(0)] == ["gap", "neuron", "propagate"]
    assert [k for k, _ in be._step_program(1)] == ["gap", "neuron1", "propagate1"]
    assert compare(ref, gpu) > 0
    # many one-step advances in a row, then the odd/even mix again
    assert compare(ref, gpu, (1,) * 6 + ADVANCES) > 0


@pytest.mark.parametrize("wg_per_spike", [False, True])
def test_fold_grid_smaller_than_the_spikes(adapter: dict[str, Any], wg_per_spike: bool,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """One propagate workgroup: its invocations grid-stride over every spike of the step."""
    monkeypatch.setattr(G, "PROP_GRID_MAX", 1)
    ref = make_world("numpy")
    ref.spawn(busy_net(), 1)
    gpu = gpu_world(True, busy=True, wg_per_spike=wg_per_spike)
    be = gpu.backend
    assert isinstance(be, G.GpuBackend) and be.fold and be.prop_grid == 1
    assert all(grid == (1, 1, 1) for k, grid in be._step_program(1) if k == "propagate1")
    most = compare(ref, gpu)
    assert most > G.WG  # more spikes in a step than the one workgroup has invocations


def test_fold_off_keeps_prep(adapter: dict[str, Any]) -> None:
    ref, gpu = make_world("numpy"), gpu_world(False)
    be = gpu.backend
    assert isinstance(be, G.GpuBackend) and not be.fold
    assert "prep" in be.kernels and "neuron1" not in be.kernels
    assert be._step_program(0) == be._step_program(1)
    assert [k for k, _ in be._step_program(0)] == ["gap", "neuron", "prep", "propagate"]
    assert "const FOLD = false;" in be.kernel_source("propagate")
    compare(ref, gpu)


def test_fold_kernel_constants(adapter: dict[str, Any]) -> None:
    be = gpu_world(True).backend
    assert isinstance(be, G.GpuBackend)
    for k, at, nxt in (("neuron", (G.M_STEP, G.M_K), (G.M_STEP1, G.M_K1)),
                       ("propagate", (G.M_STEP, G.M_K), (G.M_STEP1, G.M_K1)),
                       ("neuron1", (G.M_STEP1, G.M_K1), (G.M_STEP, G.M_K)),
                       ("propagate1", (G.M_STEP1, G.M_K1), (G.M_STEP, G.M_K))):
        src = be.kernel_source(k)
        assert "const FOLD = true;" in src, k
        assert f"const CNT_AT = {at[0]}u;" in src and f"const K_AT = {at[1]}u;" in src, k
        assert f"const CNT_NEXT = {nxt[0]}u;" in src and f"const K_NEXT = {nxt[1]}u;" in src, k
    assert "ctl: array<u32>" in be.kernel_source("propagate1") and "read_write> ctl:" in be.kernel_source("propagate")
    assert "const FOLD = false;" in be.kernel_source("encode")


def test_fold_default_and_switch(adapter: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """On by default on a GPU, off on a CPU adapter (lavapipe, where it is slower); SPIKEFORGE_GPU_FOLD_PREP
    or the argument decides; never for the per-brain kernel (it has no prep) nor for layouts that learn (their
    kernels use prep's)."""
    monkeypatch.delenv("SPIKEFORGE_GPU_FOLD_PREP", raising=False)
    w = make_world("numpy")
    info = G.gpu_device().info

    def fold(**kw: Any) -> bool:
        be = G.GpuBackend(w.layout, **kw)
        got = be.fold
        be.close()
        return got

    for kind, want in (("DiscreteGPU", True), ("IntegratedGPU", True), ("CPU", False)):
        monkeypatch.setitem(info, "adapter_type", kind)
        assert fold() == want
        for env in ("0", "1"):
            monkeypatch.setenv("SPIKEFORGE_GPU_FOLD_PREP", env)
            assert fold() == (env == "1")
            assert fold(fold_prep=not (env == "1")) == (env != "1")  # the argument wins
        monkeypatch.delenv("SPIKEFORGE_GPU_FOLD_PREP")
    lif = World(dt=0.001, backend="numpy", seed=1)
    lif.spawn(busy_net(), 2)  # no gap junctions: the per-brain kernel by default
    be = G.GpuBackend(lif.layout, fold_prep=True)
    assert be.fused and not be.fold and "neuron1" not in be.kernels
    be.close()
    be = G.GpuBackend(lif.layout, fold_prep=True, fused=False)
    assert be.fold
    be.close()


def test_fold_is_not_used_by_a_layout_that_learns(adapter: dict[str, Any]) -> None:
    from tests.engine.test_gpu_learning import assert_learning_state_equal, run
    from tests.engine.test_gpu_learning import world as learn_world

    ref, gpu = learn_world("numpy"), learn_world("numpy")
    gpu.backend.close()
    gpu.backend = G.GpuBackend(gpu.layout, fold_prep=True, fused=False)
    be = gpu.backend
    assert isinstance(be, G.GpuBackend) and be.plast is not None and not be.fold and "prep" in be.kernels
    assert run(ref, range(8)) == run(gpu, range(8))
    assert_learning_state_equal(ref, gpu)
