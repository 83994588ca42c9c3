"""FLUX's modulated LIF on the numpy backend: habituation, modulatory gain, overshoot bursts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tests.conftest import one_population, record, single_brain

from spikeforge import LIF, Circuit, ModulatedLIF


def test_habituation_raises_theta_per_spike_and_relaxes() -> None:
    hab, tau_h = 1.5, 40.0
    model = ModulatedLIF(habituation=hab, tau_habituation=tau_h, burst_overshoot=0.0, t_ref=2.0)
    world, brain = single_brain(one_population(model, v_init=-50.5), dt=0.001)
    brain["n"].iext[:] = 40.0
    tr = record(world, brain, "n", 200, keys=("theta",))
    theta = tr.state["theta"][:, 0].astype(np.float64)
    spikes = set(tr.spikes_of(0).tolist())
    assert len(spikes) >= 5
    assert theta[min(spikes)] == pytest.approx(hab, abs=1e-6)
    decay = math.exp(-1.0 / tau_h)
    for k in range(1, 200):
        assert theta[k] == pytest.approx(theta[k - 1] * decay + (hab if k in spikes else 0.0), rel=2e-6, abs=1e-6)
    # the rising threshold lengthens the inter-spike intervals
    isi = np.diff(sorted(spikes))
    assert isi[-1] > isi[0]
    # input off: theta relaxes back towards 0 with tau_habituation
    brain["n"].iext[:] = 0.0
    start = float(brain["n"].theta[0])
    world.step(200)
    assert float(brain["n"].theta[0]) == pytest.approx(start * math.exp(-200.0 / tau_h), rel=1e-4)


def test_habituation_slows_firing_compared_with_plain_lif() -> None:
    common = {"t_ref": 2.0, "bias": 40.0}
    habit = single_brain(one_population(ModulatedLIF(habituation=2.0, burst_overshoot=0.0, **common)))[0]
    plain = single_brain(one_population(LIF(**common)))[0]
    assert habit.step(500).steps.size < plain.step(500).steps.size


def _modulation_circuit(gain: float, m: float) -> Circuit:
    tgt = ModulatedLIF(mod_gain=gain, tau_mod=50.0, habituation=0.0, burst_overshoot=0.0, v_thresh=0.0,
                       v_reset=-70.0)
    c = Circuit("modulation")
    c.add_population("src", 1, LIF(v_thresh=0.0, v_reset=-70.0))  # fires only when forced
    c.add_population("a", 1, tgt).add_population("b", 1, tgt)
    c.connect("src", "a", weight=2.0, name="exc_a").connect("src", "b", weight=2.0, name="exc_b")
    c.connect("src", "a", weight=-3.0, name="inh_a").connect("src", "b", weight=-3.0, name="inh_b")
    c.connect("src", "a", weight=m, kind="modulatory", name="mod_a")
    c.add_sensor("go", "src", kind="event")
    return c


@pytest.mark.parametrize(("gain", "m"), [(1.0, 0.5), (2.5, 0.25), (0.0, 1.0)])
def test_modulatory_input_scales_excitatory_input(gain: float, m: float) -> None:
    world, brain = single_brain(_modulation_circuit(gain, m), dt=0.001)
    brain.set_sensor("go", [1.0])
    assert world.step(1).steps.size == 1  # the forced source spike
    world.step(1)  # delay 1: delivery
    a, b = brain["a"], brain["b"]
    f = np.float32
    pee = f(math.exp(-1.0 / 5.0))
    assert float(a.mod[0]) == pytest.approx(m, abs=1e-7)
    assert "mod" in a.keeps and "mod" not in b.keeps  # b has no modulatory input: its mod is not stored
    expected_a = (f(0.0) + f(2.0) * (f(1.0) + f(gain) * f(m))) * pee
    assert a.ie[0] == expected_a
    assert b.ie[0] == f(2.0) * pee
    assert float(a.ie[0] / b.ie[0]) == pytest.approx(1.0 + gain * m, rel=1e-6)
    assert a.ii[0] == b.ii[0]  # inhibition is not modulated
    world.step(10)
    assert float(a.mod[0]) == pytest.approx(m * math.exp(-10.0 / 50.0), rel=1e-5)


@pytest.mark.parametrize(("burst_overshoot", "burst_max"), [(5.0, 3), (4.0, 1), (0.0, 3)])
def test_burst_length_grows_with_overshoot_capped(burst_overshoot: float, burst_max: int) -> None:
    overshoots = np.array([0.5, 2.5, 6.5, 11.0, 17.5, 30.0, 45.0])
    model = ModulatedLIF(tau_m=1e5, v_rest=-65.0, v_thresh=-50.0, v_reset=-70.0, t_ref=20.0, habituation=0.0,
                         burst_overshoot=burst_overshoot, burst_max=burst_max)
    world, brain = single_brain(one_population(model, size=overshoots.size), dt=0.001)
    brain["n"].v[:] = (-50.0 + overshoots).astype(np.float32)
    tr = record(world, brain, "n", 10, keys=("burst",) if burst_overshoot else ("v",))  # no bursts: not kept
    for i, o in enumerate(overshoots):
        extra = 0 if burst_overshoot == 0 else min(math.floor(o / burst_overshoot), burst_max)
        # the threshold crossing at step 0, then `extra` spikes on the following steps,
        # even though the neuron is refractory (bursts are not gated by the hold)
        assert tr.spikes_of(i).tolist() == list(range(extra + 1)), f"overshoot {o}"
    counts = [tr.spikes_of(i).size for i in range(overshoots.size)]
    assert counts == sorted(counts)  # monotone in the overshoot
