"""Does a World frame cost its GPU backend more host time than a bare advance?

Builds the crowd in a ``World(backend="gpu")`` and, in one process, alternates a World frame (sensor
write, ``World.advance(1/60)``, an actuator read) with a bare ``backend.advance`` of the next
frame's step count (the one the World's advance recorded commands ahead for; hinted as the World
hints). Reports per kind the median wall time and host time (wall minus the time blocked in the
read-back map, the GPU's work), and which backend methods a World frame called (the calls below
``advance`` left out). On lavapipe the GPU's work is the CPU's, so only the host split means
anything there.

``python tools/gpu/world_host_split.py --brains 100``
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import time
from typing import Any

import numpy as np
from readback_wait import ReadbackWait

from spikeforge.bench import make_world
from spikeforge.bench.crowd import npc_circuit
from spikeforge.engine import wgpu_backend as G


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brains", type=int, default=100)
    ap.add_argument("--frames", type=int, default=40, help="timed frames of each kind")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--draw-ahead", type=int, choices=(0, 1), default=1)
    args = ap.parse_args()
    w = make_world("gpu", 1, 0.001, None)
    w.draw_ahead = bool(args.draw_ahead)
    w.spawn(npc_circuit(), count=args.brains)
    be = w.backend
    assert isinstance(be, G.GpuBackend), be
    eyes, legs = w.group("npc256").sensor("eyes"), w.group("npc256").actuator("legs")
    wait = ReadbackWait(be)
    called: collections.Counter[str] = collections.Counter()
    outer = ("advance", "expect_steps", "pull_state", "push_state", "add_reward", "relayout")
    for name in outer:  # the backend's public entry points a World may call per frame
        f = getattr(be, name, None)
        if callable(f):
            def counted(*a: Any, _f: Any = f, _n: str = name, **k: Any) -> Any:
                called[_n] += 1
                return _f(*a, **k)
            setattr(be, name, counted)
    bare_advance = be.advance
    values = np.random.default_rng(1).random((8, *eyes.shape), dtype=np.float32)
    host: dict[str, list[float]] = {"world": [], "backend": []}
    wall: dict[str, list[float]] = {"world": [], "backend": []}
    world_calls: collections.Counter[str] = collections.Counter()
    for f in range(args.warmup + args.frames):
        eyes[...] = values[f % 8]
        called.clear()
        wait.take()
        t = time.perf_counter()
        w.advance(1.0 / 60)
        float(legs[0, 0])
        dt = time.perf_counter() - t
        if f >= args.warmup:
            wall["world"].append(dt * 1e3)
            host["world"].append((dt - wait.take()) * 1e3)
            world_calls.update(called)
        eyes[...] = values[(f + 3) % 8]
        # the step count the World's advance recorded ahead for, which the next World frame runs too:
        # both kinds then submit commands recorded ahead (with res.steps, 8 of 28 advances of a 50-brain
        # run on lavapipe missed them: the figures of 2026-12-07 include such misses)
        n = w.clock.peek(1.0 / 60)
        be.expect_steps(n)
        wait.take()
        t = time.perf_counter()
        bare_advance(n, w.step_count, None)  # (the world's step counter is not moved on)
        dt = time.perf_counter() - t
        if f >= args.warmup:
            wall["backend"].append(dt * 1e3)
            host["backend"].append((dt - wait.take()) * 1e3)
    print(json.dumps({"adapter": G.adapter_summary(), "brains": args.brains, "draw_ahead": args.draw_ahead,
                      "world_host_ms": round(statistics.median(host["world"]), 3),
                      "backend_host_ms": round(statistics.median(host["backend"]), 3),
                      "world_wall_ms": round(statistics.median(wall["world"]), 3),
                      "backend_wall_ms": round(statistics.median(wall["backend"]), 3),
                      "prerecord": getattr(be, "prerecord_stats", None),
                      "world_frame_calls_per_frame": {k: v / args.frames for k, v in sorted(world_calls.items())}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
