"""STDP inside the step: the exponential window, both signs, and bounds under any input."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge import LIF, Circuit, World
from spikeforge.model.plasticity import STDP
from spikeforge.model.synapses import OneToOne

A_PLUS, A_MINUS, TAU_P, TAU_M, LR = 0.01, 0.012, 16.0, 33.0, 2.0
W0 = 0.5
LAGS = list(range(-40, 41, 3))  # post time - pre time, in steps


def _pair_circuit(rule: STDP) -> Circuit:
    c = Circuit("pair").add_population("pre", 1, LIF()).add_population("post", 1, LIF())
    c.add_sensor("fire_pre", "pre", channels=1, kind="event")
    c.add_sensor("fire_post", "post", channels=1, kind="event")
    c.connect("pre", "post", weight=W0, rule=OneToOne(), name="syn", plasticity=rule)
    return c


def test_isolated_pairs_follow_the_exponential_window() -> None:
    """One brain per lag: one pre and one post spike at a controlled lag; dw matches the window."""
    rule = STDP(a_plus=A_PLUS, a_minus=A_MINUS, tau_plus=TAU_P, tau_minus=TAU_M, w_min=0.0, w_max=1.0, lr=LR)
    c = _pair_circuit(rule)
    world = World(dt=0.001, backend="numpy", seed=5)
    brains = world.spawn(c, len(LAGS))
    g = world.group(c)
    t_pre = np.array([50 + max(0, -k) for k in LAGS])
    t_post = t_pre + np.array(LAGS)
    fired = np.zeros((len(LAGS), 2), int)
    for s in range(130):
        g.sensor("fire_pre")[:, 0] = (t_pre == s).astype(np.float32)
        g.sensor("fire_post")[:, 0] = (t_post == s).astype(np.float32)
        rec = world.step(1)
        local = rec.neurons - world.layout.brain_start[:-1][world.layout.brain_of_neuron()[rec.neurons]]
        for n, loc in zip(rec.neurons, local, strict=True):
            fired[world.layout.brain_of_neuron()[n], int(loc)] += 1
    assert (fired == 1).all(), "every neuron spikes exactly once (the 0.5 mV weight never drives post)"
    dw = np.array([b.weights("syn").w[0] for b in brains], np.float64) - W0
    for k, d in zip(LAGS, dw, strict=True):
        if k > 0:
            want = LR * A_PLUS * math.exp(-k / TAU_P)
        elif k < 0:
            want = -LR * A_MINUS * math.exp(k / TAU_M)
        else:
            want = 0.0
        assert abs(d - want) <= 1e-6 + 1e-4 * abs(want), (k, d, want)
    assert dw[LAGS.index(2)] > 0 > dw[LAGS.index(-1)]


def test_soft_bound_scales_with_distance_to_bound() -> None:
    rule = STDP(a_plus=0.1, a_minus=0.1, tau_plus=20.0, tau_minus=20.0, w_min=0.0, w_max=1.0, soft_bound=True)
    c = _pair_circuit(rule)
    world = World(dt=0.001, backend="numpy", seed=1)
    (b,) = world.spawn(c, 1)
    v = b.weights("syn")
    v.set([0.9])
    g = world.group(c)
    g.sensor("fire_pre")[0, 0] = 1.0
    world.step(1)
    g.sensor("fire_post")[0, 0] = 1.0
    world.step(1)
    d = float(np.float32(0.1) * np.float32(math.exp(-1 / 20.0)) * (np.float32(1.0) - np.float32(0.9)))
    assert abs(float(v.w[0]) - (0.9 + d)) < 1e-6


@settings(max_examples=12, deadline=None)
@given(
    a_plus=st.floats(0.0, 5.0), a_minus=st.floats(0.0, 5.0), lr=st.floats(0.0, 10.0),
    w_lo=st.floats(-2.0, 1.0), span=st.floats(0.0, 3.0), soft=st.booleans(),
    rate_pre=st.floats(0.0, 1.0), rate_post=st.floats(0.0, 1.0), seed=st.integers(0, 2**16),
)
def test_weights_stay_within_bounds_under_any_input(a_plus: float, a_minus: float, lr: float, w_lo: float,
                                                   span: float, soft: bool, rate_pre: float, rate_post: float,
                                                   seed: int) -> None:
    w_hi = w_lo + span
    rule = STDP(a_plus=a_plus, a_minus=a_minus, tau_plus=10.0, tau_minus=30.0, w_min=w_lo, w_max=w_hi,
                soft_bound=soft, lr=lr)
    c = Circuit("b").add_population("pre", 6, LIF()).add_population("post", 5, LIF())
    c.add_sensor("p", "pre", channels=1, kind="poisson", max_rate=500.0)
    c.add_sensor("q", "post", channels=1, kind="poisson", max_rate=500.0)
    c.connect("pre", "post", weight=0.5 * (w_lo + w_hi) if w_lo + w_hi > 0 else 0.0, name="s", plasticity=rule)
    world = World(dt=0.001, backend="numpy", seed=seed)
    world.spawn(c, 2)
    g = world.group(c)
    g.sensor("p")[:] = rate_pre
    g.sensor("q")[:] = rate_post
    lo, hi = np.float32(w_lo), np.float32(w_hi)
    for _ in range(4):
        world.step(50)
        w = world.layout.synapse["w"]
        assert np.all(np.isfinite(w))
        assert np.all(w >= lo) and np.all(w <= hi)
