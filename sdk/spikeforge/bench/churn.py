"""``spikeforge bench churn``: NPCs come and go while a crowd runs at game frame rate.

Default: the ``bench crowd`` world (1,000 brains x 256 LIF neurons, 32 synapses per
neuron, a 16-channel Poisson sensor and an 8-channel rate actuator per brain) at 60
frames per second, with 10 spawns and 10 despawns per second spread evenly over the
frames (a spawn and a despawn every 6th frame at the defaults). Each frame: sensor write
through the held group handle, the frame's spawn/despawn, ``World.advance``, actuator
read through the held handle. Reported: spawn and despawn cost (median, worst), frame
time (median, p99, worst), worst frame / median frame, layout rebuilds and backend
rebuilds during the timed frames, and the draw of one brain alone (connectivity and
initial state, the part of a spawn that is not the slot write).

``--learning stdp`` / ``--learning rstdp`` puts STDP (with homeostasis) or reward-STDP
on the hid->hid projection (a learning world: each spawn then re-indexes the learning
tables, ``plasticity.update_cache``). ``--grow`` spawns one brain more before the timed
frames (the prototype's capacity doubles: a layout rebuild, whose free slots are empty) and
then only spawns: every timed spawn lands in a slot that never held a brain.
``--random-wiring`` draws hid->hid with ``FixedProbability(0.1)`` (a different synapse count
per brain) instead of ``FixedInDegree(16)``.

Goals (2 cores, native): spawn <= 1 ms, despawn <= 0.3 ms, worst frame <= 2x median.

Example
-------
``spikeforge bench churn --brains 1000 --seconds 10``
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from spikeforge.bench import common_args, emit, load_average, make_world, threads_used, timed
from spikeforge.bench.crowd import npc_circuit
from spikeforge.engine.rng import brain_key
from spikeforge.engine.slots import instantiate_many
from spikeforge.model import STDP, Homeostasis, RewardSTDP

GOAL_SPAWN_MS = 1.0
GOAL_DESPAWN_MS = 0.3
GOAL_WORST_OVER_MEDIAN = 2.0


def main(argv: list[str]) -> int:
    """Run ``spikeforge bench churn``: frame times of a crowd while NPCs are spawned and despawned.

    See the module docstring for the setup and what each figure means. Prints a table, or one JSON
    object per measurement with ``--json``.

    Parameters
    ----------
    argv : list of str
        The arguments after ``spikeforge bench churn`` (``--help`` lists them).

    Returns
    -------
    int
        Exit status: 0.
    """
    ap = argparse.ArgumentParser(prog="spikeforge bench churn", description=__doc__.split("\n\n")[0])
    common_args(ap)
    ap.add_argument("--brains", type=int, default=1000, help="brains alive at the start (default 1000)")
    ap.add_argument("--seconds", type=float, default=10.0, help="timed game seconds (default 10)")
    ap.add_argument("--warmup", type=float, default=1.0, help="untimed game seconds first (default 1)")
    ap.add_argument("--rate", type=float, default=10.0, help="spawns and despawns per second, each (default 10)")
    ap.add_argument("--fps", type=float, default=60.0, help="frame rate (default 60)")
    ap.add_argument("--compact", action="store_true",
                    help="World(compact=True): rebuild the layout on every spawn/despawn (the layout before "
                         "slots; for a side-by-side)")
    ap.add_argument("--learning", choices=("none", "stdp", "rstdp"), default="none",
                    help="plasticity on hid->hid: none (default), stdp (with homeostasis) or rstdp (reward-STDP)")
    ap.add_argument("--grow", action="store_true",
                    help="one brain more first (capacity doubles, the new slots empty), then spawns only")
    ap.add_argument("--random-wiring", action="store_true",
                    help="hid->hid as FixedProbability(0.1) (a synapse count per brain) instead of FixedInDegree(16)")
    args = ap.parse_args(argv)
    if args.brains < 1 or args.seconds <= 0 or args.warmup < 0 or args.rate < 0 or args.fps <= 0:
        ap.error("--brains: >= 1; --seconds, --fps: > 0; --warmup, --rate: >= 0")
    rule = {"none": None, "rstdp": RewardSTDP(update_every=10),
            "stdp": STDP(soft_bound=True, homeostasis=Homeostasis())}[args.learning]
    circuit = npc_circuit(rule, random_wiring=bool(args.random_wiring))
    with timed() as build:
        world = make_world(args.backend, args.seed, 0.001, args.threads)
        world.compact = bool(args.compact)
        world.spawn(circuit, count=args.brains)
        if args.grow:
            world.spawn(circuit)
    group = world.group(circuit)
    eyes, legs = group.sensor("eyes"), group.actuator("legs")  # held across all the churn
    rng = np.random.default_rng(args.seed)
    warm = round(args.warmup * args.fps)
    frames = round(args.seconds * args.fps)
    per_frame = args.rate / args.fps
    owed = 0.0
    frame_ms: list[float] = []
    spawn_ms: list[float] = []
    despawn_ms: list[float] = []
    sink = 0.0
    rebuilds0 = backend_rebuilds0 = 0
    for f in range(warm + frames):
        if f == warm:
            st = world.stats()
            rebuilds0, backend_rebuilds0 = st["rebuilds"], st["backend_rebuilds"]
        owed += per_frame
        todo = int(owed)
        owed -= todo
        values = rng.random(eyes.shape, dtype=np.float32)
        victims = group.brains
        picks = [victims[int(i)] for i in rng.choice(len(victims), size=min(todo, len(victims)), replace=False)]
        if args.grow:
            picks = []
        t0 = time.perf_counter()
        eyes[...] = values
        for b in picks:
            t = time.perf_counter()
            world.despawn(b)
            despawn_ms.append((time.perf_counter() - t) * 1e3)
        for _ in range(todo):
            t = time.perf_counter()
            world.spawn(circuit)
            spawn_ms.append((time.perf_counter() - t) * 1e3)
        world.advance(1.0 / args.fps)
        sink += float(legs[0, 0])
        t1 = time.perf_counter()
        if f >= warm:
            frame_ms.append((t1 - t0) * 1e3)
        else:
            spawn_ms.clear()
            despawn_ms.clear()
    # the draw alone (connectivity + initial state of one brain), without touching the world
    proto = world.layout.prototypes[0]
    draw_ms = []
    for s in range(20):
        t = time.perf_counter()
        instantiate_many(proto, [10**6 + s], [brain_key(args.seed, 10**6 + s)], args.seed, world.layout.depth)
        draw_ms.append((time.perf_counter() - t) * 1e3)
    st = world.stats()
    med = float(np.median(frame_ms))
    worst = float(np.max(frame_ms))
    sp = np.array(spawn_ms or [np.nan])
    de = np.array(despawn_ms or [np.nan])
    row: dict[str, Any] = {
        "bench": "churn", "learning": args.learning, "layout": "compact" if args.compact else "slots",
        "grow": bool(args.grow), "random_wiring": bool(args.random_wiring),
        "backend": world.backend.name,
        "threads": threads_used(world), "seed": args.seed,
        "brains": st["brains"], "slots": st["slots"], "neurons": st["neurons"], "build_s": round(build.wall, 2),
        "frames": frames, "spawns": len(spawn_ms), "despawns": len(despawn_ms),
        "spawn_ms_median": round(float(np.median(sp)), 3), "spawn_ms_max": round(float(np.max(sp)), 3),
        "draw_ms_median": round(float(np.median(draw_ms)), 3),
        "despawn_ms_median": round(float(np.median(de)), 3), "despawn_ms_max": round(float(np.max(de)), 3),
        "frame_ms_median": round(med, 3), "frame_ms_p99": round(float(np.percentile(frame_ms, 99)), 3),
        "frame_ms_worst": round(worst, 3), "worst_over_median": round(worst / med, 2),
        "rebuilds": st["rebuilds"] - rebuilds0, "backend_rebuilds": st["backend_rebuilds"] - backend_rebuilds0,
        "goal_spawn": bool(np.median(sp) <= GOAL_SPAWN_MS),
        "goal_despawn": bool(np.median(de) <= GOAL_DESPAWN_MS) if despawn_ms else None,
        "goal_worst": worst <= GOAL_WORST_OVER_MEDIAN * med, "load_avg": load_average(),
    }
    emit([row], args.json, f"churn: {st['brains']} brains, {args.rate:g} spawns + {args.rate:g} despawns per s "
         f"at {args.fps:g} fps",
         [("backend", "backend"), ("threads", "threads"), ("spawns", "spawns"),
          ("spawn_ms_median", "spawn ms (med)"), ("spawn_ms_max", "spawn ms (max)"),
          ("draw_ms_median", "of which draw ms (med)"),
          ("despawn_ms_median", "despawn ms (med)"), ("despawn_ms_max", "despawn ms (max)"),
          ("frame_ms_median", "frame ms (med)"), ("frame_ms_p99", "frame ms (p99)"),
          ("frame_ms_worst", "frame ms (worst)"), ("worst_over_median", "worst/med"),
          ("rebuilds", "rebuilds"), ("load_avg", "load")])
    return 0
