"""Does the sequence of step counts change what a GPU advance costs?

On an H100 (2026-12-07) a crowd of 10,000 took ~1.6 ms per 17-step advance run back to back
(``kernel_times.py``: GPU work 0.94 ms), but 5.5 ms when 17-step advances alternated with 1-step
ones (``profile_advance.py``) and 4.7-6.4 ms in World frames of 16 and 17 steps. This times
``GpuBackend.advance`` on one crowd through step-count patterns, each run back to back and at a
60 Hz pace, and reports per pattern the median wall time and read-back wait of each step count
(``--sensors``: new sensor values before every advance, as a game writes them). ``--via-world`` and
``--device-first`` / ``--backend-first`` ask whether a backend a World built, a device that idled
through the spawn, or a backend made and closed on it before, is what makes a World's frames slower
than these bare advances.

``python tools/gpu/advance_pattern.py --brains 10000 --patterns 17 16,17,17 17,1``
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
from pacing import FrameClock
from readback_wait import ReadbackWait

from spikeforge import World
from spikeforge.bench.crowd import npc_circuit
from spikeforge.engine import wgpu_backend as G


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brains", type=int, default=10000)
    ap.add_argument("--patterns", nargs="+", default=["17", "16,17,17", "17,1"],
                    help="comma-separated step counts, repeated in turn")
    ap.add_argument("--advances", type=int, default=60, help="timed advances per pattern and pace")
    ap.add_argument("--paces", default="0,60", help="comma-separated frame rates (0: back to back)")
    ap.add_argument("--sensors", action="store_true", help="new sensor values before every advance")
    ap.add_argument("--via-world", action="store_true",
                    help="time the backend a World(backend='gpu') built as the crowd spawned (as `bench crowd` "
                         "has it), called directly, instead of a GpuBackend made on the finished layout")
    ap.add_argument("--device-first", action="store_true",
                    help="open the GPU device before the crowd spawns (as a World(backend='gpu') does), so it "
                         "idles through the spawn, then time a GpuBackend made on the finished layout")
    ap.add_argument("--backend-first", action="store_true",
                    help="as --device-first, and run then close a one-brain GpuBackend on it before the spawn "
                         "(a World(backend='gpu') makes one for its empty layout first)")
    args = ap.parse_args()
    if args.device_first or args.backend_first:
        G.gpu_device()
    if args.backend_first:
        w1 = World(dt=0.001, backend="numpy", seed=2)
        w1.spawn(npc_circuit(), 1)
        be1 = G.GpuBackend(w1.layout)
        be1.advance(17, 0, None)
        be1.close()
    w = World(dt=0.001, backend="gpu" if args.via_world else "numpy", seed=1)
    w.spawn(npc_circuit(), args.brains)
    L = w.layout
    rng = np.random.default_rng(1)
    values = [rng.random(L.sensor_values.size, dtype=np.float32) for _ in range(4)]
    L.sensor_values[...] = values[0]
    be = w.backend if args.via_world else G.GpuBackend(L)
    assert isinstance(be, G.GpuBackend), be
    wait = ReadbackWait(be)
    done = 0
    print(json.dumps({"adapter": G.adapter_summary(), "brains": args.brains, "fused": be.fused,
                      "prerecord": getattr(be, "prerecord", None), "sensors": args.sensors,
                      "via_world": args.via_world, "device_first": args.device_first,
                      "backend_first": args.backend_first}), flush=True)
    for pace in (float(p) for p in args.paces.split(",")):
        for pattern in args.patterns:
            counts = [int(s) for s in pattern.split(",")]
            hint = getattr(be, "expect_steps", lambda n: None)
            for i in range(2 * len(counts) + 4):  # warm: this pattern's buffers, guesses, clocks
                hint(counts[(i + 1) % len(counts)])
                be.advance(counts[i % len(counts)], done, None)
                done += counts[i % len(counts)]
            walls: dict[int, list[float]] = {c: [] for c in counts}
            wait_of: dict[int, list[float]] = {c: [] for c in counts}
            clock = FrameClock(pace)
            for i in range(args.advances):
                n = counts[i % len(counts)]
                if args.sensors:
                    L.sensor_values[...] = values[i % len(values)]
                hint(counts[(i + 1) % len(counts)])
                clock.wait()
                wait.take()
                t0 = time.perf_counter()
                be.advance(n, done, None)
                walls[n].append((time.perf_counter() - t0) * 1e3)
                wait_of[n].append(wait.take() * 1e3)
                done += n
            print(json.dumps({"pattern": pattern, "pace_hz": pace,
                              "ms_wall": {c: round(statistics.median(v), 3) for c, v in walls.items()},
                              "ms_wait": {c: round(statistics.median(v), 3) for c, v in wait_of.items()},
                              "ms_wall_p90": {c: round(float(np.percentile(v, 90)), 3) for c, v in walls.items()},
                              "prerecord": getattr(be, "prerecord_stats", None)}), flush=True)
    if not args.via_world:
        be.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
