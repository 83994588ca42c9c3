"""One world of the learning-cost crowd (plain or plastic), timed alone: for ``perf record``.

Builds the world of ``spikeforge bench learning --parts cost`` (500 brains of 80 exc + 20 inh
LIF, native backend, 1 thread) with or without the rule on every synapse, runs 16 steps, then
6 repetitions of 50 frames of 16 steps (with a reward per brain each frame when plastic) and
prints the best CPU ms per step. Profiling the plain and the plastic world in two runs shows what
learning adds per function (``perf report --no-children --sort symbol -n`` of each).

Usage: ``perf record -o OUT python tools/native/learning_world_time.py RULE PLASTIC`` (RULE:
rstdp, stdp, stdp-delivery; PLASTIC: 0 or 1), with ``PYTHONPATH=sdk``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from spikeforge.bench import make_world
from spikeforge.bench.learning import crowd_circuit


def main() -> int:
    rule, plastic = sys.argv[1], sys.argv[2] == "1"
    w = make_world("native", 1, 0.001, 1)
    c = crowd_circuit(plastic, 10, rule)
    w.spawn(c, 500)
    g = w.group(c)
    rng = np.random.default_rng(1)
    g.sensor("input")[...] = rng.random(g.sensor("input").shape).astype(np.float32)
    w.step(16)
    best = 1e9
    for _ in range(6):
        t = time.process_time()
        for _ in range(50):
            w.step(16)
            if plastic:
                w.reward(rng.normal(0, 0.1, size=500))
        best = min(best, (time.process_time() - t) / 800 * 1e3)
    print(rule, plastic, f"{best:.4f} ms/step")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
