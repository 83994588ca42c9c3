"""Per game minute of shared online learning (issue 19): food, the motors' mean rate, and how
far the shared ``eye->motor`` weights moved (RMS from the deployed weights, mean), to see when
the learner drifts (``--mode learn``: forager 0 of per-brain learning).

    PYTHONPATH=sdk:. python tools/train/shared_minutes.py W.npz --seeds 1,4
"""
from __future__ import annotations

import argparse
import os

import numpy as np

from spikeforge.games.foragers import ForagerGame
from spikeforge.train.deploy import apply_weights, load_weights
from spikeforge.train.foragers import ONLINE_LEARNING, imitation_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("weights", help="trained weights (.npz, steering_probe.py --save / bench --weights)")
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--minutes", type=int, default=4)
    ap.add_argument("--mode", choices=("shared", "learn"), default="shared")
    a = ap.parse_args()
    weights = load_weights(a.weights)
    cfg = imitation_config(**ONLINE_LEARNING)
    fpm = round(60.0 / cfg.frame_dt)
    for seed in (int(s) for s in a.seeds.split(",")):
        game = ForagerGame(cfg, seed=seed, mode="learn", backend="native", shared=a.mode == "shared")
        apply_weights(game.brains, weights)
        if game.learning_group is not None:
            game.learning_group.sync()
        w0 = game.brains[0].weights("eye->motor").w.copy()
        rows = []
        for _ in range(a.minutes):
            food, rate = 0, 0.0
            for _ in range(fpm):
                food += int(game.frame().sum())
                rate += float(game.motor.astype(float).mean())
            w = game.brains[0].weights("eye->motor").w
            dw = w - w0
            rows.append(f"{food / cfg.foragers:.1f} food, {rate / fpm:.1f} Hz, dw RMS {np.sqrt(np.mean(dw ** 2)):.3f} "
                        f"mean {np.mean(dw):+.3f} mV")
        print(f"seed {seed} ({a.mode}): " + " | ".join(rows)
              + f"; load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
