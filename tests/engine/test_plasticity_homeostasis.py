"""Homeostasis: the adaptive threshold brings a population to its target rate."""

from __future__ import annotations

import numpy as np

from spikeforge import LIF, Circuit, World
from spikeforge.model.plasticity import Homeostasis


def _rate(world: World, steps: int, n: int) -> float:
    rec = world.step(steps)
    return rec.neurons.size / (n * steps * world.dt)


def test_adaptive_threshold_reaches_target_rate_within_5_s() -> None:
    """A strongly driven population (~90 Hz at start) settles to 10 Hz +- 20 % within 5 s,
    and a silent one (drive below threshold) starts firing and rises to its target."""
    target = 10.0
    c = Circuit("homeo")
    c.add_population("hot", 20, LIF(bias=40.0), v_init=(-65.0, -50.0))
    c.add_population("cold", 20, LIF(bias=12.0), v_init=(-65.0, -50.0))
    c.add_population("src", 1, LIF())
    c.connect("src", "hot", weight=0.0, name="h1", plasticity=Homeostasis(target_rate=target, eta=1.0))
    c.connect("src", "cold", weight=0.0, name="h2", plasticity=Homeostasis(target_rate=target, eta=1.0))
    world = World(dt=0.001, backend="numpy", seed=1)
    (b,) = world.spawn(c, 1)
    hot, cold = b["hot"], b["cold"]
    world.learning(False)
    rec = world.step(1000)
    base = np.bincount(rec.neurons, minlength=world.layout.n_neurons)
    assert base[:20].mean() > 60 and base[20:40].sum() == 0
    world.learning(True)
    world.step(4000)
    rec = world.step(1000)
    counts = np.bincount(rec.neurons, minlength=world.layout.n_neurons)
    assert abs(counts[:20].mean() - target) <= 0.2 * target, counts[:20]
    assert abs(counts[20:40].mean() - target) <= 0.2 * target, counts[20:40]
    assert np.all(hot.theta > 0) and np.all(cold.theta < 0)
