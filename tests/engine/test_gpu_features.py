"""The neuron kernel specialized to its layout (wgpu_backend.kernel_features): it names exactly what
the layout's parameter rows and projections can use, and leaving the rest out changes no bit."""

from __future__ import annotations

import numpy as np
import pytest
from tests.engine.native_nets import feature_net
from tests.engine.test_gpu_common import assert_same, drive, host_state, lif_net, require_lavapipe

from spikeforge import World
from spikeforge.bench import cuba_circuit
from spikeforge.bench.crowd import npc_circuit
from spikeforge.engine import params as P
from spikeforge.engine import wgpu_backend as G
from spikeforge.model import LIF, Background, Circuit, FixedProbability, Izhikevich


def _layout(*circuits: Circuit) -> object:
    w = World(dt=0.001, backend="numpy", seed=3)
    for c in circuits:
        w.spawn(c)
    return w.layout


def test_a_plain_lif_network_names_lif_and_two_channels_only() -> None:
    f = G.kernel_features(_layout(lif_net()))  # excitatory and inhibitory chemical synapses
    assert f == {"MODELS_USED": f"{1 << P.MODEL_LIF}u", "CH_USED": "3u", "USE_POIS": "false",
                 "USE_NOISE": "false", "USE_EXCIT": "false"}


def test_every_feature_a_population_or_projection_uses_is_named() -> None:
    c = Circuit("all")
    c.add_population("a", 8, Izhikevich(bias=8.0))
    c.add_population("b", 8, LIF(excitability=0.7), background=Background(noise="uniform", low=0.0, high=1.0))
    c.add_population("d", 8, LIF(), background=Background(rate=40.0, weight=2.0))
    c.connect("a", "b", FixedProbability(0.5), weight=0.4, kind="modulatory", delay=1)
    f = G.kernel_features(_layout(c))
    assert f["MODELS_USED"] == f"{(1 << P.MODEL_LIF) | (1 << P.MODEL_IZH)}u"
    assert f["CH_USED"] == "5u"  # the modulator channel, and channel 0 of the slots' pad projection
    assert (f["USE_POIS"], f["USE_NOISE"], f["USE_EXCIT"]) == ("true", "true", "true")


def test_specialization_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPIKEFORGE_GPU_SPECIALIZE", "0")
    f = G.kernel_features(_layout(lif_net()))
    assert f["MODELS_USED"] == "0xFFFFFFFFu" and f["CH_USED"] == "7u" and f["USE_EXCIT"] == "true"


def test_an_empty_world_has_no_features() -> None:
    f = G.kernel_features(World(dt=0.001, backend="numpy").layout)
    assert f["MODELS_USED"] == "0u" and f["USE_POIS"] == "false"


@pytest.mark.gpu
@pytest.mark.parametrize(("net", "fused"), [("npc", True), ("lif", True), ("lif", False), ("features", False)])
def test_the_specialized_kernel_steps_as_the_general_one_and_numpy(net: str, fused: bool,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Byte for byte: spikes and state of the specialized kernel, the general one (SPECIALIZE=0) and
    numpy, on the per-brain kernel and on the per-step kernels."""
    require_lavapipe()

    def world() -> World:
        w = World(dt=0.001, backend="numpy", seed=11)
        w.spawn({"npc": npc_circuit, "lif": lif_net, "features": feature_net}[net](), 3)
        return w

    runs: dict[str, tuple[dict[str, np.ndarray], bytes]] = {}
    for label in ("specialized", "general", "numpy"):
        monkeypatch.setenv("SPIKEFORGE_GPU_SPECIALIZE", "0" if label == "general" else "1")
        w = world()
        if label != "numpy":
            be = G.GpuBackend(w.layout, fused=fused)
            assert be.fused == fused
            assert (be._features["CH_USED"] == "7u") == (label == "general" or net == "features")
            w.backend = be
        spikes = []
        for frame in range(8):
            drive(w, frame)
            r = w.step(6)
            spikes += [r.steps.tobytes(), r.neurons.tobytes()]
        runs[label] = (host_state(w), b"".join(spikes))
        w.backend.close()
    assert len(runs["numpy"][1]) > 0
    for label in ("specialized", "general"):
        assert_same(runs[label][0], runs["numpy"][0])
        assert runs[label][1] == runs["numpy"][1], f"{label}: spikes differ"


@pytest.mark.gpu
def test_a_gpu_propagates_each_spike_with_a_workgroup(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a GPU a spike's ~80 synapses are issued by a workgroup's lanes together; a CPU adapter
    (lavapipe runs the lanes in turn) keeps one invocation per spike below WIDE_FANOUT."""
    require_lavapipe()
    monkeypatch.delenv("SPIKEFORGE_GPU_WG_PER_SPIKE", raising=False)
    w = World(dt=0.0001, backend="numpy", seed=2)
    w.spawn(cuba_circuit(400, indegree=80))
    info = G.gpu_device().info
    chosen = {}
    for kind in ("DiscreteGPU", "CPU"):
        monkeypatch.setitem(info, "adapter_type", kind)
        be = G.GpuBackend(w.layout, fused=False)
        chosen[kind] = be.wg_per_spike
        be.close()
    assert chosen == {"DiscreteGPU": True, "CPU": False}
    monkeypatch.setenv("SPIKEFORGE_GPU_WG_PER_SPIKE", "2")
    with pytest.raises(ValueError, match="SPIKEFORGE_GPU_WG_PER_SPIKE: must be 0 or 1"):
        G.GpuBackend(w.layout)
