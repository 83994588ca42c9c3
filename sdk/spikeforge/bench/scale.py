"""``spikeforge bench scale``: one large CUBA-style network (default 1.2 M neurons, in-degree 80).

Reported: network construction time (``World.spawn``, vectorized compiler), ms per step
(median of several ``World.step(k)`` calls, all steps in one backend call), the bytes a
step moves and the effective bandwidth that implies, next to a measured copy bandwidth
of this machine (``numpy.copyto`` of 256 MiB, read + write), and memory per synapse and
per neuron from ``Layout.nbytes()``.

Bytes moved per step (the traffic of the kernel's lean LIF loop, which CUBA neurons
take: no external drive, no consecutive-fire limit): v, ie, ii and hold read and written
(32 B), the two used ring channels of the slot read and cleared (16 B), the spike flag
written and scanned (8 B): 56 B per neuron; plus per delivered synaptic event the synapse itself
(8 B: post + weight) and a read-modify-write of a 4 B ring cell (8 B). Caches can hold
part of this, so the effective figure may exceed the copy bandwidth.

Goals: <= 3 ms/step, <= 8 B per static synapse.

Example
-------
``spikeforge bench scale --n 1200000 --indegree 80 --steps 50``
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from spikeforge.bench import common_args, cuba_circuit, emit, load_average, make_world, max_rss_mb, threads_used, timed

GOAL_MS_PER_STEP = 3.0
GOAL_BYTES_PER_SYNAPSE = 8.0


def copy_bandwidth(mib: int = 256, repeats: int = 5) -> float:
    """Best read+write bandwidth (GB/s) of ``numpy.copyto`` over ``mib`` MiB."""
    src = np.ones(mib * 1024 * 1024 // 4, np.float32)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.nbytes / best / 1e9


def main(argv: list[str]) -> int:
    """Run ``spikeforge bench scale``: one large network: build time, ms per step and memory bandwidth.

    See the module docstring for the setup and what each figure means. Prints a table, or one JSON
    object per measurement with ``--json``.

    Parameters
    ----------
    argv : list of str
        The arguments after ``spikeforge bench scale`` (``--help`` lists them).

    Returns
    -------
    int
        Exit status: 0.
    """
    ap = argparse.ArgumentParser(prog="spikeforge bench scale", description=__doc__.split("\n\n")[0])
    common_args(ap)
    ap.add_argument("--n", type=int, default=1_200_000, help="neurons (default 1.2 M)")
    ap.add_argument("--indegree", type=int, default=80, help="synapses per neuron (default 80)")
    ap.add_argument("--steps", type=int, default=20, help="steps per timed call (default 20)")
    ap.add_argument("--repeats", type=int, default=5, help="timed calls (default 5; the median is reported)")
    ap.add_argument("--dt", type=float, default=0.0001, help="step (s, default 0.1 ms as CUBA)")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        ap.error("--steps and --repeats: must be >= 1")
    bw = copy_bandwidth()
    with timed() as build:
        world = make_world(args.backend, args.seed, args.dt, args.threads)
        # (no draw of a next brain beside the timed calls: World.DRAW_AHEAD_MAX_NEURONS; smaller
        # networks with --n: turned off here as in bench cuba)
        world.draw_ahead = False
        world.spawn(cuba_circuit(args.n, indegree=args.indegree))
    L = world.layout
    world.step(args.steps)  # warm-up: page faults, thread start
    times, cpus, spikes = [], [], 0
    for _ in range(args.repeats):
        with timed() as t:
            rec = world.step(args.steps)
        times.append(t.wall / args.steps)
        cpus.append(t.cpu / args.steps)
        spikes += int(rec.neurons.size)
    ms = float(np.median(times)) * 1e3
    mem = L.nbytes()
    n, s = L.n_neurons, L.n_synapses
    per_neuron = (2 * sum(L.neuron[k].itemsize for k in ("v", "ie", "ii", "hold"))
                  + 2 * 2 * L.ring.itemsize + 2 * 4)  # 56 B, see docstring
    spikes_per_step = spikes / (args.steps * args.repeats)
    events = spikes_per_step * (s / max(n, 1))
    moved = per_neuron * n + events * (8 + 8)
    row: dict[str, Any] = {
        "bench": "scale", "backend": world.backend.name, "threads": threads_used(world),
        "seed": args.seed, "n": n, "synapses": s, "build_s": round(build.wall, 2),
        "ms_per_step": round(ms, 3), "cpu_ms_per_step": round(float(np.median(cpus)) * 1e3, 3),
        "spikes_per_step": round(spikes_per_step, 1), "rate_hz": round(spikes_per_step / n / args.dt, 2),
        "bytes_per_step": int(moved), "effective_gb_s": round(moved / (ms / 1e3) / 1e9, 2),
        "copy_gb_s": round(bw, 2), "bytes_per_synapse": round(mem["synapses"] / max(s, 1), 3),
        "row_bytes_per_neuron": round(mem["rows"] / max(n, 1), 2),
        "neuron_bytes_per_neuron": round(mem["neurons"] / max(n, 1), 2),
        "ring_bytes_per_neuron": round(mem["ring"] / max(n, 1), 2),
        "total_bytes_per_synapse": round(sum(mem.values()) / max(s, 1), 3),
        "max_rss_mb": round(max_rss_mb(), 1), "goal_ms_met": ms <= GOAL_MS_PER_STEP,
        "goal_bytes_met": mem["synapses"] / max(s, 1) <= GOAL_BYTES_PER_SYNAPSE, "load_avg": load_average(),
    }
    emit([row], args.json, f"scale: {n:,} neurons, {s:,} synapses",
         [("backend", "backend"), ("threads", "threads"), ("build_s", "build (s)"), ("ms_per_step", "ms/step"),
          ("cpu_ms_per_step", "CPU ms/step"), ("rate_hz", "rate (Hz)"), ("effective_gb_s", "effective GB/s"),
          ("copy_gb_s", "copy GB/s"), ("bytes_per_synapse", "B/synapse"), ("total_bytes_per_synapse", "B/syn all"),
          ("neuron_bytes_per_neuron", "B/neuron state"), ("goal_ms_met", "<=3 ms"), ("goal_bytes_met", "<=8 B")])
    return 0
