"""The quadratic integrate-and-fire model, added end to end: numpy spec, native bit-exact, WGSL bit-exact."""

from __future__ import annotations

import numpy as np
import pytest
from tests.engine.test_native_exact import assert_same_state, drive, pair

from spikeforge import World
from spikeforge.model import Circuit, FixedProbability, GenomeError, Uniform, dumps, loads
from spikeforge.model.neurons import QuadraticIF, model_from_dict


def qif_net() -> Circuit:
    """QIF with synapses, gap junctions, modulation, FEAGI excitability / consecutive-fire / snooze, organs."""
    c = Circuit("qif")
    c.add_population("in", 8, QuadraticIF(bias=2.0))
    c.add_population("e", 30, QuadraticIF(bias=3.5, t_ref=2.0), v_init=(-66.0, -45.0))
    c.add_population("f", 12, QuadraticIF(bias=4.0, excitability=0.6, consec_limit=2, snooze=3.0, k=0.08),
                     v_init=(-65.0, -55.0))
    c.connect("in", "e", FixedProbability(0.5), weight=Uniform(1.0, 4.0), delay=(1, 3))
    c.connect("e", "e", FixedProbability(0.2), weight=Uniform(0.5, 2.0), delay=(1, 4))
    c.connect("e", "f", FixedProbability(0.3), weight=2.0, delay=2)
    c.connect("f", "e", FixedProbability(0.3), weight=-3.0, delay=1)
    c.connect("e", "f", FixedProbability(0.2), weight=0.3, kind="modulatory", delay=2, name="e->f mod")
    c.connect("f", "f", FixedProbability(0.2), weight=0.05, kind="electrical")
    c.add_sensor("push", "in", channels=2, kind="current", low=-1.0, high=1.0, gain=8.0)
    c.add_actuator("rate", "f", channels=3, kind="rate")
    return c


def single(bias: float, steps: int = 3000, dt: float = 0.0001) -> int:
    c = Circuit("one")
    c.add_population("n", 1, QuadraticIF(bias=bias))
    w = World(dt=dt, backend="numpy", seed=1)
    w.spawn(c, 1)
    return int(w.step(steps).neurons.size)


def test_rheobase() -> None:
    """Spikes only above the rheobase drive k (v_crit - v_rest)^2 / 4 = 2.8125 mV, faster with more drive."""
    assert single(2.7) == 0
    assert 0 < single(3.5) < single(6.0)


def test_euler_step_matches_the_formula() -> None:
    m = QuadraticIF(bias=1.0)
    c = Circuit("one")
    c.add_population("n", 1, m, v_init=-55.0)
    w = World(dt=0.0005, backend="numpy", seed=1)
    w.spawn(c, 1)
    w.step(1)
    v = np.float32(-55.0)
    h = np.float32(0.5 / m.tau_m)
    dv = ((np.float32(m.k) * (v - np.float32(m.v_rest))) * (v - np.float32(m.v_crit)) + np.float32(0.0)) \
        + np.float32(1.0)
    assert w.layout.neuron["v"][0] == v + h * dv


def test_genome_round_trip_and_errors() -> None:
    c = qif_net()
    back = loads(dumps(c))
    assert [p.model for p in back.populations] == [p.model for p in c.populations]
    assert isinstance(back.populations[2].model, QuadraticIF) and back.populations[2].model.consec_limit == 2
    assert model_from_dict({"model": "quadratic_if", "k": 0.1}, "m") == QuadraticIF(k=0.1)
    with pytest.raises(GenomeError, match=r"m\.v_crit"):
        model_from_dict({"model": "quadratic_if", "v_crit": -70.0}, "m")
    with pytest.raises(GenomeError, match=r"m\.k"):
        model_from_dict({"model": "quadratic_if", "k": 0.0}, "m")


@pytest.mark.native
@pytest.mark.parametrize("threads", [1, 2])
def test_native_bit_exact(threads: int) -> None:
    a, b = pair([qif_net()], count=4)
    sa, sb = drive(a, 20, 5), drive(b, 20, 5, threads)
    assert sum(s[1].size for s in sa) > 50
    for (ta, na), (tb, nb) in zip(sa, sb, strict=True):
        assert np.array_equal(ta, tb) and np.array_equal(na, nb)
    assert_same_state(a, b)


@pytest.mark.gpu
def test_gpu_bit_exact_on_lavapipe() -> None:
    from tests.engine.test_gpu_common import assert_same, host_state, require_lavapipe

    assert require_lavapipe()["backend_type"] == "Vulkan"
    worlds = []
    for backend in ("numpy", "gpu"):
        w = World(dt=0.001, backend=backend, seed=9)
        w.spawn(qif_net(), 3)
        worlds.append(w)
    ref, gpu = worlds
    assert gpu.backend.name == "gpu"
    total = 0
    for f in range(12):
        for w in worlds:
            w.layout.sensor_values[:] = np.float32(np.sin(f + np.arange(w.layout.sensor_values.size)))
        x, y = ref.step(5), gpu.step(5)
        assert x.steps.tobytes() == y.steps.tobytes() and x.neurons.tobytes() == y.neurons.tobytes(), f"frame {f}"
        total += x.neurons.size
    assert total > 50
    assert_same(host_state(ref), host_state(gpu))
