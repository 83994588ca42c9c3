"""``spikeforge bench crowd``: many small NPC brains at game frame rate.

Default: 1,000 brains x 256 LIF neurons x 32 synapses per neuron, dt 1 ms, frames of
1/60 s (16-17 steps per ``World.advance``), a 16-channel Poisson sensor per brain
(64 input neurons) with values redrawn every frame (about 10 Hz per input neuron) and an
8-channel rate actuator read back. Reported: median and 90th-percentile ms per frame
(sensor write + advance + actuator read), steps per frame and the mean firing rate.

Goal: <= 4 ms per frame.

Example
-------
``spikeforge bench crowd --brains 1000 --frames 300``
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from spikeforge.bench import common_args, emit, load_average, make_world, threads_used, timed
from spikeforge.model import LIF, Circuit, FixedInDegree, FixedProbability, Uniform

GOAL_MS_PER_FRAME = 4.0


def npc_circuit(plasticity: Any = None, random_wiring: bool = False) -> Circuit:
    """256 LIF neurons, 32 synapses onto each, a Poisson sensor and a rate actuator.

    Parameters
    ----------
    plasticity : STDP, RewardSTDP, ModulatedHebbian, Homeostasis or None
        Learning rule of the hid->hid projection (default None: nothing learns).
    random_wiring : bool
        hid->hid as ``FixedProbability(0.1)`` (16 inputs per neuron on average, a different
        count per brain) instead of ``FixedInDegree(16)``.
    """
    c = Circuit("npc256")
    m = LIF(tau_m=20.0, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0, t_ref=2.0, bias=8.0)
    c.add_population("in", 64, LIF(t_ref=2.0), v_init=(-65.0, -55.0))
    c.add_population("hid", 160, m, v_init=(-65.0, -52.0))
    c.add_population("out", 32, m, v_init=(-65.0, -52.0))
    c.connect("in", "hid", FixedInDegree(12), weight=Uniform(1.0, 3.0), delay=(1, 3))
    hid_rule = FixedProbability(0.1) if random_wiring else FixedInDegree(16)
    c.connect("hid", "hid", hid_rule, weight=Uniform(0.2, 1.2), delay=(1, 4), plasticity=plasticity)
    c.connect("out", "hid", FixedInDegree(4), weight=-2.0, delay=1)
    c.connect("hid", "out", FixedInDegree(32), weight=Uniform(0.3, 1.5), delay=2)
    c.connect("hid", "in", FixedInDegree(32), weight=Uniform(0.05, 0.2), delay=1)
    c.add_sensor("eyes", "in", channels=16, kind="poisson", max_rate=20.0)
    c.add_actuator("legs", "out", channels=8, kind="rate")
    return c


def main(argv: list[str]) -> int:
    """Run ``spikeforge bench crowd``: ms per frame of many small NPC brains at 60 frames per second.

    See the module docstring for the setup and what each figure means. Prints a table, or one JSON
    object per measurement with ``--json``.

    Parameters
    ----------
    argv : list of str
        The arguments after ``spikeforge bench crowd`` (``--help`` lists them).

    Returns
    -------
    int
        Exit status: 0.
    """
    ap = argparse.ArgumentParser(prog="spikeforge bench crowd", description=__doc__.split("\n\n")[0])
    common_args(ap)
    ap.add_argument("--brains", type=int, default=1000, help="brains (default 1000)")
    ap.add_argument("--frames", type=int, default=300, help="timed frames (default 300)")
    ap.add_argument("--warmup", type=int, default=30, help="untimed frames first (default 30)")
    ap.add_argument("--fps", type=float, default=60.0, help="frame rate (default 60)")
    args = ap.parse_args(argv)
    if args.brains < 1 or args.frames < 1 or args.fps <= 0:
        ap.error("--brains, --frames: >= 1; --fps: > 0")
    with timed() as build:
        world = make_world(args.backend, args.seed, 0.001, args.threads)
        world.spawn(npc_circuit(), count=args.brains)
    group = world.group("npc256")
    eyes, legs = group.sensor("eyes"), group.actuator("legs")
    rng = np.random.default_rng(args.seed)
    values = rng.random((args.warmup + args.frames, *eyes.shape), dtype=np.float32)
    frame_ms, steps, spikes = [], 0, 0
    sink = 0.0
    for f in range(args.warmup + args.frames):
        t0 = time.perf_counter()
        eyes[...] = values[f]
        res = world.advance(1.0 / args.fps)
        sink += float(legs[0, 0])
        t1 = time.perf_counter()
        if f >= args.warmup:
            frame_ms.append((t1 - t0) * 1e3)
            steps += res.steps
            spikes += int(res.spikes.neurons.size)
    L = world.layout
    med = float(np.median(frame_ms))
    row: dict[str, Any] = {
        "bench": "crowd", "backend": world.backend.name, "threads": threads_used(world),
        "seed": args.seed, "brains": L.n_brains, "neurons": L.n_neurons, "synapses": L.n_synapses,
        "build_s": round(build.wall, 2), "frames": args.frames, "steps_per_frame": round(steps / args.frames, 2),
        "ms_per_frame_median": round(med, 3), "ms_per_frame_p90": round(float(np.percentile(frame_ms, 90)), 3),
        "rate_hz": round(spikes / (L.n_neurons * steps * 0.001), 2), "goal_met": med <= GOAL_MS_PER_FRAME,
        "load_avg": load_average(),
    }
    emit([row], args.json, f"crowd: {L.n_brains} brains x 256 neurons at {args.fps:g} fps",
         [("backend", "backend"), ("threads", "threads"), ("neurons", "neurons"), ("synapses", "synapses"),
          ("steps_per_frame", "steps/frame"), ("ms_per_frame_median", "ms/frame (median)"),
          ("ms_per_frame_p90", "ms/frame (p90)"), ("rate_hz", "rate (Hz)"), ("goal_met", "<= 4 ms")])
    return 0
