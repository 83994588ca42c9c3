"""Where a crowd frame's time goes on the native backend (docs/performance.md, "Per-model kernels
(issue 14)", the crowd profile of 2026-12-05 afternoon).

Builds ``spikeforge bench crowd``'s world (1,000 npc256 brains, dt 1 ms, the draw-ahead thread
off), runs ``--warmup`` frames, then ``--frames`` frames of the bench's loop (sensor write,
``world.advance(1/60)``, an actuator read) and prints one JSON object: per frame, the median
thread CPU and wall ms of the whole frame, of ``world.advance``, of the backend's ``advance``
and of the C call ``sf_engine_advance`` alone (the kernel), so the Python layers are the
differences. ``--spin S`` then keeps running frames for S more seconds, untimed (for ``perf
record --delay``, after the build).

    PYTHONPATH=sdk:. python tools/native/crowd_kernel_time.py --threads 1 --frames 300
"""
from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np

from spikeforge.bench import load_average, make_world
from spikeforge.bench.crowd import npc_circuit


class _TimedLib:
    """Forwards to the cffi lib, timing ``sf_engine_advance`` (thread CPU and wall seconds)."""

    def __init__(self, lib: Any) -> None:
        self._lib = lib
        self.cpu: list[float] = []
        self.wall: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lib, name)

    def sf_engine_advance(self, *args: Any) -> Any:
        t, p = time.thread_time(), time.perf_counter()
        rc = self._lib.sf_engine_advance(*args)
        self.cpu.append(time.thread_time() - t)
        self.wall.append(time.perf_counter() - p)
        return rc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brains", type=int, default=1000, help="brains (default 1000)")
    ap.add_argument("--frames", type=int, default=300, help="timed frames (default 300)")
    ap.add_argument("--warmup", type=int, default=30, help="untimed frames first (default 30)")
    ap.add_argument("--threads", type=int, default=1, help="native threads (default 1)")
    ap.add_argument("--seed", type=int, default=1, help="world seed (default 1, as the bench)")
    ap.add_argument("--spin", type=float, default=0.0, help="seconds of untimed frames after the timed ones")
    args = ap.parse_args()
    from spikeforge.engine import native_backend

    world = make_world("native", args.seed, 0.001, args.threads)
    world.draw_ahead = False
    world.spawn(npc_circuit(), count=args.brains)
    group = world.group("npc256")
    eyes, legs = group.sensor("eyes"), group.actuator("legs")
    rng = np.random.default_rng(args.seed)
    values = rng.random((args.warmup + args.frames, *eyes.shape), dtype=np.float32)
    timed_lib = _TimedLib(native_backend.lib)
    native_backend.lib = timed_lib  # type: ignore[assignment]
    backend = world.backend
    inner = backend.advance
    b_cpu: list[float] = []
    b_wall: list[float] = []

    def backend_advance(*a: Any) -> Any:
        t, p = time.thread_time(), time.perf_counter()
        res = inner(*a)
        b_cpu.append(time.thread_time() - t)
        b_wall.append(time.perf_counter() - p)
        return res

    backend.advance = backend_advance
    f_cpu, f_wall, a_cpu, a_wall = [], [], [], []
    sink = 0.0
    for f in range(args.warmup + args.frames):
        t0, p0 = time.thread_time(), time.perf_counter()
        eyes[...] = values[f]
        t1, p1 = time.thread_time(), time.perf_counter()
        world.advance(1.0 / 60.0)
        t2, p2 = time.thread_time(), time.perf_counter()
        sink += float(legs[0, 0])
        t3, p3 = time.thread_time(), time.perf_counter()
        if f >= args.warmup:
            f_cpu.append(t3 - t0)
            f_wall.append(p3 - p0)
            a_cpu.append(t2 - t1)
            a_wall.append(p2 - p1)
    w = args.warmup

    def ms(x: list[float]) -> float:
        return round(float(np.median(x)) * 1e3, 3)

    row = {
        "brains": args.brains, "threads": args.threads, "frames": args.frames,
        "frame_cpu_ms": ms(f_cpu), "frame_wall_ms": ms(f_wall),
        "world_advance_cpu_ms": ms(a_cpu), "world_advance_wall_ms": ms(a_wall),
        "backend_advance_cpu_ms": ms(b_cpu[w:]), "backend_advance_wall_ms": ms(b_wall[w:]),
        "kernel_cpu_ms": ms(timed_lib.cpu[w:]), "kernel_wall_ms": ms(timed_lib.wall[w:]),
        "load_avg": load_average(), "pid": os.getpid(),
    }
    print(json.dumps(row), flush=True)
    end = time.perf_counter() + args.spin
    f = 0
    while time.perf_counter() < end:
        eyes[...] = values[f % len(values)]
        world.advance(1.0 / 60.0)
        f += 1
    world.close()


if __name__ == "__main__":
    main()
