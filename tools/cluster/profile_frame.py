"""Profile ``ClusterWorld.advance`` on a fresh local Ray instance (docs/performance.md, Cluster).

    python tools/cluster/profile_frame.py [--brains 200] [--shards 2] [--frames 150] [--profile]

Prints the median frame time and Ray overhead per frame (the frame's wall time minus the slowest
shard's time inside its World), the round trip of one empty call to one shard and to every shard
(Ray's floor under a frame), and with --profile the coordinator's cProfile of the timed frames.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(ROOT, "sdk"), ROOT]
# Ray's workers inherit the environment: make the shards import this checkout
os.environ["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "sdk"), ROOT, os.environ.get("PYTHONPATH", "")])
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402

from spikeforge.bench.crowd import npc_circuit  # noqa: E402
from spikeforge.cluster import ClusterWorld  # noqa: E402


def main() -> None:
    """Run the profile (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brains", type=int, default=200)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    ray.init(address="local", num_cpus=a.shards, include_dashboard=False, logging_level=logging.WARNING,
             log_to_driver=False)
    cw = ClusterWorld(shards=a.shards, seed=1, threads=1, checkpoint_every=0)
    cw.spawn(npc_circuit(), count=a.brains)
    g = cw.group("npc256")
    eyes, legs = g.sensor("eyes"), g.actuator("legs")
    vals = np.random.default_rng(1).random((a.warmup + a.frames, a.brains, 16), dtype=np.float32)
    prof = cProfile.Profile()
    wall, over = [], []
    for f in range(a.warmup + a.frames):
        t0 = time.perf_counter()
        eyes[...] = vals[f]
        if f >= a.warmup:
            prof.enable()
        cw.advance(1 / 60)
        prof.disable()
        np.asarray(legs)
        if f >= a.warmup:
            wall.append(time.perf_counter() - t0)
            over.append(cw.last_frame["overhead_s"])
    ping1, pingall = [], []
    for _ in range(50):
        t0 = time.perf_counter()
        ray.get(cw.actor(0).ping.remote())
        t1 = time.perf_counter()
        ray.get([cw.actor(k).ping.remote() for k in range(a.shards)])
        ping1.append(t1 - t0)
        pingall.append(time.perf_counter() - t1)
    ms = lambda x: np.median(x) * 1e3  # noqa: E731
    print(f"{a.brains} brains, {a.shards} shards, load {os.getloadavg()[0]:.1f}: frame median {ms(wall):.2f} ms, "
          f"Ray overhead median {ms(over):.2f} ms (p90 {np.percentile(over, 90) * 1e3:.2f}), "
          f"ping one shard {ms(ping1):.2f} ms, ping all shards {ms(pingall):.2f} ms")
    if a.profile:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
    cw.close()


if __name__ == "__main__":
    main()
