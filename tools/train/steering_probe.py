"""How noisy is a pretrained forager brain's steering? (the probes of docs/performance.md,
"Per-frame steering noise, the lever", issue 19)

Trains the imitation brain once (``spikeforge.train.foragers.train_imitation``) for the given
``ForagerConfig`` fields, deploys it frozen into ``ForagerGame`` and plays 1 game minute per
seed, comparing each forager's turn fraction with the scripted controller's turn for the same
food angle. Prints, per seed: food per forager (and % of the scripted controller's), the RMS
turn error, the turn spread ``sd`` within 40 angle bins (the per-frame noise), the signed bias
by |angle| bin and the mean motor rate (Hz).

    PYTHONPATH=sdk:. python tools/train/steering_probe.py '{"eye_neurons": 48, "eye_rate": 400.0, "noise_rate": 0.0}'

The JSON holds ``ForagerConfig`` fields, plus ``iterations`` (default 100),
``speed_weight`` (default 1.0), ``dagger`` (DAgger rounds, default 0) and ``round_iterations``
(default 50) for the training (``spikeforge.train.foragers.train_dagger``).
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from spikeforge.games.foragers import ForagerConfig, ForagerGame
from spikeforge.train.deploy import apply_weights, load_weights, save_weights
from spikeforge.train.foragers import record_demos, scripted_food_rate, scripted_turn, train_dagger


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config", nargs="?", default="{}", help="JSON of ForagerConfig fields (+ iterations, speed_weight)")
    ap.add_argument("--seeds", default="1,2", help="game seeds, comma-separated")
    ap.add_argument("--mode", choices=("frozen", "learn", "shared"), default="frozen",
                    help="play the deployed brain frozen, with reward-STDP on per brain (learn) or with shared "
                         "learning (shared: World.share_learning over the foragers) (default frozen)")
    ap.add_argument("--save", help="save the trained weights (.npz) here")
    ap.add_argument("--load", help="play these weights (.npz, spikeforge.train.save_weights) instead of training; "
                                   "the JSON's brain knobs must give the same circuit")
    ap.add_argument("--frames", type=int, default=1200, help="frames per seed (1200 = 1 game minute at 50 ms frames)")
    args = ap.parse_args()
    kw = json.loads(args.config)
    iterations = int(kw.pop("iterations", 100))
    speed_weight = float(kw.pop("speed_weight", 1.0))
    rounds = int(kw.pop("dagger", 0))
    round_iterations = int(kw.pop("round_iterations", 50))
    cfg = ForagerConfig(**kw)
    if args.load:
        weights = load_weights(args.load)
        print(json.dumps(kw), f"weights {args.load}")
    else:
        demos = record_demos(cfg, 1000, 2.0)
        t0, c0 = time.perf_counter(), time.process_time()
        mirror, res = train_dagger(cfg, demos, rounds=rounds, round_iterations=round_iterations, threads=1,
                                   iterations=iterations, speed_weight=speed_weight)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        weights = mirror.trained()
        if args.save:
            save_weights(args.save, weights)
        print(json.dumps(kw), f"iterations={iterations} speed_weight={speed_weight} dagger={rounds}x{round_iterations}",
              f"train {wall:.1f} s wall {cpu:.1f} s CPU",
              f"loss {np.mean(res.losses[:10]):.3f} -> {np.mean(res.losses[-10:]):.3f} load {os.getloadavg()[0]:.1f}")
    for seed in (int(s) for s in args.seeds.split(",")):
        shared = args.mode == "shared"
        game = ForagerGame(cfg, seed=seed, mode="learn" if shared else args.mode, backend="native", shared=shared)
        apply_weights(game.brains, weights)
        if game.learning_group is not None:
            game.learning_group.sync()
        w0 = game.brains[0].weights("eye->motor").w.copy()
        angles, turns, rates = [], [], []
        eaten_t = np.zeros(args.frames)
        items = 0  # distinct items eaten (an item respawns when eaten, however many foragers ate it)
        for f in range(args.frames):
            angle, _ = game.arena.sense()
            food0 = game.arena.food.copy()
            eaten_t[f] = game.frame().sum()
            items += int(np.any(game.arena.food != food0, axis=1).sum())
            angles.append(angle)
            turns.append(game.last_turn / cfg.turn_max)
            rates.append(float(game.motor.astype(float).mean()))
        w = game.brains[0].weights("eye->motor").w
        ws = np.stack([b.weights("eye->motor").w for b in game.brains])
        spread = float((ws.max(axis=0) - ws.min(axis=0)).max())  # 0: the brains are identical
        moved = float(np.sqrt(np.mean((w - w0) ** 2)))  # RMS change of forager 0's eye->motor weights
        ang, turn = np.concatenate(angles), np.concatenate(turns)
        resid = turn - scripted_turn(ang)
        fine = np.digitize(ang, np.linspace(-np.pi, np.pi, 41))
        sd = np.sqrt(np.mean([np.var(resid[fine == b]) for b in np.unique(fine) if (fine == b).sum() > 20]))
        coarse = np.digitize(np.abs(ang), [np.pi / 8, np.pi / 4, np.pi / 2])
        bias = [round(float(np.mean(resid[coarse == b] * np.sign(ang[coarse == b]))), 2) for b in range(4)]
        minutes = args.frames * cfg.frame_dt / 60.0
        food = eaten_t.sum() / cfg.foragers / minutes  # per forager per game minute
        ref = scripted_food_rate(cfg, seed, minutes)
        fpm = round(60.0 / cfg.frame_dt)  # frames per game minute
        per = eaten_t[:args.frames // fpm * fpm].reshape(-1, fpm).sum(axis=1) / cfg.foragers
        print(f"seed {seed} ({args.mode}): food {food:.1f} = {food / ref * 100:.0f} % of scripted; per minute "
              f"{' '.join(f'{x:.1f}' for x in per)}; RMS turn error "
              f"{np.sqrt(np.mean(resid ** 2)):.3f}; turn sd within bins {sd:.3f}; bias by |angle| bin {bias}; "
              f"mean motor rate {np.mean(rates):.1f} Hz; distinct items {items / cfg.foragers / minutes:.1f} "
              f"per forager-minute; eye->motor mean {np.mean(w):.2f} mV at the end (RMS change {moved:.3f} mV, "
              f"largest difference between foragers {spread:.3g} mV)", flush=True)


if __name__ == "__main__":
    main()
