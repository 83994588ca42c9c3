"""Is crowd 1,000's bimodal GPU timing (0.5 or ~1.3 ms per frame, docs/performance.md) fixed per
process, or does one process flip between the two?

Builds ``spikeforge bench crowd``'s world once on the GPU and times ``--windows`` windows of
``--frames`` frames each (the bench's loop: sensor write, ``world.advance(1/60)``, an actuator read),
printing one JSON object with each window's median ms per frame. Run it in several processes
(``tools/gpu/device_run.sh crowdmodes``): windows that agree within a process and differ across
processes point at something decided when the world is built (buffer placement); windows that
flip within a process point at the run time (the driver's submission path, the host). With
``--pace HZ`` each frame starts on a fixed HZ clock, as in a game (the GPU idles between frames;
only each frame's own work is timed): which of the two timings a game at 60 Hz gets.

    PYTHONPATH=sdk:. python tools/gpu/crowd_modes.py --windows 6 --frames 100
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from pacing import FrameClock

from spikeforge.bench import make_world
from spikeforge.bench.crowd import npc_circuit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brains", type=int, default=1000)
    ap.add_argument("--windows", type=int, default=6)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--pause", type=float, default=0.0, help="seconds of sleep between windows")
    ap.add_argument("--pace", type=float, default=0.0, help="start frames on a clock of this many Hz (0: back to back)")
    args = ap.parse_args()
    world = make_world("gpu", 1, 0.001, None)
    world.spawn(npc_circuit(), count=args.brains)
    group = world.group("npc256")
    eyes, legs = group.sensor("eyes"), group.actuator("legs")
    rng = np.random.default_rng(1)
    sink = 0.0

    def window(n: int) -> list[float]:
        nonlocal sink
        out = []
        clock = FrameClock(args.pace)
        for _ in range(n):
            clock.wait()
            t0 = time.perf_counter()
            eyes[...] = rng.random(eyes.shape, dtype=np.float32)
            world.advance(1.0 / 60)
            sink += float(legs[0, 0])
            out.append((time.perf_counter() - t0) * 1e3)
        return out

    window(args.warmup)
    med = []
    for _ in range(args.windows):
        med.append(round(float(np.median(window(args.frames))), 3))
        if args.pause:
            time.sleep(args.pause)
    print(json.dumps({"pid": os.getpid(), "backend": world.backend.name, "brains": args.brains,
                      "frames_per_window": args.frames, "window_median_ms": med, "pause_s": args.pause,
                      "pace_hz": args.pace}))


if __name__ == "__main__":
    main()
