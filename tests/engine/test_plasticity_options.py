"""Learning rules as the literature states them (issue 16): nearest-spike vs all-to-all pairing,
trace increment and saturation, tonic (baseline) dopamine, dopamine applied every step; each
selectable, the defaults unchanged, numpy and native bit-exact."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spikeforge import LIF, Circuit, World
from spikeforge.model import GenomeError, loads
from spikeforge.model.genome import dumps
from spikeforge.model.plasticity import STDP, RewardSTDP
from spikeforge.model.synapses import OneToOne

TAU = 20.0


def _pair_circuit(rule: STDP) -> Circuit:
    c = Circuit("pair").add_population("pre", 1, LIF()).add_population("post", 1, LIF())
    c.add_sensor("fire_pre", "pre", channels=1, kind="event")
    c.add_sensor("fire_post", "post", channels=1, kind="event")
    c.connect("pre", "post", weight=0.5, rule=OneToOne(), name="syn", plasticity=rule)
    return c


def _run_train(rule: STDP, pre_steps: list[int], post_steps: list[int], backend: str = "numpy") -> float:
    c = _pair_circuit(rule)
    world = World(dt=0.001, backend=backend, seed=3)
    (b,) = world.spawn(c, 1)
    g = world.group(c)
    for s in range(max(pre_steps + post_steps) + 2):
        g.sensor("fire_pre")[0, 0] = float(s in pre_steps)
        g.sensor("fire_post")[0, 0] = float(s in post_steps)
        world.step(1)
    return float(b.weights("syn").w[0]) - 0.5


def _window(k: int) -> float:
    return float(np.float32(math.exp(-1.0 / TAU))) ** k


def test_all_to_all_sums_every_earlier_pre_spike_nearest_only_the_last() -> None:
    pre, post = [10, 14], [20]  # two pre spikes 10 and 6 steps before the post spike
    a2a = _run_train(STDP(a_plus=0.01, a_minus=0.0, tau_plus=TAU, w_max=1.0), pre, post)
    near = _run_train(STDP(a_plus=0.01, a_minus=0.0, tau_plus=TAU, w_max=1.0, pairing="nearest"), pre, post)
    assert abs(a2a - 0.01 * (_window(10) + _window(6))) < 1e-6
    assert abs(near - 0.01 * _window(6)) < 1e-6


def test_nearest_depression_pairs_only_with_the_last_post_spike() -> None:
    pre, post = [30], [20, 25]
    a2a = _run_train(STDP(a_plus=0.0, a_minus=0.01, tau_minus=TAU, w_max=1.0), pre, post)
    near = _run_train(STDP(a_plus=0.0, a_minus=0.01, tau_minus=TAU, w_max=1.0, pairing="nearest"), pre, post)
    assert abs(a2a + 0.01 * (_window(10) + _window(5))) < 1e-6
    assert abs(near + 0.01 * _window(5)) < 1e-6


def test_trace_increment_and_saturation() -> None:
    pre, post = [10, 13, 16], [20]  # 3 steps apart (the LIF's refractory time is 2 ms)
    inc = _run_train(STDP(a_plus=0.01, a_minus=0.0, tau_plus=TAU, w_max=1.0, trace_increment=0.5), pre, post)
    assert abs(inc - 0.005 * (_window(10) + _window(7) + _window(4))) < 1e-6
    sat = _run_train(STDP(a_plus=0.01, a_minus=0.0, tau_plus=TAU, w_max=1.0, trace_max=1.5), pre, post)
    x = 1.0  # the trace after each pre spike: 1, min(1*d^3 + 1, 1.5), min(...)
    for _ in range(2):
        x = min(x * _window(3) + 1.0, 1.5)
    assert x == 1.5
    assert abs(sat - 0.01 * x * _window(4)) < 1e-5


@pytest.mark.parametrize("kw,field", [
    ({"pairing": "closest"}, "pairing"),
    ({"trace_increment": 0.0}, "trace_increment"),
    ({"trace_max": 0.5}, "trace_max"),
    ({"pairing": "nearest", "trace_max": 2.0}, "trace_max"),
])
def test_bad_options_name_the_field(kw: dict[str, object], field: str) -> None:
    c = _pair_circuit(STDP(**kw))  # type: ignore[arg-type]
    with pytest.raises(GenomeError, match=rf"plasticity\.{field}"):
        c.validate()
    with pytest.raises(GenomeError, match=r"dopamine_baseline"):
        _pair_circuit(RewardSTDP(dopamine_baseline=float("inf"))).validate()


def test_options_round_trip_and_defaults_stay_out_of_genomes() -> None:
    plain = dumps(_pair_circuit(STDP()))
    assert "pairing" not in plain and "trace_max" not in plain and "dopamine_baseline" not in plain
    c = _pair_circuit(RewardSTDP(pairing="nearest", trace_increment=0.1, dopamine_baseline=0.002))
    back = loads(dumps(c))
    assert back.projections[0].plasticity == c.projections[0].plasticity


def test_conflicting_trace_options_on_one_population_are_refused() -> None:
    c = Circuit("x").add_population("a", 2, LIF()).add_population("b", 2, LIF()).add_population("d", 2, LIF())
    c.connect("a", "b", plasticity=STDP(pairing="nearest"))
    c.connect("a", "d", plasticity=STDP())
    with pytest.raises(ValueError, match="pre trace"):
        World(dt=0.001, backend="numpy").spawn(c)


def _rstdp_world(rule: RewardSTDP, backend: str) -> tuple[World, object]:
    c = Circuit("r").add_population("pre", 30, LIF(bias=18.0), v_init=(-65.0, -50.0))
    c.add_population("post", 20, LIF(bias=16.0), v_init=(-65.0, -50.0))
    c.connect("pre", "post", weight=1.0, name="syn", plasticity=rule)
    w = World(dt=0.001, backend=backend, seed=4)
    (b,) = w.spawn(c, 1)
    return w, b


def test_baseline_dopamine_moves_weights_without_reward() -> None:
    kw = dict(w_min=0.0, w_max=3.0, update_every=5, lr=0.05, tau_c=200.0)
    w0, b0 = _rstdp_world(RewardSTDP(**kw), "numpy")  # type: ignore[arg-type]
    w1, b1 = _rstdp_world(RewardSTDP(dopamine_baseline=0.01, **kw), "numpy")  # type: ignore[arg-type]
    w0.step(300)
    w1.step(300)
    assert np.all(b0.weights("syn").w == 1.0)  # type: ignore[attr-defined]
    assert np.any(b1.weights("syn").w != 1.0)  # type: ignore[attr-defined]


def test_every_step_dopamine_is_the_2007_model() -> None:
    """update_every=1: each step w += lr * c * (d + baseline), then c decays by exp(-dt/tau_c);
    checked against a float32 reimplementation from the recorded eligibility and dopamine."""
    rule = RewardSTDP(w_min=-10.0, w_max=10.0, update_every=1, lr=0.05, tau_c=100.0, tau_dopamine=50.0,
                      dopamine_baseline=0.003, pairing="nearest")
    w, b = _rstdp_world(rule, "numpy")
    L = w.layout
    b.reward(1.0)  # type: ignore[attr-defined]
    cdec = np.float32(math.exp(-1.0 / 100.0))
    for _ in range(60):
        w_before = L.synapse["w"].copy()
        da = L.dopamine[0] * np.float32(1.0)
        w.step(1)
        c_after = L.synapse["elig"]
        c_used = c_after / cdec  # the eligibility the update multiplied (before this step's decay)
        want = w_before + (np.float32(0.05) * c_used.astype(np.float32)) * (da + np.float32(0.003))
        assert np.allclose(L.synapse["w"], want, rtol=0, atol=1e-6)


@pytest.mark.native
def test_options_bit_exact_native() -> None:
    import spikeforge.engine.native_backend as native

    if native.unavailable() is not None:  # pragma: no cover
        pytest.fail(f"native backend missing: {native.unavailable()}")
    rule = RewardSTDP(w_min=0.0, w_max=3.0, update_every=3, lr=0.05, tau_c=300.0, pairing="nearest",
                      trace_increment=0.3, dopamine_baseline=0.004)
    st_rule = STDP(a_plus=0.02, a_minus=0.02, w_max=2.0, trace_increment=0.7, trace_max=1.2)
    out = []
    for backend in ("numpy", "native"):
        c = Circuit("r").add_population("pre", 30, LIF(bias=18.0), v_init=(-65.0, -50.0))
        c.add_population("post", 20, LIF(bias=16.0), v_init=(-65.0, -50.0))
        c.add_population("x", 10, LIF(bias=17.0), v_init=(-65.0, -50.0))
        c.connect("pre", "post", weight=1.0, name="syn", plasticity=rule)
        c.connect("x", "pre", weight=0.5, name="st", plasticity=st_rule)
        w = World(dt=0.001, backend=backend, seed=4)
        w.spawn(c, 3)
        for f in range(10):
            w.reward(np.full(3, 0.3 * (f % 3 - 1), np.float32))
            w.step(37)
        out.append(w.layout)
    a, b = out
    for k in ("w", "elig"):
        assert a.synapse[k].tobytes() == b.synapse[k].tobytes(), k
    for k in ("xpre", "xpost", "v"):
        assert a.neuron[k].tobytes() == b.neuron[k].tobytes(), k
    assert a.synapse["w"].std() > 0
