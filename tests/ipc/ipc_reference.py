"""In-process reference runs that server results must equal (same seed, genome, inputs)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from spikeforge.ipc.testing import probe_circuit
from spikeforge.runtime.world import World

Frames = list[tuple[float, npt.NDArray[np.float32]]]


def make_frames(n: int, brains: int, seed: int, channels: int = 4) -> Frames:
    """``n`` frames of (frame_dt, sensors (brains x channels)) with varied frame times."""
    rng = np.random.default_rng(seed)
    dts = [1 / 60, 1 / 30, 0.0, 1 / 144, 1 / 60, 0.004]
    return [(dts[i % len(dts)], rng.random((brains, channels)).astype(np.float32)) for i in range(n)]


def reference(frames: Frames, brains: int, first_id: int = 0, seed: int = 0,
              population: str | None = None) -> tuple[list[np.ndarray], list[tuple[int, int, int]]]:
    """Actuators per frame of brains ``first_id .. first_id+brains-1`` run alone in a World.

    Brains with lower ids are spawned and despawned first so ids (and RNG keys) match.
    Returns (actuators per frame, spikes (step, brain, neuron) of ``population``).
    """
    w = World(dt=0.001, backend="numpy", seed=seed)
    c = probe_circuit()
    if first_id:
        w.despawn(w.spawn(c, first_id))
    got = w.spawn(c, brains)
    assert [b.id for b in got] == list(range(first_id, first_id + brains))
    spikes: list[tuple[int, int, int]] = []
    if population is not None:
        w.bus.subscribe(lambda ev: spikes.extend(zip(ev.steps.tolist(), ev.brains.tolist(), ev.neurons.tolist(),
                                                     strict=True)), population=population)
    out = []
    for dt, sens in frames:  # per brain: the prototype's group also holds free slots
        for k, b in enumerate(got):
            b.sensor("input")[...] = sens[k]
        w.advance(dt)
        out.append(np.stack([np.array(b.actuator("rate")) for b in got]))
    return out, spikes
