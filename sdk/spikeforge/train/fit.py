"""Training loop (BPTT with Adam) and the mirror-vs-runtime comparison."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from spikeforge.train.mirror import CircuitMirror, MirrorOutput

LossFn = Callable[[MirrorOutput, dict[str, torch.Tensor]], torch.Tensor]


@dataclass
class FitResult:
    """Loss per iteration and wall time of :func:`fit`."""

    losses: list[float] = field(default_factory=list)
    wall_s: float = 0.0


def fit(mirror: CircuitMirror, sensors: dict[str, npt.NDArray[np.float32]],
        targets: dict[str, npt.NDArray[np.float32]], loss_fn: LossFn, *, steps_per_frame: int,
        iterations: int = 100, batch: int = 32, window: int | None = None, lr: float = 0.05,
        seed: int = 0, callback: Callable[[int, float], None] | None = None) -> FitResult:
    """Train ``mirror`` by BPTT on a dataset of sensor sequences.

    Parameters
    ----------
    mirror : CircuitMirror
    sensors : dict
        ``{sensor: (frames, sequences, channels)}`` inputs.
    targets : dict
        ``{name: (frames, sequences, ...)}`` whatever ``loss_fn`` compares with.
    loss_fn : callable
        ``loss_fn(output, targets_of_the_batch) -> scalar tensor`` (differentiable in the
        output's spikes / counts / actuators).
    steps_per_frame : int
        Steps per frame (``frame_dt / dt``).
    iterations : int
        Optimiser steps (Adam).
    batch : int
        Sequences per step (drawn at random).
    window : int or None
        Frames per BPTT window (a random crop; default all frames). Every window starts
        from the template brain's spawn state.
    lr : float
        Adam learning rate (mV per step for weights).
    seed : int
        Seeds the batch/window draws and the RNG keys of the mirror's input spikes.
    """
    first = next(iter(sensors.values()))
    frames, n_seq = int(first.shape[0]), int(first.shape[1])
    win = frames if window is None else min(int(window), frames)
    params = [p for p in mirror.parameters() if p.requires_grad]
    if not params:
        raise ValueError("mirror: nothing to train (no trainable projection or neuron parameter)")
    opt = torch.optim.Adam(params, lr=lr)
    gen = np.random.default_rng(seed)
    res = FitResult()
    t0 = time.perf_counter()
    for it in range(iterations):
        idx = gen.choice(n_seq, size=min(batch, n_seq), replace=False)
        f0 = int(gen.integers(0, frames - win + 1))
        sl = slice(f0, f0 + win)
        keys = gen.integers(0, 2**32, size=idx.size, dtype=np.uint64).astype(np.uint32)
        state = mirror.initial_state(int(idx.size), keys=keys)
        out = mirror.run({k: v[sl][:, idx] for k, v in sensors.items()}, steps_per_frame, state)
        tb = {k: torch.from_numpy(np.ascontiguousarray(v[sl][:, idx])) for k, v in targets.items()}
        loss = loss_fn(out, tb)
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        mirror.clamp_()
        res.losses.append(float(loss.detach()))
        if callback is not None:
            callback(it, res.losses[-1])
    res.wall_s = time.perf_counter() - t0
    return res


def run_runtime(mirror: CircuitMirror, sensors: dict[str, npt.NDArray[np.float32]], steps_per_frame: int,
                backend: str = "numpy", seed: int | None = None, world: Any = None,
                brains: Sequence[Any] | None = None) -> tuple[npt.NDArray[np.bool_], Any, list[Any]]:
    """Run the same inputs in the runtime with the mirror's weights deployed.

    Spawns ``B`` brains of the mirror's circuit in a fresh ``World(dt, backend, seed)``
    (default seed: the mirror's), writes the trained weights, freezes learning, and plays
    the sensor sequences frame by frame. Returns the raster (steps, B, N) bool, the world
    and the brains.
    """
    from spikeforge.runtime.world import World
    from spikeforge.train.deploy import apply_weights

    first = next(iter(sensors.values()))
    frames, B = int(first.shape[0]), int(first.shape[1])
    if world is None:
        world = World(dt=mirror.dt, backend=backend, seed=mirror.seed if seed is None else seed,
                      max_substeps=max(64, steps_per_frame))
        brains = world.spawn(mirror.circuit, B)
    assert brains is not None
    apply_weights(brains, mirror.trained())
    world.learning(False)
    N = mirror.n
    raster = np.zeros((frames * steps_per_frame, B, N), bool)
    L = world.layout
    idx = np.array([b.index for b in brains], np.int64)
    proto = int(L.brain_proto[idx[0]])
    rows = idx - int(np.searchsorted(L.brain_proto, proto, side="left"))
    pos = np.full(L.n_brains, -1, np.int64)
    pos[idx] = np.arange(B)
    start = L.brain_start
    s0 = world.step_count
    for f in range(frames):
        for name, x in sensors.items():
            g = next((g for g in L.sensor_groups if g.proto == proto and g.name == name), None)
            if g is None:
                raise KeyError(f"sensors: the brains have no sensor {name!r}")
            L.sensor_values[g.offset:g.offset + g.brains * g.channels].reshape(g.brains, g.channels)[rows] = x[f]
        rec = world.step(steps_per_frame)
        bi = np.searchsorted(start, rec.neurons, side="right") - 1
        keep = pos[bi] >= 0
        raster[rec.steps[keep] - s0, pos[bi[keep]], rec.neurons[keep] - start[bi[keep]]] = True
    return raster, world, list(brains)


def spike_agreement(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> dict[str, float]:
    """Compare two rasters (steps, B, N): the fraction of spikes identical (same neuron, same
    step) out of the spikes in either, and the counts."""
    a = np.asarray(a, bool)
    b = np.asarray(b, bool)
    both = int(np.count_nonzero(a & b))
    either = int(np.count_nonzero(a | b))
    return {"identical": both / either if either else 1.0, "spikes_a": int(a.sum()), "spikes_b": int(b.sum()),
            "only_a": int(np.count_nonzero(a & ~b)), "only_b": int(np.count_nonzero(b & ~a))}
