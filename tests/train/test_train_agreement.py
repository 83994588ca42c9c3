"""Deployed weights reproduce the mirror's spikes in the runtime (numpy and native)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch  # the [train] extra: installed by make test, a missing one must fail
from tests.train.nets import feature_circuit, feature_inputs

import spikeforge.engine.native_backend as native
from spikeforge import World
from spikeforge.games.foragers import ForagerConfig, eye_input, forager_circuit
from spikeforge.model import LIF, Circuit, FixedProbability, Izhikevich
from spikeforge.train import CircuitMirror, apply_weights, load_weights, run_runtime, save_weights, spike_agreement
from spikeforge.train.foragers import TRAINABLE, imitation_config

torch.set_num_threads(1)
BACKENDS = ["numpy", pytest.param("native", marks=pytest.mark.native)]


def randomize(mirror: CircuitMirror, seed: int) -> None:
    """Weights far from the circuit's draw (as training would leave them), inside the constraints."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in mirror.weights.values():
            p.mul_(torch.rand(p.shape, generator=g) * 2.0).add_(torch.rand(p.shape, generator=g) * 0.37)
    mirror.clamp_()


@pytest.mark.parametrize("backend", BACKENDS)
def test_feature_net_identical_spikes(backend: str) -> None:
    if backend == "native" and native.unavailable() is not None:
        pytest.fail(f"the native backend is not built: {native.unavailable()}")
    c = feature_circuit()
    m = CircuitMirror(c, dt=0.001, seed=5, train_thresholds=["out"])
    randomize(m, 1)
    with torch.no_grad():
        m.thresholds["n6"].add_(-1.2345)
    c_dep = c.derive("feat", m.neuron_overrides())
    world = World(dt=0.001, backend=backend, seed=11)
    brains = world.spawn(c_dep, 3)
    # held-out inputs, from a state in mid-run (refractory neurons, pending delayed input)
    warm = feature_inputs(2, 3, seed=99)
    run_runtime(m, warm, 7, world=world, brains=brains)
    state = m.state_from_brains(brains)
    assert np.any(state.pending.numpy() != 0)
    sens = feature_inputs(12, 3, seed=7)
    out = m.run(sens, 7, state)
    raster, _, _ = run_runtime(m, sens, 7, world=world, brains=brains)
    mine = out.spikes.detach().numpy() > 0
    agree = spike_agreement(mine, raster)
    assert agree["spikes_a"] > 200
    assert agree["identical"] == 1.0, agree
    # actuator outputs of the last frame are the runtime's
    for a in ("rate", "vec"):
        got = world.group(c_dep).actuator(a)
        assert np.array_equal(out.actuators[a][-1].detach().numpy(), got), a


@pytest.mark.parametrize("brain", ["game", "imitation", "gaussian-eye"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_foragers_identical_spikes(backend: str, brain: str) -> None:
    if backend == "native" and native.unavailable() is not None:
        pytest.fail(f"the native backend is not built: {native.unavailable()}")
    # the game's default brain, the worked example's (a deterministic current-coded eye of 48
    # neurons, no exploration) and that one with a Poisson-coded eye and faster motor membranes
    cfg = {"game": ForagerConfig(), "imitation": imitation_config(),
           "gaussian-eye": imitation_config(eye_code="gaussian", eye_rate=400.0, motor_tau_m=12.0)}[brain]
    assert imitation_config().eye_code == "current"
    # what the worked example trains: eye->motor, the exploration weights and the mutual inhibition
    m = CircuitMirror(forager_circuit(cfg), dt=cfg.dt, seed=3, trainable=list(TRAINABLE))
    randomize(m, 2)
    rng = np.random.default_rng(4)
    sens = {"eye": eye_input(cfg, rng.uniform(-np.pi, np.pi, 6 * 4)).reshape(6, 4, -1),
            "nose": rng.uniform(0, 1, (6, 4, 1)).astype(np.float32),
            "explore": np.ones((6, 4, 2), np.float32)}
    out = m.run(sens, 25)
    raster, _, _ = run_runtime(m, sens, 25, backend=backend)
    agree = spike_agreement(out.spikes.detach().numpy() > 0, raster)
    assert agree["identical"] == 1.0 and agree["spikes_a"] > 500, agree


def test_deployed_weights_are_in_the_runtime_format(tmp_path: Path) -> None:
    cfg = ForagerConfig()
    m = CircuitMirror(forager_circuit(cfg), dt=cfg.dt, seed=0, trainable=["eye->motor"])
    with torch.no_grad():
        m.weights["p0"].copy_(torch.linspace(-3.0, 40.0, m.weights["p0"].numel()) + 1e-7)
    m.clamp_()
    w = m.trained()["eye->motor"]["w"]
    assert w.min() >= 0.0 and w.max() <= cfg.w_max  # the R-STDP rule's bounds
    assert np.array_equal(np.rint(w.astype(np.float64) * 65536.0) / 65536.0, w)  # exact fixed point
    path = tmp_path / "w.npz"
    save_weights(path, m.trained())
    back = load_weights(path)
    assert np.array_equal(back["eye->motor"]["w"], w)
    world = World(dt=cfg.dt, backend="numpy", seed=42)
    brains = world.spawn(forager_circuit(cfg), 2)
    assert apply_weights(brains, back) == 2 * w.size
    assert np.array_equal(np.sort(brains[1].weights("eye->motor").w), np.sort(w))


def test_other_connectivity_and_unsupported_parts_raise() -> None:
    c = Circuit("rnd")
    c.add_population("a", 20, LIF()).add_population("b", 20, LIF())
    c.connect("a", "b", rule=FixedProbability(0.3), weight=2.0)
    m = CircuitMirror(c, dt=0.001, seed=0)
    world = World(dt=0.001, backend="numpy", seed=0)
    brains = world.spawn(c, 2)  # brain 1 draws other synapses than the template (serial 0)
    with pytest.raises(ValueError, match="other synapses"):
        apply_weights(brains, m.trained())
    with pytest.raises(ValueError, match="another connectivity"):
        m.state_from_brains(brains)
    iz = Circuit("iz").add_population("a", 2, Izhikevich())
    with pytest.raises(ValueError, match=r"populations\['a'\].model"):
        CircuitMirror(iz)
    with pytest.raises(ValueError, match="surrogate"):
        CircuitMirror(c, surrogate="relu")
    with pytest.raises(KeyError, match="trainable"):
        CircuitMirror(c, trainable=["nope"])
