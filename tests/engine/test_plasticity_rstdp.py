"""Reward-modulated STDP, modulated Hebbian, freezing, determinism and snapshots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spikeforge import LIF, Circuit, World
from spikeforge.model.plasticity import ModulatedHebbian, RewardSTDP
from spikeforge.model.synapses import OneToOne

N = 20
W0 = 1.0


def _credit_circuit() -> Circuit:
    """20 pre -> 20 post one-to-one, R-STDP; forced pairings via events, background via Poisson."""
    c = Circuit("credit").add_population("pre", N, LIF()).add_population("post", N, LIF())
    c.add_sensor("pre_evt", "pre", channels=N, kind="event")
    c.add_sensor("post_evt", "post", channels=N, kind="event")
    c.add_sensor("pre_bg", "pre", channels=1, kind="poisson", max_rate=1.0)
    c.add_sensor("post_bg", "post", channels=1, kind="poisson", max_rate=1.0)
    rule = RewardSTDP(a_plus=1.0, a_minus=1.0, tau_plus=20.0, tau_minus=20.0, tau_c=1000.0, tau_dopamine=200.0,
                      w_min=0.0, w_max=4.0, lr=0.002, update_every=10)
    c.connect("pre", "post", rule=OneToOne(), weight=W0, name="syn", plasticity=rule)
    return c


def test_delayed_reward_potentiates_only_the_paired_synapse() -> None:
    """Izhikevich (2007): synapse 0 gets a pre->post pairing (6 ms), reward 0.5 s later; 15 trials.
    The other synapses see only uncorrelated background spikes and must stay near their start."""
    c = _credit_circuit()
    world = World(dt=0.002, backend="numpy", seed=11)
    (b,) = world.spawn(c, 1)
    g = world.group(c)
    g.sensor("pre_bg")[:] = 1.0
    g.sensor("post_bg")[:] = 1.0
    rng = np.random.default_rng(0)
    for _ in range(15):
        world.step(int(rng.integers(50, 150)))
        g.sensor("pre_evt")[0, 0] = 1.0
        world.step(3)              # post fires 6 ms after pre
        g.sensor("post_evt")[0, 0] = 1.0
        world.step(250)            # the reward comes 0.5 s after the pairing
        b.reward(1.0)
        world.step(150)
    dw = b.weights("syn").w.astype(np.float64) - W0
    others = np.abs(dw[1:])
    assert dw[0] > 0.3, dw
    assert dw[0] > 8 * others.mean(), (dw[0], others.mean())
    assert others.max() < 0.5 * dw[0]


def test_no_reward_no_change_and_negative_reward_depresses() -> None:
    c = _credit_circuit()
    world = World(dt=0.001, backend="numpy", seed=2)
    b0, b1 = world.spawn(c, 2)
    g = world.group(c)
    for _ in range(5):
        g.sensor("pre_evt")[:, 0] = 1.0
        world.step(5)
        g.sensor("post_evt")[:, 0] = 1.0
        world.step(100)
        world.reward(np.array([0.0, -0.5]))
        world.step(300)
    w0, w1 = b0.weights("syn").w, b1.weights("syn").w
    assert np.all(w0 == np.float32(W0))
    assert w1[0] < W0 - 0.1
    assert float(b1.weights("syn").elig[0]) > 0


def test_frozen_brain_and_world_switch_keep_weights() -> None:
    c = _credit_circuit()
    world = World(dt=0.001, backend="numpy", seed=4)
    b0, b1, _b2 = world.spawn(c, 3)
    b1.freeze()
    assert b1.frozen and not b0.frozen
    g = world.group(c)
    g.sensor("pre_bg")[:] = 1.0
    g.sensor("post_bg")[:] = 1.0
    for _ in range(5):
        g.sensor("pre_evt")[:, 0] = 1.0
        world.step(5)
        g.sensor("post_evt")[:, 0] = 1.0
        world.step(50)
        world.reward(1.0)
        world.step(200)
    assert not np.all(b0.weights("syn").w == np.float32(W0))
    assert np.all(b1.weights("syn").w == np.float32(W0))
    before = world.layout.synapse["w"].copy()
    world.learning(False)
    world.reward(1.0)
    world.step(300)
    assert np.array_equal(world.layout.synapse["w"], before)
    assert not world.learning()
    world.spawn(c, 1)  # a relayout keeps the switch
    assert not world.learning()


def test_frozen_brain_spikes_like_a_brain_without_plasticity() -> None:
    """Learning state never feeds back into the dynamics of a frozen brain."""
    def circuit(plastic: bool) -> Circuit:
        c = Circuit("x" if plastic else "y").add_population("a", 10, LIF()).add_population("b", 10, LIF())
        c.add_sensor("in", "a", channels=1, kind="poisson", max_rate=80.0)
        c.connect("a", "b", weight=6.0, name="ab",
                  plasticity=RewardSTDP(w_max=10.0, lr=0.1) if plastic else None)
        c.connect("b", "b", weight=-2.0, name="bb")
        return c

    spikes = []
    for plastic in (True, False):
        world = World(dt=0.001, backend="numpy", seed=9)
        (b,) = world.spawn(circuit(plastic), 1)
        if plastic:
            b.freeze()
        world.group(b.prototype).sensor("in")[:] = 1.0
        recs = []
        for _ in range(10):
            recs.append(world.step(50).neurons.copy())
            if plastic:
                b.reward(1.0)
        spikes.append(np.concatenate(recs))
    assert spikes[0].size > 20
    assert np.array_equal(spikes[0], spikes[1])


def test_modulated_hebbian_learns_only_under_modulation() -> None:
    c = Circuit("hebb").add_population("pre", 5, LIF()).add_population("post", 5, LIF())
    c.add_population("reward", 1, LIF())
    c.add_sensor("p", "pre", channels=1, kind="poisson", max_rate=100.0)
    c.add_sensor("q", "post", channels=1, kind="poisson", max_rate=100.0)
    c.add_sensor("r", "reward", channels=1, kind="poisson", max_rate=200.0)
    c.connect("pre", "post", weight=0.5, name="h", plasticity=ModulatedHebbian(lr=0.05, w_max=2.0))
    c.connect("reward", "post", weight=1.0, kind="modulatory", name="da")
    world = World(dt=0.001, backend="numpy", seed=3)
    b0, b1 = world.spawn(c, 2)
    g = world.group(c)
    g.sensor("p")[:] = 1.0
    g.sensor("q")[:] = 1.0
    g.sensor("r")[:] = np.array([[0.0], [1.0]])
    world.step(500)
    assert np.all(b0.weights("h").w == np.float32(0.5))
    w1 = b1.weights("h").w
    assert np.all(w1 > 0.6) and np.all(w1 <= 2.0)


def test_modulator_route_feeds_reward_stdp() -> None:
    """Dopamine can come from a reward population through modulatory synapses."""
    c = _credit_circuit()
    c.add_population("vta", 2, LIF())
    c.add_sensor("vta_evt", "vta", channels=1, kind="event")
    c.connect("vta", "post", weight=0.5, kind="modulatory", name="da")
    c.projections[0] = type(c.projections[0])(**{**c.projections[0].__dict__,
                                                 "plasticity": RewardSTDP(w_max=4.0, lr=0.002, modulator_weight=1.0,
                                                                          tau_dopamine=200.0)})
    world = World(dt=0.001, backend="numpy", seed=2)
    (b,) = world.spawn(c, 1)
    g = world.group(c)
    for _ in range(5):
        g.sensor("pre_evt")[0, 0] = 1.0
        world.step(5)
        g.sensor("post_evt")[0, 0] = 1.0
        world.step(100)
        g.sensor("vta_evt")[0, 0] = 1.0
        world.step(300)
    dw = b.weights("syn").w - np.float32(W0)
    assert dw[0] > 0.01 and np.all(dw[1:] == 0)


def test_rules_sharing_a_trace_must_agree() -> None:
    c = Circuit("bad").add_population("a", 3).add_population("b", 3).add_population("c", 3)
    c.connect("a", "b", plasticity=RewardSTDP(tau_plus=20.0), name="ab")
    c.connect("a", "c", plasticity=RewardSTDP(tau_plus=30.0), name="ac")
    world = World(dt=0.001, backend="numpy", seed=0)
    with pytest.raises(ValueError, match=r"projections\[1\] \(ac\)\.plasticity: tau_plus 30.0 conflicts"):
        world.spawn(c, 1)


def test_learning_is_deterministic_and_resumes_bit_exact(tmp_path: Path) -> None:
    c = _credit_circuit()

    def run(world: World, n: int, off: int = 0) -> None:
        g = world.group(c)
        for i in range(off, off + n):
            g.sensor("pre_bg")[:] = 1.0
            g.sensor("post_bg")[:] = 1.0
            g.sensor("pre_evt")[:, i % N] = 1.0
            world.step(37)
            world.reward(np.linspace(-1.0, 1.0, world.layout.n_brains) * (1 if i % 2 else -0.5))

    a = World(dt=0.001, backend="numpy", seed=21)
    a.spawn(c, 3)
    a.brains[1].freeze()
    run(a, 10)
    a.save(tmp_path / "mid.zip")
    a.learning(False)
    a.save(tmp_path / "off.zip")
    assert not World.load(tmp_path / "off.zip", backend="numpy").learning()
    a.learning(True)
    run(a, 10, 10)
    b = World.load(tmp_path / "mid.zip", backend="numpy")
    assert b.brains[1].frozen
    run(b, 10, 10)
    fresh = World(dt=0.001, backend="numpy", seed=21)
    fresh.spawn(c, 3)
    fresh.brains[1].freeze()
    run(fresh, 20)
    for other in (b, fresh):
        for k in a.layout.synapse:
            assert np.array_equal(a.layout.synapse[k], other.layout.synapse[k]), k
        for k in a.layout.neuron:
            assert np.array_equal(a.layout.neuron[k], other.layout.neuron[k]), k
        assert np.array_equal(a.layout.dopamine, other.layout.dopamine)
        assert np.array_equal(a.layout.dopamine_sum, other.layout.dopamine_sum)
    assert not np.all(a.layout.synapse["w"] == np.float32(W0))


def test_spawn_despawn_keeps_learning_state() -> None:
    c = _credit_circuit()
    world = World(dt=0.001, backend="numpy", seed=8)
    b0, b1 = world.spawn(c, 2)
    g = world.group(c)
    g.sensor("pre_bg")[:] = 1.0
    g.sensor("post_bg")[:] = 1.0
    world.step(200)
    b1.reward(2.0)
    b1.freeze()
    world.step(20)
    w1, e1, d1 = b1.weights("syn").w, b1.weights("syn").elig, b1.dopamine
    plain = Circuit("plain").add_population("z", 3, LIF())
    world.despawn(b0)
    world.spawn(plain, 2)
    assert np.array_equal(b1.weights("syn").w, w1)
    assert np.array_equal(b1.weights("syn").elig, e1)
    assert b1.dopamine == d1 and b1.frozen
    world.step(10)


def test_bad_reward_input_is_rejected() -> None:
    world = World(dt=0.001, backend="numpy", seed=0)
    (b,) = world.spawn(_credit_circuit(), 1)
    with pytest.raises(ValueError, match="finite"):
        b.reward(float("nan"))
    with pytest.raises(ValueError, match="expected 1 values"):
        world.reward(np.zeros(3))
    with pytest.raises(ValueError, match="brain row 0"):
        world.reward(np.array([np.inf]))
    with pytest.raises(KeyError, match="no projection 'nope'"):
        b.weights("nope")
    with pytest.raises(ValueError, match="expected 20 values"):
        b.weights("syn").set(np.zeros(3))


def test_sleeping_brain_does_not_learn_or_decay() -> None:
    c = _credit_circuit()
    world = World(dt=0.001, backend="numpy", seed=6)
    b0, b1 = world.spawn(c, 2)
    g = world.group(c)
    g.sensor("pre_bg")[:] = 1.0
    g.sensor("post_bg")[:] = 1.0
    world.step(100)
    world.reward(1.0)
    b1.sleep()
    before = (b1.weights("syn").w, b1.weights("syn").elig, b1.dopamine)
    for _ in range(5):
        g.sensor("pre_evt")[:, 0] = 1.0
        world.step(5)
        g.sensor("post_evt")[:, 0] = 1.0
        world.step(100)
        world.reward(np.array([1.0, 0.0]))
    assert np.array_equal(b1.weights("syn").w, before[0])
    assert np.array_equal(b1.weights("syn").elig, before[1])
    assert b1.dopamine == before[2]
    assert not np.array_equal(b0.weights("syn").w, np.full(N, W0, np.float32))


def test_group_reward_touches_only_its_prototype() -> None:
    c = _credit_circuit()
    plain = Circuit("plain").add_population("z", 3, LIF())
    world = World(dt=0.001, backend="numpy", seed=0)
    world.spawn(plain, 1)
    b0, b1 = world.spawn(c, 2)
    world.group(c).reward(np.array([0.5, -0.25]))
    assert (b0.dopamine, b1.dopamine) == (0.5, -0.25)
    assert world.brains[0].dopamine == 0.0
    with pytest.raises(ValueError, match="has 2 brains"):
        world.group(c).reward(np.zeros(3))
