"""Synapses on the numpy backend: delays, channels, gap junctions, order-free accumulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tests.conftest import assert_states_equal, layout_state, record, single_brain

from spikeforge import LIF, Circuit, ModulatedLIF, Pairs, World

SILENT = LIF(v_thresh=0.0, v_reset=-70.0)  # never fires on its own


def _driver(c: Circuit, size: int = 1) -> Circuit:
    """Add a population ``src`` fired on demand through the event sensor ``go``."""
    return c.add_population("src", size, SILENT).add_sensor("go", "src", channels=size, kind="event")


@pytest.mark.parametrize("delay", [1, 2, 5, 17, 64])
def test_spike_with_delay_d_arrives_exactly_d_steps_later(delay: int) -> None:
    c = _driver(Circuit("delay"))
    # one input of 1000 mV of drive makes the target fire in the arrival step
    c.add_population("tgt", 1, LIF(t_ref=100.0)).connect("src", "tgt", weight=1000.0, delay=delay)
    world, brain = single_brain(c)
    world.step(3)  # some history first: arrival must be relative to the send step
    brain.set_sensor("go", [1.0])
    tr = record(world, brain, "tgt", delay + 5, keys=("ie",))
    assert tr.spike_steps.tolist() == [3 + delay]
    assert np.all(tr.state["ie"][:delay, 0] == 0.0)
    assert tr.state["ie"][delay, 0] > 0.0


def test_delay_ranges_spread_arrivals() -> None:
    c = _driver(Circuit("spread"))
    c.add_population("tgt", 400, LIF(t_ref=50.0)).connect("src", "tgt", weight=1000.0, delay=(2, 6))
    world, brain = single_brain(c, seed=3)
    brain.set_sensor("go", [1.0])
    rec = world.step(12)
    arrivals = rec.steps[rec.neurons >= 1]
    assert arrivals.size == 400
    assert set(arrivals.tolist()) == {2, 3, 4, 5, 6}


def test_channels_excitatory_inhibitory_modulatory() -> None:
    c = _driver(Circuit("channels"))
    tgt = ModulatedLIF(v_thresh=0.0, v_reset=-70.0, habituation=0.0, burst_overshoot=0.0, mod_gain=0.0)
    c.add_population("e", 1, tgt).add_population("i", 1, tgt).add_population("m", 1, tgt)
    c.connect("src", "e", weight=1.5).connect("src", "i", weight=-2.5).connect("src", "m", weight=0.75,
                                                                               kind="modulatory")
    world, brain = single_brain(c)
    brain.set_sensor("go", [1.0])
    world.step(2)
    e, i, m = brain["e"], brain["i"], brain["m"]
    pee, pii = np.float32(math.exp(-1 / 5)), np.float32(math.exp(-1 / 10))
    assert (e.ie[0], e.ii[0]) == (np.float32(1.5) * pee, 0.0)
    assert (i.ie[0], i.ii[0]) == (0.0, np.float32(-2.5) * pii)
    assert "mod" not in e.keeps and "mod" not in i.keeps  # no modulatory input: no modulator stored
    assert (m.ie[0], m.ii[0], m.mod[0]) == (0.0, 0.0, np.float32(0.75))
    assert e.v[0] > i.v[0]  # exc depolarizes, inh hyperpolarizes, mod alone does nothing
    assert i.v[0] < m.v[0] < e.v[0]


def _gap_circuit(g: float, v_a: float, v_b: float) -> Circuit:
    c = Circuit("gap")
    c.add_population("a", 1, SILENT, v_init=v_a).add_population("b", 1, SILENT, v_init=v_b)
    if g > 0:
        c.connect("a", "b", weight=g, kind="electrical")
    return c


def test_gap_junction_is_symmetric_and_pulls_voltages_together() -> None:
    g = 0.3
    world, brain = single_brain(_gap_circuit(g, -70.0, -50.0))
    ctrl_world, ctrl = single_brain(_gap_circuit(0.0, -70.0, -50.0))
    world.step(1)
    ctrl_world.step(1)
    da = float(brain["a"].v[0]) - float(ctrl["a"].v[0])
    db = float(brain["b"].v[0]) - float(ctrl["b"].v[0])
    pvd = 1.0 - math.exp(-1.0 / 20.0)
    assert da == pytest.approx(g * 20.0 * pvd, rel=1e-4)  # a pulled up towards b
    assert db == pytest.approx(-g * 20.0 * pvd, rel=1e-4)  # b pulled down towards a, equally
    # over time the gap narrows faster than without coupling
    world.step(30)
    ctrl_world.step(30)
    gap = float(brain["b"].v[0] - brain["a"].v[0])
    ctrl_gap = float(ctrl["b"].v[0] - ctrl["a"].v[0])
    assert 0.0 < gap < ctrl_gap


def test_gap_junction_equal_voltages_carry_no_current() -> None:
    world, brain = single_brain(_gap_circuit(0.8, -58.0, -58.0))
    ctrl_world, ctrl = single_brain(_gap_circuit(0.0, -58.0, -58.0))
    for _ in range(20):
        world.step(1)
        ctrl_world.step(1)
        assert brain["a"].v[0] == ctrl["a"].v[0] and brain["b"].v[0] == ctrl["b"].v[0]


def test_gap_junction_currents_cancel_over_a_network() -> None:
    """The integer gap accumulator sums to zero: voltage deviations from the uncoupled
    run are opposite and sum to (float32) zero across the coupled neurons."""
    rng = np.random.default_rng(0)
    n = 30
    pre = tuple(int(x) for x in rng.integers(0, n, 60))
    post = tuple(int(x) for x in rng.integers(0, n, 60))
    for coupled in (True, False):
        c = Circuit("net").add_population("p", n, SILENT, v_init=(-70.0, -50.0))
        if coupled:
            c.connect("p", "p", Pairs(pre, post), weight=0.2, kind="electrical")
        w, b = single_brain(c, seed=5)
        w.step(1)
        if coupled:
            v_c = b["p"].v.astype(np.float64)
        else:
            v_u = b["p"].v.astype(np.float64)
    assert not np.allclose(v_c, v_u)
    assert abs((v_c - v_u).sum()) < 1e-3


def _convergent(order: list[int]) -> Circuit:
    """Five drivers fire in the same step onto one target through weights whose float32
    sum depends on the order; the projections are listed in ``order``."""
    weights = [1e-3, 3000.0, -2999.9, 0.1234567, 7.654321]
    c = Circuit("conv").add_population("src", 5, SILENT).add_sensor("go", "src", channels=5, kind="event")
    c.add_population("tgt", 3, LIF(v_thresh=1000.0, v_reset=-70.0))
    for j in order:
        c.connect("src", "tgt", Pairs((j, j, j), (0, 1, 2)), weight=abs(weights[j]), name=f"p{j}")
    return c


def test_fixed_point_accumulation_does_not_depend_on_synapse_order() -> None:
    rng = np.random.default_rng(1)
    states = []
    for trial in range(4):
        order = [0, 1, 2, 3, 4] if trial == 0 else [int(j) for j in rng.permutation(5)]
        world, brain = single_brain(_convergent(order))
        if trial >= 2:  # also shuffle the synapses inside every row of the layout
            L = world.layout
            for r in range(L.n_rows):
                s0, s1 = int(L.row_syn[r]), int(L.row_syn[r + 1])
                perm = s0 + rng.permutation(s1 - s0)
                for k in L.synapse:
                    L.synapse[k][s0:s1] = L.synapse[k][perm]
        brain.set_sensor("go", np.ones(5))
        world.step(3)
        states.append(layout_state(world, brain))
    for s in states[1:]:
        assert_states_equal(states[0], s)


def test_quantization_of_weights_is_exact_to_2_pow_minus_16() -> None:
    c = _driver(Circuit("q")).add_population("t", 1, SILENT).connect("src", "t", weight=0.1)
    world, brain = single_brain(c)
    brain.set_sensor("go", [1.0])
    world.step(2)
    arrived = round(0.1 * 65536) / 65536  # what the ring carries
    assert float(brain["t"].ie[0]) == pytest.approx(arrived * math.exp(-1 / 5), rel=1e-6)


def test_synapses_never_cross_brains() -> None:
    c = _driver(Circuit("iso")).add_population("t", 4, LIF(t_ref=0.0)).connect("src", "t", weight=1000.0)
    world = World(dt=0.001, backend="numpy", seed=0)
    a, b = world.spawn(c, count=2)
    a.set_sensor("go", [1.0])
    rec = world.step(3)
    assert set(rec.neurons.tolist()) <= set(range(a.neurons.start, a.neurons.stop))
    assert np.all(b["t"].ie == 0.0)


def test_quantize_rounds_half_to_even_clamps_and_zeroes_nan() -> None:
    from spikeforge.engine.numpy_backend import quantize

    q = 1.0 / 65536
    x = np.array([0.5 * q, 1.5 * q, 2.5 * q, -0.5 * q, -1.5 * q, 1e6, -1e6, np.nan, np.inf], np.float32)
    assert quantize(x).tolist() == [0, 2, 2, 0, -2, 2147483520, -2147483520, 0, 2147483520]


def test_huge_weights_saturate_instead_of_wrapping_per_synapse() -> None:
    c = _driver(Circuit("sat")).add_population("t", 1, SILENT).connect("src", "t", weight=1e6)
    world, brain = single_brain(c)
    brain.set_sensor("go", [1.0])
    world.step(2)
    assert float(brain["t"].ie[0]) == pytest.approx(2147483520 / 65536 * math.exp(-1 / 5), rel=1e-6)


def test_electrical_projection_within_a_population_has_one_junction_per_pair() -> None:
    from spikeforge import LIF, AllToAll, Circuit, World

    c = Circuit("gap").add_population("a", 5, LIF())
    c.connect("a", "a", AllToAll(), weight=0.1, kind="electrical")
    world = World(backend="numpy")
    world.spawn(c)
    L = world.layout
    pairs = {(int(x), int(y)) for x, y in zip(L.gap_a, L.gap_b, strict=True)}
    assert len(pairs) == L.gap_a.size == 10  # C(5, 2): no (j, i) twin, no (i, i)
    assert all(x < y for x, y in pairs)
