"""Shared helpers for the foundation tests: small worlds on the numpy backend, and
per-step recording of a population's state and spikes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pytest
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
    out = {f"neuron.{k}": a[s].copy() for k, a in L.neuron.items()}
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


@pytest.fixture
def numpy_world() -> World:
    return World(dt=0.001, backend="numpy", seed=0)
