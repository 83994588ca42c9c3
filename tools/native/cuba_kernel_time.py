"""Main-thread CPU time of the native kernel on CUBA 4k, without the bench's set-up around it
(docs/performance.md, "Profiled and cut", issue 14).

Spawns one CUBA brain of ``--n`` neurons on the native backend with the draw-ahead thread off
(it would draw a next brain beside the timed loop), runs ``step(1)``, then ``--repeats`` x
``step(--steps)`` and prints the thread CPU and wall seconds of each as JSON.

    PYTHONPATH=sdk:. python tools/native/cuba_kernel_time.py            # 5 x step(10000), 4,000 neurons
"""
from __future__ import annotations

import argparse
import json
import time

from spikeforge.bench import cuba_circuit, make_world


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=4000, help="neurons")
    ap.add_argument("--steps", type=int, default=10000, help="steps per timed call (dt 0.1 ms)")
    ap.add_argument("--repeats", type=int, default=5, help="timed calls")
    ap.add_argument("--threads", type=int, default=1, help="native threads")
    args = ap.parse_args()
    world = make_world("native", args.threads, 0.0001, 1)
    world.draw_ahead = False
    world.spawn(cuba_circuit(args.n))
    world.step(1)
    cpu, wall = [], []
    for _ in range(args.repeats):
        t, p = time.thread_time(), time.perf_counter()
        world.step(args.steps)
        cpu.append(round(time.thread_time() - t, 4))
        wall.append(round(time.perf_counter() - p, 4))
    print(json.dumps({"n": args.n, "steps": args.steps, "thread_cpu_s": cpu, "wall_s": wall}))


if __name__ == "__main__":
    main()
