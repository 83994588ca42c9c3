"""FEAGI firing options on the numpy backend: excitability, consecutive-fire limit, snooze."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import one_population, record, single_brain

from spikeforge import LIF
from spikeforge.engine import rng

# crosses threshold on every integrated step, even straight after a reset
ALWAYS_ABOVE = {"v_rest": -65.0, "v_reset": -51.0, "v_thresh": -50.0, "t_ref": 0.0, "bias": 100.0}
V0 = -50.5  # start just below threshold: the first step already crosses


def _lowbias32(x: int) -> int:
    """Independent pure-Python lowbias32 (documented constants)."""
    m = 0xFFFFFFFF
    x &= m
    x ^= x >> 16
    x = (x * 0x7FEB352D) & m
    x ^= x >> 15
    x = (x * 0x846CA68B) & m
    x ^= x >> 16
    return x


def _u(key: int, step: int, purpose: int, local: int) -> float:
    m = 0xFFFFFFFF
    prefix = _lowbias32(_lowbias32(_lowbias32(key ^ ((purpose * 0x9E3779B9) & m)) ^ (step & m)) ^ (step >> 32))
    return (_lowbias32(prefix ^ local) >> 8) / 16777216.0


def test_excitability_zero_never_fires() -> None:
    world, brain = single_brain(one_population(LIF(excitability=0.0, **ALWAYS_ABOVE), size=20, v_init=V0))
    assert world.step(200).steps.size == 0
    assert np.all(brain["n"].v > -50.0)  # above threshold all along, yet silent


def test_excitability_one_always_fires() -> None:
    world, _ = single_brain(one_population(LIF(excitability=1.0, **ALWAYS_ABOVE), size=20, v_init=V0))
    rec = world.step(100)
    assert rec.steps.size == 20 * 100


def test_excitability_half_fires_about_half_with_fixed_seed() -> None:
    n, steps = 200, 200
    world, brain = single_brain(one_population(LIF(excitability=0.5, **ALWAYS_ABOVE), size=n, v_init=V0), seed=7)
    rec = world.step(steps)
    frac = rec.steps.size / (n * steps)
    assert 0.47 < frac < 0.53
    # exactly the documented counter-based draw: u(key, step, purpose 1, local) < 0.5
    key = int(world.layout.brain_key[brain.index])
    fired = np.zeros((steps, n), dtype=bool)
    fired[rec.steps, rec.neurons] = True
    expected = np.array([[_u(key, s, rng.PURPOSE_EXCITABILITY, i) < 0.5 for i in range(n)]
                         for s in range(20)])
    np.testing.assert_array_equal(fired[:20], expected)
    # same seed, same spikes; another seed, other spikes
    half = one_population(LIF(excitability=0.5, **ALWAYS_ABOVE), size=n, v_init=V0)
    again = single_brain(half, seed=7)[0].step(steps)
    other = single_brain(half, seed=8)[0].step(steps)
    np.testing.assert_array_equal(again.neurons, rec.neurons)
    assert not np.array_equal(other.neurons, rec.neurons) or not np.array_equal(other.steps, rec.steps)


@pytest.mark.parametrize(("t_ref", "expected"), [
    (0.0, [0, 1, 2, 8, 9, 10, 16, 17, 18, 24]),   # 3 in a row, then 5 snoozed steps
    (2.0, [0, 2, 4, 10, 12, 14, 20, 22, 24]),     # refractory steps do not break the run
])
def test_consecutive_fire_limit_then_snooze(t_ref: float, expected: list[int]) -> None:
    params = dict(ALWAYS_ABOVE, t_ref=t_ref)
    model = LIF(consec_limit=3, snooze=5.0, **params)
    world, brain = single_brain(one_population(model, v_init=V0), dt=0.001)
    tr = record(world, brain, "n", 25, keys=("v", "hold", "consec"))
    assert tr.spike_steps.tolist() == expected
    # while snoozing v is held at reset
    snooze_start = expected[2] + 1
    assert np.all(tr.state["v"][snooze_start:snooze_start + 5, 0] == np.float32(-51.0))
    assert tr.state["consec"][expected[2], 0] == 0


def test_consec_counter_resets_when_a_step_is_missed() -> None:
    """A neuron that could fire and did not starts its consecutive count again."""
    model = LIF(consec_limit=3, snooze=5.0, excitability=0.5, **ALWAYS_ABOVE)
    world, brain = single_brain(one_population(model, size=50, v_init=V0), seed=3)
    tr = record(world, brain, "n", 60, keys=("consec", "hold"))
    hold = tr.state["hold"]
    snoozes = 0
    for i in range(50):
        s = set(tr.spikes_of(i).tolist())
        run = 0
        t = 0
        while t < 60:
            if t in s:
                run += 1
                if run == 3:  # limit hit: 5 snoozed steps without spikes
                    assert hold[t, i] == 5
                    assert not s.intersection(range(t + 1, t + 6))
                    snoozes += 1
                    run = 0
                    t += 6
                    continue
                assert hold[t, i] == 0  # a broken run never snoozes
            else:
                run = 0
            t += 1
    assert snoozes > 10


@pytest.mark.parametrize("backend", ["numpy", "native", pytest.param("gpu", marks=pytest.mark.gpu)])
def test_the_consecutive_count_is_kept_only_under_a_limit(backend: str) -> None:
    # per-population state (issue 14): a population without a consecutive-fire limit has no use
    # for the count, so no backend reads or writes it there (8 B per neuron-step); with a limit
    # it counts and snoozes as before
    from spikeforge import Circuit, World

    c = Circuit("two")
    c.add_population("free", 8, LIF(**ALWAYS_ABOVE), v_init=V0)
    c.add_population("limited", 8, LIF(consec_limit=3, snooze=2.0, **ALWAYS_ABOVE), v_init=V0)
    world = World(dt=0.001, backend=backend, seed=3)
    if backend == "gpu":
        from tests.engine.test_gpu_common import require_lavapipe

        require_lavapipe()
    brain = world.spawn(c, 1)[0]
    assert world.backend.name == backend
    # stored per population: only the limited population's 8 neurons have a count
    assert world.layout.neuron["consec"].shape == (8,)
    rec = world.step(20)
    assert rec.neurons.size > 100
    assert np.all(brain["limited"].state("consec")[:] < 3)
    with pytest.raises(KeyError, match=r"'free' of circuit 'two' does not keep 'consec'.*consec_limit > 0"):
        brain["free"].state("consec")  # it would read a count no step keeps
    assert "consec" not in world.layout.prototypes[0].population_state("free")
    assert "consec" in world.layout.prototypes[0].population_state("limited")
    fired_free = np.bincount(rec.neurons, minlength=16)[:8]
    assert np.all(fired_free == 20)  # the count it keeps does not hold it back
