"""The per-brain kernel (shaders/brain.wgsl: one workgroup per brain runs every step of an
advance in one dispatch) gives the numpy step's answers bit for bit on lavapipe."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.engine.test_gpu_common import assert_same, drive, host_state, lif_net, require_lavapipe

from spikeforge import World
from spikeforge.bench.crowd import npc_circuit
from spikeforge.engine import wgpu_backend as G
from spikeforge.model import LIF, Circuit, FixedInDegree

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def adapter() -> dict[str, Any]:
    return require_lavapipe()


def big_net() -> Circuit:
    """A brain larger than the workgroup (each invocation strides over several neurons)."""
    c = Circuit("big")
    c.add_population("e", 700, LIF(bias=15.5, t_ref=2.0), v_init=(-65.0, -50.0))
    c.connect("e", "e", FixedInDegree(20), weight=1.5, delay=(1, 3))
    c.add_sensor("push", "e", channels=7, kind="current", low=-1.0, high=1.0, gain=3.0)
    c.add_actuator("out", "e", channels=7, kind="population_vector", low=-1.0, high=1.0)
    return c


def world(backend: str, big: bool = True) -> World:
    """Small brains (their delay rings fit in workgroup memory) and, with ``big``, one that
    does not (then the per-brain kernel uses the global ring)."""
    w = World(dt=0.001, backend=backend, seed=11)
    w.spawn(npc_circuit(), 4)
    w.spawn(lif_net(), 2)
    w.spawn(big_net() if big else npc_circuit(), 1)
    return w


def frames(w: World, n: int) -> list[tuple[bytes, ...]]:
    out = []
    for f in range(n):
        drive(w, f)
        if f == 2:
            w.brains[1].sleep()
            w.brains[5].lod_every = 2
        if f == 6:
            w.brains[1].wake()
        r = w.advance(7 * w.dt + 1e-9).spikes
        L = w.layout
        out.append((r.steps.tobytes(), r.neurons.tobytes(), L.act_out.tobytes(), L.act_counts.tobytes()))
    return out


@pytest.mark.parametrize("ring", ["0", "1"], ids=["global-ring", "workgroup-ring"])
def test_brain_kernel_matches_numpy_bit_for_bit(adapter: dict[str, Any], ring: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPIKEFORGE_GPU_WG_RING", ring)
    big = ring == "0"  # the big brain's ring needs ~34 kB of workgroup memory: more than lavapipe's 32 kB
    ref, gpu = world("numpy", big), world("gpu", big)
    be = gpu.backend
    assert isinstance(be, G.GpuBackend) and be.fused, "the per-brain kernel should be chosen here"
    assert be.wg_ring == (ring == "1")
    assert be.reg_state == (not big)  # the big brain has more neurons than the workgroup has invocations
    assert_same_frames(ref, gpu)


def assert_same_frames(ref: World, gpu: World) -> None:
    a, b = frames(ref, 10), frames(gpu, 10)
    assert sum(len(x[1]) for x in a) > 0
    for f, (x, y) in enumerate(zip(a, b, strict=True)):
        assert x == y, f"frame {f} differs"
    assert_same(host_state(ref), host_state(gpu))


@pytest.mark.parametrize("ring", ["0", "1"], ids=["global-ring", "workgroup-ring"])
@pytest.mark.parametrize("reg", ["1", "0"], ids=["state-in-registers", "state-in-memory"])
def test_state_in_registers_matches_numpy(adapter: dict[str, Any], ring: str, reg: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Brains of at most BRAIN_WG neurons: each invocation keeps its neuron's state in registers
    for the whole advance (REG_STATE, the default) or, with SPIKEFORGE_GPU_REG_STATE=0, loads and
    stores it every step; both bit for bit numpy (sleeping and LOD brains, sensors, actuators)."""
    monkeypatch.setenv("SPIKEFORGE_GPU_WG_RING", ring)
    monkeypatch.setenv("SPIKEFORGE_GPU_REG_STATE", reg)
    ref, gpu = world("numpy", big=False), world("gpu", big=False)
    be = gpu.backend
    assert isinstance(be, G.GpuBackend) and be.fused and be.wg_ring == (ring == "1")
    assert be.reg_state == (reg == "1")
    assert ("const REG_STATE = true;" in be.kernel_source("brain")) == (reg == "1")
    assert_same_frames(ref, gpu)


@pytest.mark.parametrize("ring", ["0", "1"], ids=["global-ring", "workgroup-ring"])
@pytest.mark.parametrize("mask,order,span,wspan", [("1", "1", "1", "1"), ("1", "0", "1", "1"), ("1", "1", "1", "0"),
                                                  ("1", "1", "0", "1"), ("0", "1", "1", "1")],
                         ids=["mask-sorted-on-device", "mask-sorted-on-host", "mask-ranges-from-memory",
                              "mask-row-by-row", "no-mask"])
def test_spike_mask_and_device_order_match_numpy(adapter: dict[str, Any], ring: str, mask: str, order: str,
                                                 span: str, wspan: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With state in registers, a step's spikes are a bit mask in workgroup memory (WG_MASK;
    SPIKEFORGE_GPU_WG_MASK=0: the global per-step list), a spike's synapses of all its rows are
    spread over the workgroup at once (SPAN; SPIKEFORGE_GPU_SPAN=0: row by row) and the host's
    spike list is sorted on the device (order.wgsl; SPIKEFORGE_GPU_ORDER=0: appended spike by
    spike, sorted on the host); a neuron's synapse range comes from a table in workgroup memory
    (SPIKEFORGE_GPU_WG_SPAN=0: from row_ptr / row_syn): spikes, actuators and state bit for bit
    numpy either way."""
    monkeypatch.setenv("SPIKEFORGE_GPU_WG_RING", ring)
    monkeypatch.setenv("SPIKEFORGE_GPU_WG_MASK", mask)
    monkeypatch.setenv("SPIKEFORGE_GPU_ORDER", order)
    monkeypatch.setenv("SPIKEFORGE_GPU_SPAN", span)
    monkeypatch.setenv("SPIKEFORGE_GPU_WG_SPAN", wspan)
    ref, gpu = world("numpy", big=False), world("gpu", big=False)
    be = gpu.backend
    assert isinstance(be, G.GpuBackend) and be.reg_state
    assert be.wg_mask == (mask == "1") and be.order == (mask == "1" and order == "1")
    assert be.span == (mask == "1" and span == "1")
    assert be.wg_span == (be.span and wspan == "1")
    src = be.kernel_source("brain")
    assert ("const WG_MASK = true;" in src) == (mask == "1") and ("const SPAN = true;" in src) == be.span
    assert ("order" in be.kernels) == be.order
    assert_same_frames(ref, gpu)


@pytest.mark.parametrize("wg,npt,mask,ring", [("128", "2", "1", "0"), ("128", "2", "0", "1"), ("64", "4", "1", "1")],
                         ids=["wg128-mask", "wg128-list-wg-ring", "wg64-mask-wg-ring"])
def test_several_neurons_per_invocation_in_registers(adapter: dict[str, Any], wg: str, npt: str, mask: str, ring: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """SPIKEFORGE_GPU_REG_NPT: brains of up to NPT x BRAIN_WG neurons keep their state in registers,
    NPT neurons per invocation; bit for bit numpy with the spike mask and with the per-step list."""
    monkeypatch.setenv("SPIKEFORGE_GPU_BRAIN_WG", wg)
    monkeypatch.setenv("SPIKEFORGE_GPU_REG_NPT", npt)
    monkeypatch.setenv("SPIKEFORGE_GPU_WG_MASK", mask)
    monkeypatch.setenv("SPIKEFORGE_GPU_WG_RING", ring)
    ref, gpu = world("numpy", big=False), world("gpu", big=False)
    be = gpu.backend
    assert isinstance(be, G.GpuBackend) and be.reg_state and be.wg_mask == (mask == "1")
    assert be.npt > 1 and f"const NPT = {be.npt}u;" in be.kernel_source("brain")
    assert_same_frames(ref, gpu)
    monkeypatch.setenv("SPIKEFORGE_GPU_REG_NPT", "3")
    with pytest.raises(ValueError, match="SPIKEFORGE_GPU_REG_NPT: must be 1, 2 or 4, got 3"):
        G.GpuBackend(ref.layout)


def test_device_order_any_advance_length(adapter: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Advances of 1 step, of several, and longer than ORD_MAX_STEPS (their list is sorted on the
    host), from the same state as numpy, give the same spikes and state."""
    monkeypatch.setattr(G, "ORD_MAX_STEPS", 12)  # (the ctl words for the steps' totals stay allocated)
    w1, w2 = World(dt=0.001, backend="numpy", seed=5), World(dt=0.001, backend="numpy", seed=5)
    for w in (w1, w2):
        w.spawn(npc_circuit(), 3)
        w.spawn(lif_net(), 2)
        w.layout.sensor_values[...] = 0.8
    ref = w1.backend
    gpu = G.GpuBackend(w2.layout)
    assert gpu.order
    done = spikes = 0
    for n in (1, 12, 13, 5):
        r1, r2 = ref.advance(n, done, None), gpu.advance(n, done, None)
        assert np.array_equal(r1.steps, r2.steps) and np.array_equal(r1.neurons, r2.neurons), n
        assert r2.steps.dtype == np.int64 and r2.neurons.dtype == np.int32
        done += n
        spikes += r1.neurons.size
    assert spikes > 0
    gpu.pull_state()
    for k in w1.layout.neuron:
        assert w1.layout.neuron[k].tobytes() == w2.layout.neuron[k].tobytes(), k
    gpu.close()


def test_device_order_across_brain_chunks(adapter: dict[str, Any]) -> None:
    """order.wgsl places each 256-brain chunk's spikes after those of the chunks before it at the
    same step: 600 brains (three chunks, some asleep) give numpy's list and state."""
    w1, w2 = World(dt=0.001, backend="numpy", seed=6), World(dt=0.001, backend="numpy", seed=6)
    for w in (w1, w2):
        w.spawn(lif_net(), 600)
    ref, gpu = w1.backend, G.GpuBackend(w2.layout)
    assert gpu.order
    active = np.ones(600, bool)
    active[::7] = False
    done = spikes = 0
    for n, act in ((6, None), (4, active), (7, None)):
        r1, r2 = ref.advance(n, done, act), gpu.advance(n, done, act)
        assert np.array_equal(r1.steps, r2.steps) and np.array_equal(r1.neurons, r2.neurons), n
        done += n
        spikes += r1.neurons.size
    assert spikes > 0 and np.unique(w1.layout.brain_of_neuron()[r1.neurons]).size > 256
    gpu.pull_state()
    for k in w1.layout.neuron:
        assert w1.layout.neuron[k].tobytes() == w2.layout.neuron[k].tobytes(), k
    gpu.close()


@pytest.mark.parametrize("dev", ["1", "0"], ids=["clocks-on-device", "table-every-advance"])
def test_brain_table_kept_on_device(adapter: dict[str, Any], dev: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """DEV_STEPS: the per-brain kernel moves the brains' clocks and ring slots on itself and the
    next advance leaves the brain table out of the upload, unless the host's clocks differ (here
    set by hand), a brain slept, or a slot was written; spikes and state stay numpy's."""
    monkeypatch.setenv("SPIKEFORGE_GPU_DEV_STEPS", dev)
    w1, w2 = World(dt=0.001, backend="numpy", seed=8), World(dt=0.001, backend="numpy", seed=8)
    for w in (w1, w2):
        w.spawn(npc_circuit(), 3)
        w.spawn(lif_net(), 3)
        w.layout.sensor_values[...] = 0.7
    ref, gpu = w1.backend, G.GpuBackend(w2.layout)
    assert gpu.dev_steps == (dev == "1") and ("const DEV_STEPS = true;" in gpu.kernel_source("brain")) == gpu.dev_steps
    sleep = np.ones(6, bool)
    sleep[2] = False
    done = 0
    for i, (n, act) in enumerate(((5, None), (5, None), (3, None), (4, sleep), (5, None), (6, None))):
        if i == 2:  # the host moves a clock: the table must be sent again
            for w in (w1, w2):
                w.layout.brain_step[4] += 1000
        r1, r2 = ref.advance(n, done, act), gpu.advance(n, done, act)
        assert np.array_equal(r1.steps, r2.steps) and np.array_equal(r1.neurons, r2.neurons), i
        assert (gpu._dev_steps is not None) == (gpu.dev_steps and act is None)
        done += n
    gpu.pull_state()
    for k in w1.layout.neuron:
        assert w1.layout.neuron[k].tobytes() == w2.layout.neuron[k].tobytes(), k
    assert w1.layout.ring.tobytes() == w2.layout.ring.tobytes()
    gpu.close()


def test_rate_decoders_any_step_count(adapter: dict[str, Any]) -> None:
    """A rate decoder divides by the advance's steps: its uniform is made once per step count and
    reused (16 / 17 alternate at 60 Hz); outputs stay numpy's when the count changes and returns."""
    from tests.engine.test_gpu_common import make_world

    ref, gpu = make_world("numpy"), make_world("gpu")
    rate_outputs = 0.0
    for f, n in enumerate((1, 12, 13, 5, 12, 13, 1)):
        for w in (ref, gpu):
            drive(w, f)
            w.advance(n * w.dt + 1e-9)
        assert ref.layout.act_out.tobytes() == gpu.layout.act_out.tobytes(), (f, n)
        rate_outputs += sum(float(np.abs(ref.layout.act_out[g.out_offset:g.out_offset + g.brains * g.width]).sum())
                            for g in ref.layout.actuator_groups if g.kind == 0)
    assert rate_outputs > 0


def test_per_step_and_per_brain_kernels_agree(adapter: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPIKEFORGE_GPU_WG_RING", "1")
    w1, w2 = World(dt=0.001, backend="numpy", seed=4), World(dt=0.001, backend="numpy", seed=4)
    for w in (w1, w2):
        w.spawn(npc_circuit(), 3)
        w.layout.sensor_values[...] = 0.9
    b1, b2 = G.GpuBackend(w1.layout, fused=True), G.GpuBackend(w2.layout, fused=False)
    assert b1.fused and b1.wg_ring and not b2.fused
    r1, r2 = b1.advance(40, 0, None), b2.advance(40, 0, None)
    assert np.array_equal(r1.steps, r2.steps) and np.array_equal(r1.neurons, r2.neurons)
    assert r1.neurons.size > 0
    b1.pull_state()
    b2.pull_state()
    for k in w1.layout.neuron:
        assert w1.layout.neuron[k].tobytes() == w2.layout.neuron[k].tobytes(), k
    b1.close()
    b2.close()


def test_brain_kernel_refuses_gap_junctions(adapter: dict[str, Any]) -> None:
    from tests.engine.native_nets import feature_net

    w = World(dt=0.001, backend="numpy", seed=1)
    w.spawn(feature_net(), 1)
    assert w.layout.gap_a.size
    with pytest.raises(ValueError, match="fused: the per-brain kernel does not run gap junctions"):
        G.GpuBackend(w.layout, fused=True)
    assert not G.GpuBackend(w.layout).fused


def test_brain_kernel_takes_learning(adapter: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A layout that learns runs in the per-brain kernel (brain_learn.wgsl) unless
    SPIKEFORGE_GPU_LEARN_FUSED=0; the exactness tests are tests/engine/test_gpu_learning.py."""
    from tests.engine.test_gpu_learning import learner

    w = World(dt=0.001, backend="numpy", seed=1)
    w.spawn(learner(), 2)
    be = G.GpuBackend(w.layout)
    src = be.kernel_source("brain")
    assert be.fused and "fn potentiate" in src and "fn reward_update" in src
    assert not be.reg_state  # learning reads the neurons' state mid-advance: it stays in memory
    # a brain whose reward-STDP sweep is too big for one workgroup: the per-step kernels
    monkeypatch.setattr(G, "BRAIN_MAX_RS_SYNAPSES", int(np.diff(be.plast.rs_ptr).max()) - 1)
    assert not G.GpuBackend(w.layout).fused
    monkeypatch.undo()
    monkeypatch.setenv("SPIKEFORGE_GPU_LEARN_FUSED", "0")
    assert not G.GpuBackend(w.layout).fused
    assert G.GpuBackend(w.layout, fused=True).fused  # an explicit choice wins over the variable


def test_spike_list_longer_than_the_read_back_guess(adapter: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """More spikes than the prefix copied with the counters: a second read, then a bigger guess."""
    monkeypatch.setattr(G, "SPIKE_GUESS_MIN", 2)
    ref, gpu = world("numpy"), world("gpu")
    be = gpu.backend
    assert isinstance(be, G.GpuBackend) and be._spk_guess == 2
    assert frames(ref, 4) == frames(gpu, 4)
    assert be._spk_guess > 2
