"""Plain vs plastic step of the learning-cost crowd, timed in one process (CPU time, best of reps).

Builds the world of ``spikeforge bench learning --parts cost`` (500 brains of 80 exc + 20 inh
LIF, 1 M synapses, native backend, 1 thread) twice, without and with the rule on every
synapse, then times 50-frame chunks of each alternately and prints the best CPU ms per step
of each and their ratio. Best-of-reps in one process is less sensitive to the load of a
shared machine than one long run; use it for A/B of native builds (run it from each
checkout) and under ``perf record`` to profile.

Usage: ``python tools/native/learning_cost_min.py [rule] [reps]`` (rule: rstdp, stdp,
stdp-delivery; reps default 6).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from spikeforge.bench import make_world
from spikeforge.bench.learning import crowd_circuit


def main() -> int:
    rule = sys.argv[1] if len(sys.argv) > 1 else "rstdp"
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    worlds = {}
    for plastic in (False, True):
        w = make_world("native", 1, 0.001, 1)
        c = crowd_circuit(plastic, 10, rule)
        w.spawn(c, 500)
        g = w.group(c)
        rng = np.random.default_rng(1)
        g.sensor("input")[...] = rng.random(g.sensor("input").shape).astype(np.float32)
        w.step(16)
        worlds[plastic] = (w, rng)
    best = {False: 1e9, True: 1e9}
    for _ in range(reps):
        for plastic in (False, True):
            w, rng = worlds[plastic]
            rewards = rng.normal(0, 0.1, size=(50, 500))
            t = time.process_time()
            for f in range(50):
                w.step(16)
                if plastic:
                    w.reward(rewards[f])
            best[plastic] = min(best[plastic], (time.process_time() - t) / 800 * 1e3)
    print(f"plain {best[False]:.4f} plastic {best[True]:.4f} ratio {best[True] / best[False]:.3f} (CPU ms/step)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
