"""``spikeforge bench cluster``: a crowd of NPC brains sharded over Ray actors vs one process.

The crowd of ``spikeforge bench crowd`` (256-neuron brains, a 16-channel Poisson sensor
redrawn every frame, an 8-channel rate actuator read back, frames of 1/60 s) runs first in
one process (native backend, ``--threads`` and ``max(shards) x threads`` threads) and then as
a :class:`~spikeforge.cluster.ClusterWorld` on a local Ray instance with each shard count of
``--shards`` (each shard a Ray actor asking for ``--threads`` CPUs and running that many native
threads). Reported per row: median / p90 ms per frame (sensor write + advance + actuator
read), brain-steps per second, scaling efficiency against one shard, Ray's overhead per frame
(frame wall time in the coordinator minus the slowest shard's time inside its World: task
submission, transfers, (de)serialisation, the mirror's scatter/gather), and whether every
frame's actuator outputs were bit-identical to the single-process run; for cluster rows also
the time and size of one checkpoint of every shard (what ``checkpoint_every`` costs), the
round trip of one empty actor call (*Ray ping*) and of one empty frame to every shard over the
frame path in use (*floor*: Ray's floor under the per-frame overhead). ``--frame-path
remote,compiled --rounds 3`` runs each cluster row on each frame path (ordinary actor calls, a
Ray Compiled Graph), alternating, for a same-session A/B.

Goals: Ray overhead <= 1 ms per frame with 4 shards on one host; >= 0.75 x linear scaling of
brain-steps/s from 1 to 4 shards of 4 threads each (16-core host).

Example
-------
``spikeforge bench cluster --brains 2000 --shards 1,2,4 --threads 4``
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import time
from typing import Any

import numpy as np

from spikeforge.bench import emit, load_average, make_world, threads_used, timed
from spikeforge.bench.crowd import npc_circuit

GOAL_OVERHEAD_MS = 1.0
GOAL_SCALING = 0.75


def run_frames(world: Any, values: np.ndarray, warmup: int, fps: float) -> dict[str, Any]:
    """Drive ``world`` with the prepared sensor ``values``; times, steps and an actuator digest."""
    group = world.group("npc256")
    eyes, legs = group.sensor("eyes"), group.actuator("legs")
    digest = hashlib.sha256()
    frame_ms: list[float] = []
    overhead_ms: list[float] = []
    steps = 0
    for f in range(values.shape[0]):
        t0 = time.perf_counter()
        eyes[...] = values[f]
        res = world.advance(1.0 / fps)
        out = np.asarray(legs)
        t1 = time.perf_counter()
        digest.update(out.tobytes())
        if f >= warmup:
            frame_ms.append((t1 - t0) * 1e3)
            steps += res.steps
            last = getattr(world, "last_frame", None)
            if last:
                overhead_ms.append(last["overhead_s"] * 1e3)
    return {"frame_ms": frame_ms, "steps": steps, "digest": digest.hexdigest(),
            "overhead_ms": overhead_ms}


def main(argv: list[str]) -> int:
    """Run ``spikeforge bench cluster``: a crowd sharded over Ray actors against one process.

    See the module docstring for the setup and what each figure means. Prints a table, or one JSON
    object per measurement with ``--json``.

    Parameters
    ----------
    argv : list of str
        The arguments after ``spikeforge bench cluster`` (``--help`` lists them).

    Returns
    -------
    int
        Exit status: 0.
    """
    ap = argparse.ArgumentParser(prog="spikeforge bench cluster", description=__doc__.split("\n\n")[0])
    ap.add_argument("--brains", type=int, default=400, help="brains in the crowd (default 400)")
    ap.add_argument("--shards", default="1,2", help="comma-separated shard counts (default 1,2)")
    ap.add_argument("--threads", type=int, default=1, help="native threads (Ray CPUs) per shard (default 1)")
    ap.add_argument("--frames", type=int, default=120, help="timed frames (default 120)")
    ap.add_argument("--warmup", type=int, default=20, help="untimed frames first (default 20)")
    ap.add_argument("--fps", type=float, default=60.0, help="frame rate (default 60)")
    ap.add_argument("--seed", type=int, default=1, help="world seed (default 1)")
    ap.add_argument("--checkpoint-every", type=int, default=0,
                    help="steps between shard checkpoints (default 0: none during the timed frames)")
    ap.add_argument("--address", default=None, help="Ray address to use instead of a local Ray instance")
    ap.add_argument("--frame-path", default="auto",
                    help="comma-separated ClusterWorld frame paths to run each cluster row on: auto, compiled, "
                         "remote (default auto)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat the cluster rows this many times, alternating the frame paths (default 1)")
    ap.add_argument("--json", action="store_true", help="one JSON object per row on stdout")
    args = ap.parse_args(argv)
    try:
        counts = sorted({int(x) for x in args.shards.split(",") if x.strip()})
    except ValueError:
        ap.error(f"--shards: expected comma-separated whole numbers, got {args.shards!r}")
    if not counts or min(counts) < 1 or args.brains < 1 or args.frames < 1 or args.threads < 1 or args.fps <= 0:
        ap.error("--shards, --brains, --frames, --threads: >= 1; --fps: > 0")
    paths = [x.strip() for x in args.frame_path.split(",") if x.strip()]
    if not paths or any(x not in ("auto", "compiled", "remote") for x in paths):
        ap.error(f"--frame-path: expected auto, compiled and/or remote, got {args.frame_path!r}")
    if args.rounds < 1:
        ap.error("--rounds: >= 1")
    import ray

    from spikeforge.cluster import ClusterWorld

    rng = np.random.default_rng(args.seed)
    circuit = npc_circuit()
    values = rng.random((args.warmup + args.frames, args.brains, 16), dtype=np.float32)
    rows: list[dict[str, Any]] = []

    def add(row: dict[str, Any]) -> None:
        # a cluster row's scaling is against the 1-shard row of the same frame path and round (measured
        # before it: shard counts run in ascending order); with --json each row is printed when measured,
        # so that a run stopped by a time limit keeps the rows it finished
        base = next((y["brain_steps_per_s"] for y in rows if y["mode"] == "cluster" and y["shards"] == 1
                     and y["frame_path_requested"] == row.get("frame_path_requested")
                     and y["round"] == row.get("round")), None)
        if row["mode"] == "cluster" and row["shards"] == 1:
            row["scaling"] = 1.0
        elif row["mode"] == "cluster" and base:
            row["scaling"] = round(row["brain_steps_per_s"] / (row["shards"] * base), 3)
        rows.append(row)
        if args.json:
            emit([row], True, "", [])

    ref_digest = ""
    for threads in sorted({args.threads, max(counts) * args.threads}):
        with timed() as build:
            world = make_world("native", args.seed, 0.001, threads)
            world.spawn(circuit, count=args.brains)
        r = run_frames(world, values, args.warmup, args.fps)
        ref_digest = ref_digest or r["digest"]
        add(_row("single", 0, threads_used(world), args, r, build.wall, ref_digest))
        world.backend.close()
    if not ray.is_initialized():
        if args.address:
            ray.init(address=args.address, logging_level=logging.WARNING, log_to_driver=False)
        else:
            # "local": a fresh instance even when another Ray runs on this host (it would be joined)
            ray.init(address="local", num_cpus=max(counts) * args.threads, include_dashboard=False,
                     logging_level=logging.WARNING, log_to_driver=False)
    for rnd in range(args.rounds):
        for n in counts:
            for path in paths if rnd % 2 == 0 else paths[::-1]:  # alternate which path goes first
                add(_cluster_row(ClusterWorld, n, path, args, circuit, values, ref_digest, rnd))
    if args.json:
        return 0
    title = f"cluster: {args.brains} brains x 256 neurons at {args.fps:g} fps (load {load_average():.1f})"
    emit(rows, False, title,
         [("mode", "mode"), ("frame_path", "path"), ("round", "round"), ("shards", "shards"),
          ("threads", "threads/shard"), ("ms_per_frame_median", "ms/frame"),
          ("ms_per_frame_p90", "p90"), ("brain_steps_per_s", "brain-steps/s"), ("scaling", "vs linear"),
          ("ray_overhead_ms_median", "Ray ms/frame"), ("ray_overhead_ms_p90", "Ray p90"), ("floor_ms", "floor ms"),
          ("ray_ping_ms", "Ray ping ms"), ("bit_equal", "= single"),
          ("checkpoint_s", "ckpt s"),
          ("checkpoint_mb", "ckpt MB")])
    return 0


def _cluster_row(cls: Any, n: int, path: str, args: argparse.Namespace, circuit: Any, values: np.ndarray,
                 ref_digest: str, rnd: int) -> dict[str, Any]:
    """One cluster row: ``n`` shards on frame path ``path`` (a fresh ClusterWorld)."""
    import ray

    with timed() as build:
        cw = cls(shards=n, seed=args.seed, threads=args.threads, checkpoint_every=args.checkpoint_every,
                 frame_path=path)
        cw.spawn(circuit, count=args.brains)
    try:
        r = run_frames(cw, values, args.warmup, args.fps)
        active = cw.frame_path_active
        pings, floors = [], []
        for _ in range(50):  # Ray's floor: one empty actor call, and one empty frame to every shard
            t0 = time.perf_counter()
            ray.get(cw.actor(0).ping.remote())
            pings.append(time.perf_counter() - t0)
            floors.append(cw.round_trip())
        t0 = time.perf_counter()
        cw.checkpoint()  # what one checkpoint of every shard costs (fault recovery)
        ckpt_s = time.perf_counter() - t0
        ckpt_mb = sum(len(b) for b in cw._ckpt if b) / 1e6
    finally:
        cw.close()
    row = _row("cluster", n, args.threads, args, r, build.wall, ref_digest)
    row.update(checkpoint_s=round(ckpt_s, 3), checkpoint_mb=round(ckpt_mb, 1), frame_path=active,
               frame_path_requested=path, round=rnd + 1,
               ray_ping_ms=round(float(np.median(pings)) * 1e3, 3), floor_ms=round(float(np.median(floors)) * 1e3, 3))
    return row


def _row(mode: str, shards: int, threads: int, args: argparse.Namespace, r: dict[str, Any], build_s: float,
         ref_digest: str) -> dict[str, Any]:
    ms = r["frame_ms"]
    total_s = sum(ms) / 1e3
    ov = r["overhead_ms"]
    return {
        "bench": "cluster", "mode": mode, "shards": shards, "threads": threads, "brains": args.brains,
        "frames": args.frames, "build_s": round(build_s, 2), "steps_per_frame": round(r["steps"] / args.frames, 2),
        "ms_per_frame_median": round(float(np.median(ms)), 3),
        "ms_per_frame_p90": round(float(np.percentile(ms, 90)), 3),
        "brain_steps_per_s": round(args.brains * r["steps"] / total_s) if total_s > 0 else 0,
        "ray_overhead_ms_median": round(float(np.median(ov)), 3) if ov else None,
        "ray_overhead_ms_p90": round(float(np.percentile(ov, 90)), 3) if ov else None,
        "bit_equal": r["digest"] == ref_digest, "scaling": None,
        "overhead_goal_met": (float(np.median(ov)) <= GOAL_OVERHEAD_MS) if ov else None,
        "load_avg": load_average(),
    }
