"""Circuits and helpers shared by the cluster tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from spikeforge.games.foragers import ForagerConfig, forager_circuit
from spikeforge.model import LIF, Circuit, FixedInDegree, Uniform


def npc_circuit(name: str = "npc") -> Circuit:
    """A small crowd brain: Poisson eyes, recurrent LIF, a rate actuator (no plasticity)."""
    c = Circuit(name)
    m = LIF(tau_m=20.0, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0, t_ref=2.0, bias=8.0)
    c.add_population("in", 16, LIF(t_ref=2.0), v_init=(-65.0, -55.0))
    c.add_population("hid", 40, m, v_init=(-65.0, -52.0))
    c.add_population("out", 8, m, v_init=(-65.0, -52.0))
    c.connect("in", "hid", FixedInDegree(6), weight=Uniform(1.0, 3.0), delay=(1, 3))
    c.connect("hid", "hid", FixedInDegree(8), weight=Uniform(0.2, 1.2), delay=(1, 4))
    c.connect("hid", "out", FixedInDegree(10), weight=Uniform(0.3, 1.5), delay=2)
    c.add_sensor("eyes", "in", channels=4, kind="poisson", max_rate=40.0)
    c.add_actuator("legs", "out", channels=4, kind="rate")
    return c


def learner_circuit() -> Circuit:
    """The foragers brain: reward-modulated STDP on eye->motor."""
    return forager_circuit(ForagerConfig(dt=0.001))


def spike_triples(layout: Any, steps: np.ndarray, neurons: np.ndarray) -> np.ndarray:
    """(step, brain id, brain-local neuron) rows of a spike record, sorted."""
    nr = neurons.astype(np.int64)
    b = np.searchsorted(layout.brain_start, nr, side="right") - 1
    rows = np.stack([steps.astype(np.int64), layout.brain_serial[b].astype(np.int64), nr - layout.brain_start[b]], 1)
    return rows[np.lexsort(rows.T[::-1])] if rows.size else rows
