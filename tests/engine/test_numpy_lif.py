"""LIF and adaptive LIF on the numpy backend against closed-form references (float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tests.conftest import one_population, record, single_brain

from spikeforge import LIF, AdaptiveLIF


def _exp_current_response(x: float, t: np.ndarray, tau_m: float, tau_x: float) -> np.ndarray:
    """v - v_rest for tau_m dv/dt = -(v - v_rest) + x exp(-t/tau_x), v(0) = v_rest."""
    if tau_x == tau_m:
        return x * (t / tau_m) * np.exp(-t / tau_m)
    return x * tau_x / (tau_x - tau_m) * (np.exp(-t / tau_x) - np.exp(-t / tau_m))


@pytest.mark.parametrize(("current", "tau_m", "dt"), [(10.0, 20.0, 0.001), (14.0, 10.0, 0.0001), (3.5, 35.0, 0.0005)])
def test_lif_closed_form_under_constant_current(current: float, tau_m: float, dt: float) -> None:
    """v(t) = El + R I (1 - exp(-t/tau)) below threshold, to float32 tolerance."""
    model = LIF(tau_m=tau_m, v_rest=-65.0, v_reset=-70.0, v_thresh=-40.0, bias=current)
    world, brain = single_brain(one_population(model), dt=dt)
    steps = 400
    tr = record(world, brain, "n", steps)
    t_ms = (np.arange(steps) + 1) * dt * 1000.0
    expected = -65.0 + current * (1.0 - np.exp(-t_ms / tau_m))
    np.testing.assert_allclose(tr.state["v"][:, 0], expected, rtol=0, atol=2e-4)
    assert tr.spike_steps.size == 0


def _first_crossing_steps(v0: float, v_inf: float, thresh: float, tau_m: float, dt_ms: float) -> int:
    """Smallest m >= 1 with v(m dt) >= thresh (float64 closed form), guarding against ties."""
    t_cross = tau_m * math.log((v_inf - v0) / (v_inf - thresh))
    x = t_cross / dt_ms
    assert abs(x - round(x)) > 0.02, "test case too close to a step boundary"
    return max(1, math.ceil(x))


@pytest.mark.parametrize(
    ("current", "t_ref", "dt", "v_reset"),
    [(20.0, 2.0, 0.0001, -65.0), (30.0, 5.0, 0.0001, -60.0), (40.0, 3.0, 0.001, -70.0), (18.0, 0.0, 0.0005, -65.0)],
)
def test_lif_firing_period_with_refractoriness(current: float, t_ref: float, dt: float, v_reset: float) -> None:
    """First spike and inter-spike interval match the analytic crossing time exactly in steps.

    After a spike at step k the neuron is held (v = v_reset) for R = ceil(t_ref/dt) - 1
    steps, then integrates from v_reset; the period is R + m* steps, with m* the
    first whole step at which the closed form reaches threshold.
    """
    tau_m, v_rest, thresh = 20.0, -65.0, -50.0
    model = LIF(tau_m=tau_m, v_rest=v_rest, v_reset=v_reset, v_thresh=thresh, t_ref=t_ref, bias=current)
    world, _ = single_brain(one_population(model), dt=dt)
    dt_ms = dt * 1000.0
    ref_steps = max(0, math.ceil(t_ref / dt_ms - 1e-6) - 1)
    first = _first_crossing_steps(v_rest, v_rest + current, thresh, tau_m, dt_ms) - 1
    period = ref_steps + _first_crossing_steps(v_reset, v_rest + current, thresh, tau_m, dt_ms)
    n_steps = first + 6 * period + 1
    rec = world.step(n_steps)
    assert rec.neurons.tolist() == [0] * rec.neurons.size
    expected = first + period * np.arange(7)
    np.testing.assert_array_equal(rec.steps, expected[expected < n_steps])


def test_lif_held_during_refractory_period() -> None:
    """During the R held steps v stays exactly at v_reset."""
    model = LIF(v_reset=-70.0, t_ref=5.0, bias=40.0)
    world, brain = single_brain(one_population(model), dt=0.001)
    tr = record(world, brain, "n", 60)
    k = int(tr.spike_steps[0])
    held = tr.state["v"][k:k + 5, 0]  # the spike step itself plus R = 4 held steps
    assert np.all(held == np.float32(-70.0))
    assert tr.state["v"][k + 5, 0] > np.float32(-70.0)


@pytest.mark.parametrize(("tau_e", "x", "channel"), [(5.0, 12.0, "ie"), (20.0, 7.0, "ie"), (10.0, -9.0, "ii")])
def test_exponential_synaptic_current_exact_propagator(tau_e: float, x: float, channel: str) -> None:
    """A current jump x decays as x exp(-t/tau_s) and drives v as the analytic solution
    (including the tau_s == tau_m limit)."""
    model = LIF(tau_m=20.0, tau_e=tau_e, tau_i=tau_e, v_rest=-65.0, v_reset=-80.0, v_thresh=0.0)
    world, brain = single_brain(one_population(model), dt=0.0005)
    brain["n"].state(channel)[:] = x
    steps = 300
    tr = record(world, brain, "n", steps, keys=("v", channel))
    t = (np.arange(steps) + 1) * 0.5
    np.testing.assert_allclose(tr.state[channel][:, 0], x * np.exp(-t / tau_e), rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(tr.state["v"][:, 0], -65.0 + _exp_current_response(x, t, 20.0, tau_e),
                               rtol=0, atol=2e-4)


def test_adaptation_current_jumps_by_b_and_decays() -> None:
    b, tau_w = 2.5, 80.0
    model = AdaptiveLIF(tau_m=20.0, v_reset=-65.0, t_ref=2.0, bias=40.0, tau_w=tau_w, b=b)
    world, brain = single_brain(one_population(model), dt=0.001)
    tr = record(world, brain, "n", 400, keys=("v", "w"))
    w = tr.state["w"][:, 0].astype(np.float64)
    spikes = tr.spikes_of(0)
    assert spikes.size >= 5
    assert w[spikes[0]] == pytest.approx(b, abs=1e-6)  # w was 0 before the first spike
    decay = math.exp(-1.0 / tau_w)
    for k in range(1, 400):
        expected = w[k - 1] * decay + (b if k in set(spikes.tolist()) else 0.0)
        assert w[k] == pytest.approx(expected, rel=2e-6, abs=1e-6)


def test_adaptation_slows_firing() -> None:
    """Inter-spike intervals grow (spike-frequency adaptation); plain LIF stays regular."""
    common = {"tau_m": 20.0, "v_reset": -65.0, "t_ref": 2.0, "bias": 40.0}
    rec_a = single_brain(one_population(AdaptiveLIF(tau_w=100.0, b=3.0, **common)), dt=0.0005)[0].step(2000)
    rec_l = single_brain(one_population(LIF(**common)), dt=0.0005)[0].step(2000)
    isi_a = np.diff(rec_a.steps)
    isi_l = np.diff(rec_l.steps)
    assert isi_l.min() == isi_l.max()
    assert np.all(np.diff(isi_a[:10]) > 0)  # adapting phase
    assert isi_a[-10:].mean() > isi_a[0] + 10  # adapted steady state (jitters by a step)
    assert rec_a.steps.size < rec_l.steps.size


def test_adaptation_current_drives_v_exactly() -> None:
    """With w = W0 and no spikes: v - El = -W0 tau_w/(tau_w - tau_m) (e^-t/tau_w - e^-t/tau_m)."""
    tau_w, w0 = 60.0, 8.0
    model = AdaptiveLIF(tau_m=20.0, v_rest=-65.0, v_reset=-90.0, v_thresh=0.0, tau_w=tau_w, b=0.0)
    world, brain = single_brain(one_population(model), dt=0.001)
    brain["n"].w[:] = w0
    tr = record(world, brain, "n", 200, keys=("v", "w"))
    t = np.arange(1, 201, dtype=np.float64)
    np.testing.assert_allclose(tr.state["w"][:, 0], w0 * np.exp(-t / tau_w), rtol=2e-5)
    np.testing.assert_allclose(tr.state["v"][:, 0], -65.0 - _exp_current_response(w0, t, 20.0, tau_w),
                               atol=2e-4)
