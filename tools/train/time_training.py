"""Time the worked example's training alone (imitation + DAgger, what ``spikeforge bench pretrain``'s
train part runs), with the load average before and after (docs/performance.md, "Training offline").

    PYTHONPATH=sdk:. python tools/train/time_training.py --threads 1
"""
from __future__ import annotations

import argparse
import os
import resource
import time

from spikeforge.train.foragers import DAGGER_ROUNDS, imitation_config, record_demos, train_dagger


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dagger", type=int, default=DAGGER_ROUNDS)
    a = ap.parse_args()
    cfg = imitation_config()
    demos = record_demos(cfg, 1000, 2.0)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    _, res = train_dagger(cfg, demos, rounds=a.dagger, threads=a.threads, backend="native")
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter() - t0
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(f"threads {a.threads}, DAgger rounds {a.dagger}: {wall:.1f} s wall, {cpu:.1f} s CPU; loss "
          f"{res.losses[0]:.3f} -> {res.losses[-1]:.3f}; load average before {load0[0]:.2f}, after "
          f"{os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
