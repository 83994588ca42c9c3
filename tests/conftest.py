"""Shared helpers for the foundation tests: small worlds on the numpy backend, and
per-step recording of a population's state and spikes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from hypothesis import settings

from spikeforge import Brain, Circuit, World
from spikeforge.model.neurons import NeuronModel

# Hypothesis: bounded, deterministic, no example database in the checkout.
settings.register_profile("spikeforge", max_examples=40, deadline=None, derandomize=True, database=None)
settings.load_profile("spikeforge")

if not os.environ.get("XDG_RUNTIME_DIR"):  # wgpu's harmless warning; keep logs clean
    _xdg = tempfile.mkdtemp(prefix="xdg-")
    os.chmod(_xdg, 0o700)
    os.environ["XDG_RUNTIME_DIR"] = _xdg


def one_population(model: NeuronModel, size: int = 1, name: str = "c",
                   v_init: float | tuple[float, float] | None = None) -> Circuit:
    """A circuit with a single population ``n`` of ``size`` neurons."""
    return Circuit(name).add_population("n", size, model, v_init=v_init)


def single_brain(circuit: Circuit, dt: float = 0.001, seed: int = 0) -> tuple[World, Brain]:
    """A numpy-backend world holding one brain of ``circuit``."""
    world = World(dt=dt, backend="numpy", seed=seed)
    (brain,) = world.spawn(circuit)
    return world, brain


@dataclass
class Trace:
    """Per-step recording: ``state[key]`` is (steps, neurons) after each step;
    ``spikes`` is a list of (world step, brain-local neuron) pairs."""

    state: dict[str, np.ndarray]
    spike_steps: np.ndarray
    spike_neurons: np.ndarray

    def spikes_of(self, neuron: int) -> np.ndarray:
        return self.spike_steps[self.spike_neurons == neuron]


def record(world: World, brain: Brain, population: str, steps: int,
           keys: Iterable[str] = ("v",)) -> Trace:
    """Run ``steps`` single steps, recording ``keys`` of ``brain[population]`` after each."""
    keys = tuple(keys)
    view = brain[population]
    out = {k: np.zeros((steps, view.size), dtype=view.state(k).dtype) for k in keys}
    base = brain.neurons.start + world.layout.prototypes[int(world.layout.brain_proto[brain.index])] \
        .pop_slice(population).start
    sst: list[np.ndarray] = []
    sn: list[np.ndarray] = []
    for t in range(steps):
        rec = world.step(1)
        local = rec.neurons.astype(np.int64) - base
        keep = (local >= 0) & (local < view.size)
        sst.append(rec.steps[keep])
        sn.append(local[keep])
        for k in keys:
            out[k][t] = view.state(k)
    return Trace(out, np.concatenate(sst) if sst else np.zeros(0, np.int64),
                 np.concatenate(sn) if sn else np.zeros(0, np.int64))


def layout_state(world: World, brain: Brain, depth: int | None = None) -> dict[str, np.ndarray]:
    """Copies of every per-neuron array of ``brain``, its pending input for the next
    ``depth`` steps (default: the ring depth), its step counter and RNG key."""
    L = world.layout
    s = brain.neurons
    b = brain.index
    slots = (int(L.brain_step[b]) + np.arange(L.depth if depth is None else depth)) % L.depth
    # (a per-population array holds only the neurons that keep it: the brain's own run of them)
    out = {f"neuron.{k}": a[L.state_slice(k, s.start, s.stop)].copy() for k, a in L.neuron.items()}
    out["ring"] = L.ring[slots, :, s].copy()
    out["brain_step"] = np.array([L.brain_step[b]])
    out["brain_key"] = np.array([L.brain_key[b]])
    return out


def assert_states_equal(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    """Bit-identical comparison (NaN-aware via byte views)."""
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert a[k].shape == b[k].shape, k
        assert a[k].tobytes() == b[k].tobytes(), f"{k} differs"


def rich_circuit(name: str = "rich") -> Circuit:
    """A brain exercising every model, rule, synapse kind, organ and random draw."""
    from spikeforge import (
        LIF,
        AdaptiveLIF,
        AllToAll,
        FixedInDegree,
        FixedProbability,
        Izhikevich,
        ModulatedLIF,
        Normal,
        Uniform,
    )

    c = Circuit(name)
    c.add_population("in", 20, LIF(excitability=0.8), v_init=(-65.0, -55.0))
    c.add_population("exc", 40, AdaptiveLIF(bias=14.0, b=0.5), v_init=(-65.0, -50.0))
    c.add_population("inh", 10, LIF(bias=12.0, excitability=0.7, consec_limit=2, snooze=3.0), v_init=(-65.0, -50.0))
    c.add_population("izh", 10, Izhikevich.preset("FS", bias=3.0), v_init=(-70.0, -60.0))
    c.add_population("mod", 8, ModulatedLIF(bias=14.0, burst_overshoot=2.0), v_init=(-65.0, -52.0))
    c.add_population("out", 6, LIF(bias=10.0))
    c.connect("in", "exc", FixedProbability(0.3), weight=Uniform(1.0, 3.0), delay=(1, 5))
    c.connect("exc", "exc", FixedProbability(0.1, allow_self=False), weight=Normal(1.0, 0.5), delay=(1, 8),
              name="ee")
    c.connect("exc", "inh", FixedInDegree(5), weight=2.0, delay=2)
    c.connect("inh", "exc", FixedProbability(0.3), weight=-3.0)
    c.connect("exc", "izh", FixedProbability(0.2), weight=3.0)
    c.connect("izh", "mod", AllToAll(), weight=0.2, kind="modulatory")
    c.connect("exc", "mod", FixedProbability(0.3), weight=2.0, name="em")
    c.connect("exc", "exc", FixedProbability(0.05), weight=0.1, kind="electrical", name="gap")
    c.connect("mod", "out", AllToAll(), weight=3.0)
    c.add_sensor("eye", "in", channels=4, kind="poisson", max_rate=200.0)
    c.add_sensor("push", "exc", channels=4, kind="current", gain=5.0, low=-1.0, high=1.0)
    c.add_sensor("tone", "mod", channels=2, kind="gaussian", max_rate=150.0, low=0.0, high=10.0)
    c.add_sensor("kick", "inh", channels=2, kind="event")
    c.add_actuator("move", "out", channels=3, kind="rate")
    c.add_actuator("dir", "mod", channels=4, kind="population_vector", low=-1.0, high=1.0)
    c.add_actuator("pick", "inh", channels=5, kind="wta")
    return c


def drive(brain: Brain, frame: int) -> None:
    """Deterministic sensor values for ``brain`` on frame ``frame``."""
    r = np.random.default_rng([brain.id, frame])
    brain.set_sensor("eye", r.uniform(0.0, 1.0, 4))
    brain.set_sensor("push", r.uniform(-1.0, 1.0, 4))
    brain.set_sensor("tone", r.uniform(0.0, 10.0, 2))
    brain.set_sensor("kick", (r.uniform(0.0, 1.0, 2) > 0.7).astype(float))
