"""What shared learning costs per frame in the foragers game (issue 19): the time of one
``LearningGroup.sync`` (the combine of ``World.share_learning``) against the frame's
``World.advance`` on the same world, alternating, median of ``--frames`` frames.

    PYTHONPATH=sdk:. python tools/train/share_cost.py --foragers 32 --frames 400
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from spikeforge.games.foragers import ForagerGame, eye_input
from spikeforge.train.foragers import imitation_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--foragers", type=int, default=32)
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--backend", default="native")
    a = ap.parse_args()
    cfg = imitation_config(a.foragers)
    game = ForagerGame(cfg, seed=1, mode="learn", backend=a.backend, shared=True)
    group = game.learning_group
    assert group is not None
    world = game.world
    group_syncs = world._learning_groups
    world._learning_groups = []  # time the advance alone, then the combine alone
    adv, syn = [], []
    for _ in range(a.frames):
        ang, close = game.arena.sense()
        game.eye[...] = eye_input(cfg, ang)
        game.nose[:, 0] = close
        world.reward(np.random.default_rng(len(adv)).normal(0, 1, a.foragers))
        t0 = time.perf_counter()
        world.advance(cfg.frame_dt)
        t1 = time.perf_counter()
        group.sync()
        t2 = time.perf_counter()
        adv.append(t1 - t0)
        syn.append(t2 - t1)
    world._learning_groups = group_syncs
    print(f"{a.foragers} foragers, {group.synapses} shared synapses each, backend {a.backend}: advance (25 steps) "
          f"median {np.median(adv) * 1e3:.3f} ms, sync median {np.median(syn) * 1e3:.3f} ms "
          f"({np.median(syn) / np.median(adv) * 100:.0f} % of the advance), {group.syncs} of {a.frames} syncs changed "
          f"weights; load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
