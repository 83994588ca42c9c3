"""Learning in WGSL (shaders/learn_*.wgsl) gives the numpy step's weights, traces and spikes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.engine.test_gpu_common import require_lavapipe

from spikeforge import World
from spikeforge.model import LIF, Circuit, FixedProbability, ModulatedLIF
from spikeforge.model.plasticity import STDP, Homeostasis, ModulatedHebbian, RewardSTDP

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def adapter() -> dict[str, Any]:
    return require_lavapipe()


@pytest.fixture(autouse=True, params=["per-brain", "per-brain-wg-ring", "per-step", "per-step-wg-per-spike"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test on both learning paths: inside the per-brain kernel (brain_learn.wgsl; its
    delay ring global or in workgroup memory) and on the per-step learning kernels (a spike
    propagated by one invocation, lavapipe's default, or by a workgroup, a GPU's)."""
    per_step = request.param.startswith("per-step")
    monkeypatch.setenv("SPIKEFORGE_GPU_LEARN_FUSED", "0" if per_step else "1")
    monkeypatch.setenv("SPIKEFORGE_GPU_WG_RING", "1" if request.param == "per-brain-wg-ring" else "0")
    monkeypatch.setenv("SPIKEFORGE_GPU_WG_PER_SPIKE", "1" if request.param == "per-step-wg-per-spike" else "0")
    return str(request.param)


def test_the_path_is_the_one_asked_for(adapter: dict[str, Any], path: str) -> None:
    be = world("gpu").backend
    assert be.name == "gpu" and be.fused == (not path.startswith("per-step"))
    assert be.wg_ring == (path == "per-brain-wg-ring")
    assert be.wg_per_spike == (path == "per-step-wg-per-spike")


def learner() -> Circuit:
    """Every rule: STDP (soft and hard bounds) with homeostasis, reward-STDP with a modulator
    term, modulated Hebbian."""
    c = Circuit("learner")
    c.add_population("a", 30, LIF(bias=16.0), v_init=(-65.0, -50.0))
    c.add_population("b", 20, LIF(bias=15.0), v_init=(-65.0, -50.0))
    c.add_population("m", 10, ModulatedLIF(bias=15.5), v_init=(-65.0, -50.0))
    c.add_population("r", 20, LIF(bias=15.5), v_init=(-65.0, -50.0))
    c.connect("a", "b", FixedProbability(0.3), weight=0.5, delay=(1, 3),
              plasticity=STDP(soft_bound=True, homeostasis=Homeostasis()))
    c.connect("b", "a", FixedProbability(0.3), weight=0.3, delay=2, plasticity=STDP())
    c.connect("a", "r", FixedProbability(0.3), weight=0.4, delay=1,
              plasticity=RewardSTDP(update_every=5, modulator_weight=0.1))
    c.connect("a", "m", FixedProbability(0.3), weight=0.4, delay=1, plasticity=ModulatedHebbian())
    c.connect("m", "m", FixedProbability(0.3), weight=0.3, kind="modulatory", delay=1)
    c.connect("r", "m", FixedProbability(0.3), weight=0.3, delay=1)
    return c


def run(world: World, frames: range) -> list[tuple[bytes, bytes]]:
    bs = world.brains
    out = []
    for f in frames:
        if f == 4:
            bs[1].reward(2.0)
        if f == 6:
            world.reward(np.array([0.5, -0.25, 1.0], np.float32))
        if f == 8:
            bs[2].freeze()
        if f == 10:
            bs[0].weights("a->b").set(np.full(len(bs[0].weights("a->b")), 0.45, np.float32))
        if f == 12:
            world.learning(False)
        if f == 15:
            world.learning(True)
            bs[2].unfreeze()
        if f == 17:
            bs[1].sleep()
        r = world.step(7)
        out.append((r.steps.tobytes(), r.neurons.tobytes()))
    return out


def world(backend: str) -> World:
    w = World(dt=0.001, backend=backend, seed=5)
    w.spawn(learner(), 3)
    return w


def assert_learning_state_equal(a: World, b: World) -> None:
    a.backend.pull_state()
    b.backend.pull_state()
    for k in a.layout.neuron:
        assert a.layout.neuron[k].tobytes() == b.layout.neuron[k].tobytes(), k
    for k in a.layout.synapse:
        assert a.layout.synapse[k].tobytes() == b.layout.synapse[k].tobytes(), k
    assert a.layout.dopamine.tobytes() == b.layout.dopamine.tobytes()
    assert a.layout.dopamine_sum.tobytes() == b.layout.dopamine_sum.tobytes()
    assert a.layout.ring.tobytes() == b.layout.ring.tobytes()


def test_learning_matches_numpy_bit_for_bit(adapter: dict[str, Any]) -> None:
    ref, gpu = world("numpy"), world("gpu")
    assert gpu.backend.name == "gpu"
    w0 = gpu.layout.synapse["w"].copy()
    assert run(ref, range(20)) == run(gpu, range(20))
    assert_learning_state_equal(ref, gpu)
    gpu.backend.pull_state()
    changed = gpu.layout.synapse["w"] != w0
    assert changed.sum() > 100  # weights really learned
    assert np.any(gpu.layout.synapse["elig"] != 0)


def test_learning_survives_a_device_loss(adapter: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    import wgpu

    ref, gpu = world("numpy"), world("gpu")
    assert run(ref, range(11)) == run(gpu, range(11))  # includes a weight write and rewards

    def lost(*_: Any) -> Any:
        raise wgpu.GPUError("device lost (injected)")

    monkeypatch.setattr(gpu.backend, "_map_readback", lost)
    assert run(ref, range(11, 20)) == run(gpu, range(11, 20))
    assert gpu.backend.name in ("native", "numpy")
    assert_learning_state_equal(ref, gpu)


def test_learning_with_chunked_buffers(adapter: dict[str, Any]) -> None:
    from spikeforge.engine.wgpu_backend import GpuBackend

    ref, gpu = world("numpy"), world("numpy")
    gpu.backend.close()
    gpu.backend = GpuBackend(gpu.layout, chunk_bytes=2048)
    assert min(len(gpu.backend._bufs[k]) for k in ("syn", "elig", "fstate")) > 1
    assert run(ref, range(12)) == run(gpu, range(12))
    assert_learning_state_equal(ref, gpu)


def test_host_weight_writes_reach_the_device(adapter: dict[str, Any]) -> None:
    ref, gpu = world("numpy"), world("gpu")
    for w in (ref, gpu):
        run(w, range(3))
        idx = w.brains[0].weights("b->a").index
        w.backend.pull_state()
        w.layout.synapse["w"][idx[:5]] = np.float32(0.9)  # the documented zero-copy route
        w.step(10)
        w.layout.synapse["elig"][:7] = np.float32(0.25)    # held array, no new pull
        w.step(10)
    assert_learning_state_equal(ref, gpu)


def literature_learner() -> Circuit:
    """The literature options (issue 16): nearest-spike pairing with a trace increment, trace
    saturation, tonic dopamine with dopamine applied every step; and background input."""
    from spikeforge.model import Background

    c = Circuit("lit")
    c.add_population("a", 30, LIF(bias=12.0), v_init=(-65.0, -50.0),
                     background=Background(noise="uniform", low=-4.0, high=10.0))
    c.add_population("b", 20, LIF(bias=15.0), v_init=(-65.0, -50.0), background=Background(rate=50.0, weight=3.0))
    c.add_population("r", 20, LIF(bias=15.5), v_init=(-65.0, -50.0))
    c.connect("a", "b", FixedProbability(0.3), weight=0.5, delay=(1, 3),
              plasticity=STDP(trace_increment=0.6, trace_max=1.1))
    c.connect("b", "r", FixedProbability(0.4), weight=0.4, delay=1,
              plasticity=RewardSTDP(update_every=1, pairing="nearest", trace_increment=0.1, a_plus=1.0,
                                    dopamine_baseline=0.01, lr=0.1, w_max=2.0))
    return c


def test_literature_options_match_numpy_bit_for_bit(adapter: dict[str, Any]) -> None:
    worlds = []
    for backend in ("numpy", "gpu"):
        w = World(dt=0.001, backend=backend, seed=6)
        w.spawn(literature_learner(), 3)
        worlds.append(w)
    ref, gpu = worlds
    w0 = ref.layout.synapse["w"].copy()
    assert run(ref, range(20)) == run(gpu, range(20))
    assert_learning_state_equal(ref, gpu)
    assert (ref.layout.synapse["w"] != w0).sum() > 100


def test_equal_time_options_match_numpy_bit_for_bit(adapter: dict[str, Any]) -> None:
    """equal_time (issue 16): traces flagged to pair same-step spikes take their increment in
    the neuron kernel, the others in learn_inc; byte-equal with numpy."""
    from tests.engine.test_plasticity_equal_time import equal_time_net

    worlds = []
    for backend in ("numpy", "gpu"):
        w = World(dt=0.001, backend=backend, seed=7)
        w.spawn(equal_time_net(), 3)
        worlds.append(w)
    ref, gpu = worlds
    w0 = ref.layout.synapse["w"].copy()
    assert run(ref, range(20)) == run(gpu, range(20))
    assert_learning_state_equal(ref, gpu)
    assert (ref.layout.synapse["w"] != w0).sum() > 50


def test_depression_at_delivery_matches_numpy_bit_for_bit(adapter: dict[str, Any]) -> None:
    """depress_at="delivery" (issue 16): learn_deliver depresses from the spike history, learn_inc
    shifts this step's spikes in; byte-equal with numpy (weights, eligibility, shist)."""
    from tests.engine.test_plasticity_delivery import delivery_net

    worlds = []
    for backend in ("numpy", "gpu"):
        w = World(dt=0.001, backend=backend, seed=8)
        w.spawn(delivery_net(), 3)
        worlds.append(w)
    ref, gpu = worlds
    w0 = ref.layout.synapse["w"].copy()
    assert run(ref, range(20)) == run(gpu, range(20))
    assert_learning_state_equal(ref, gpu)
    assert (ref.layout.synapse["w"] != w0).sum() > 50
    assert np.any(ref.layout.neuron["shist"] != 0)
