"""``spikeforge bench pretrain``: imitate a scripted forager offline, deploy it, keep learning online.

1. Records the scripted "steer to food" controller (:mod:`spikeforge.train.foragers`) for
   ``--demo-minutes`` game minutes (32 foragers, its own arena seed).
2. Trains the foragers brain's ``eye->motor``, ``noise->motor`` and ``motor-|motor``
   weights (``spikeforge.train.foragers.TRAINABLE``) on the demonstrations with
   surrogate-gradient BPTT (:class:`spikeforge.train.CircuitMirror`), then runs ``--dagger``
   DAgger rounds (1 game minute of the deployed brain, labelled by the controller, added to
   the data, ``--round-iterations`` more), timing wall and CPU time of all of it with
   ``--threads`` torch threads.
3. Checks the deployed brain reproduces the mirror's spikes in the runtime (numpy and the
   ``--backend``) on held-out demonstration sequences.
4. Plays ``--minutes`` game minutes on each of ``--seeds`` seeds for: the scripted
   controller, the pretrained brain with reward-STDP on as one learner for all foragers
   (``pretrained+shared``: ``World.share_learning``, each forager's change averaged over the
   foragers after every frame, the brains stay identical), with reward-STDP on per brain
   (``pretrained+learn``: each forager learns on its own) and off (``pretrained+frozen``), the
   untrained brain learning from scratch shared (``learn+shared``) and per brain (``learn``,
   the game's default brain, tuned for that) and random steering; food per forager per
   minute in 1-minute bins.

The pretrained brain is ``spikeforge.train.foragers.imitation_config()`` (48 eye neurons driven
by a deterministic current code, ``--eye-code current --eye-gain 100``, no exploration noise),
trained by imitation then ``--dagger`` (default 4) DAgger rounds; ``--eye-neurons``,
``--eye-code``, ``--eye-rate``, ``--eye-gain``, ``--noise-rate``, ``--motor-per-side``,
``--motor-tau-m`` and ``--inhibition`` override it (``--eye-code gaussian --eye-rate 400
--dagger 0`` is the setting of 2026-12-05 morning; ``--eye-code gaussian --eye-neurons 12
--eye-rate 120 --noise-rate 12 --dagger 0`` the game's default brain, the earlier setting).

Goals: training <= 120 s; agreement >= 99 %; the deployed brain (frozen) >= 80 % of the
scripted controller's food rate, and with learning on (``--learning``: ``shared``, the
default, or ``per-brain``) no 1-minute bin below that.

Example
-------
``spikeforge bench pretrain --seeds 3 --minutes 4 --plot pretrain.png``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

GOAL_FRACTION = 0.8
GOAL_TRAIN_S = 120.0
GOAL_AGREEMENT = 0.99
CONDITIONS = ("scripted", "pretrained+shared", "pretrained+learn", "pretrained+frozen", "learn+shared", "learn",
              "random")
LEARNING = ("shared", "per-brain")


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def scripted_curve(cfg: Any, seed: int, minutes: float, bins: int) -> list[float]:
    """Food per forager per minute of the scripted controller in ``bins`` equal bins."""
    from spikeforge.games.foragers import Arena
    from spikeforge.train.foragers import scripted_turn

    A = Arena(cfg, seed)
    n = max(1, round(minutes * 60.0 / cfg.frame_dt))
    per = max(1, n // bins)
    speed = np.full(cfg.foragers, cfg.speed_min + cfg.speed_gain)
    out: list[float] = []
    acc = 0
    for f in range(n):
        ang, _ = A.sense()
        A.move(cfg.turn_max * scripted_turn(ang), speed, cfg.frame_dt)
        acc += int(A.eat().sum())
        if (f + 1) % per == 0 or f + 1 == n:
            span = ((f % per) + 1) * cfg.frame_dt / 60.0
            out.append(acc / cfg.foragers / span)
            acc = 0
    return out


def main(argv: list[str] | None = None) -> int:
    """Run ``spikeforge bench pretrain``: train a forager offline by imitation, deploy it, compare.

    See the module docstring for the setup and what each figure means. Prints a table, or one JSON
    object per measurement with ``--json``.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after ``spikeforge bench pretrain`` (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0; 2 for invalid arguments.
    """
    ap = argparse.ArgumentParser(prog="spikeforge bench pretrain", description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default="native", help="runtime backend of the games (default native)")
    ap.add_argument("--seeds", type=int, default=3, help="game seeds 1..N (default 3)")
    ap.add_argument("--minutes", type=float, default=4.0, help="game minutes per run (default 4)")
    ap.add_argument("--foragers", type=int, default=32)
    ap.add_argument("--demo-minutes", type=float, default=2.0, help="game minutes of demonstrations (default 2)")
    ap.add_argument("--iterations", type=int, default=100, help="training iterations (default 100)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--window", type=int, default=8, help="frames per BPTT window (default 8 = 200 steps)")
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: the ops are small, a second thread costs more than it gains)")
    ap.add_argument("--train", default=None,
                    help="projections to train, comma-separated (default: eye->motor,noise->motor,motor-|motor = "
                         "spikeforge.train.foragers.TRAINABLE; 'eye->motor' alone is the earlier setting)")
    ap.add_argument("--speed-weight", type=float, default=1.0,
                    help="weight of the cruise-rate term of the imitation loss (default 1.0)")
    ap.add_argument("--eye-neurons", type=int, default=None,
                    help="eye neurons of the pretrained brain (default 48, spikeforge.train.foragers.IMITATION_BRAIN)")
    ap.add_argument("--motor-per-side", type=int, default=None,
                    help="motor neurons a side of the pretrained brain (default 8)")
    ap.add_argument("--eye-rate", type=float, default=None,
                    help="eye peak rate (Hz) of the pretrained brain (default 400)")
    ap.add_argument("--noise-rate", type=float, default=None,
                    help="exploration spikes (Hz per noise neuron) of the pretrained brain (default 0)")
    ap.add_argument("--inhibition", type=float, default=None,
                    help="mV of initial mutual inhibition between the motor sides of the pretrained brain "
                         "(default 30; 0 leaves it out)")
    ap.add_argument("--eye-code", choices=("gaussian", "current"), default=None,
                    help="eye encoding of the pretrained brain: gaussian (Poisson spikes, each brain its own random "
                         "stream) or current (deterministic drive, one channel per eye neuron)")
    ap.add_argument("--eye-gain", type=float, default=None,
                    help="mV of drive at an eye neuron's tuning peak (--eye-code current)")
    ap.add_argument("--motor-tau-m", type=float, default=None,
                    help="membrane time constant (ms) of the pretrained brain's motor neurons (default 20)")
    ap.add_argument("--dagger", type=int, default=None,
                    help="DAgger rounds after imitation (default 4, spikeforge.train.foragers.DAGGER_ROUNDS): roll "
                         "the brain out 1 game minute, label the visited states with the scripted controller, "
                         "train --round-iterations more")
    ap.add_argument("--round-iterations", type=int, default=50, help="training iterations per DAgger round")
    ap.add_argument("--learning", choices=LEARNING, default="shared",
                    help="the online learning the goal is checked on: shared (the foragers learn as one learner, "
                         "World.share_learning; default) or per-brain (each forager on its own); both are played")
    ap.add_argument("--online-lr", type=float, default=None,
                    help="reward-STDP lr of the pretrained brain's online learning (default 0.0001, "
                         "spikeforge.train.foragers.ONLINE_LEARNING; the game's is 0.01)")
    ap.add_argument("--reward-shaping", type=float, default=None,
                    help="the game's shaping reward per rad of alignment for the pretrained brain's online learning "
                         "(default 0: food reward only; the game's is 2.0)")
    ap.add_argument("--weights", type=Path, help="also save the trained weights (.npz) here")
    ap.add_argument("--plot", type=Path, help="write the food-rate curves to this PNG")
    ap.add_argument("--json", action="store_true", help="one JSON object per measurement on stdout")
    a = ap.parse_args(argv)
    if not (a.speed_weight >= 0.0 and a.speed_weight < float("inf")):
        print("spikeforge bench pretrain: --speed-weight: must be a finite number >= 0", file=sys.stderr)
        return 2
    try:
        import torch
    except ModuleNotFoundError:
        print("spikeforge bench pretrain: needs PyTorch (pip install 'spikeforge[train]')", file=sys.stderr)
        return 2
    from spikeforge.bench import load_average
    from spikeforge.games.foragers import ForagerConfig, forager_circuit
    from spikeforge.train import run_runtime, save_weights, spike_agreement
    from spikeforge.train.foragers import (
        DAGGER_ROUNDS,
        ONLINE_LEARNING,
        TRAINABLE,
        imitation_config,
        play,
        record_demos,
        train_dagger,
    )

    trainable = tuple(t.strip() for t in (a.train or ','.join(TRAINABLE)).split(",") if t.strip())
    bad = [t for t in trainable if t not in TRAINABLE]
    if not trainable or bad:
        print(f"spikeforge bench pretrain: --train: expected names out of {', '.join(TRAINABLE)}, got {a.train!r}",
              file=sys.stderr)
        return 2
    if a.dagger is not None and a.dagger < 0:
        print("spikeforge bench pretrain: --dagger: must be >= 0", file=sys.stderr)
        return 2
    for name in ("seeds", "foragers", "iterations", "batch", "window", "threads", "round_iterations"):
        if getattr(a, name) < 1:
            print(f"spikeforge bench pretrain: --{name}: must be >= 1", file=sys.stderr)
            return 2

    def emit(row: dict[str, Any], text: str) -> None:
        print(json.dumps(row) if a.json else text, flush=True)

    if a.eye_rate is not None and not (0.0 < a.eye_rate <= 500.0):
        print("spikeforge bench pretrain: --eye-rate: must be in (0, 500] Hz (one spike per 2 ms step)",
              file=sys.stderr)
        return 2
    if a.noise_rate is not None and not (0.0 <= a.noise_rate <= 500.0):
        print("spikeforge bench pretrain: --noise-rate: must be in [0, 500] Hz", file=sys.stderr)
        return 2
    if a.inhibition is not None and not (0.0 <= a.inhibition < float("inf")):
        print("spikeforge bench pretrain: --inhibition: must be a finite number >= 0 (mV)", file=sys.stderr)
        return 2
    overrides = {k: v for k, v in (("eye_neurons", a.eye_neurons), ("eye_rate", a.eye_rate),
                                   ("noise_rate", a.noise_rate), ("motor_per_side", a.motor_per_side),
                                   ("inhibition", a.inhibition), ("eye_code", a.eye_code),
                                   ("eye_gain", a.eye_gain), ("motor_tau_m", a.motor_tau_m))
                 if v is not None}
    try:
        cfg = imitation_config(a.foragers, **overrides)  # the pretrained brain
    except ValueError as exc:
        print(f"spikeforge bench pretrain: --{str(exc).split(':')[0].replace('_', '-')}: {exc}", file=sys.stderr)
        return 2
    base = ForagerConfig(foragers=a.foragers)  # the untrained learner: the game's default brain
    online = {**ONLINE_LEARNING, **{k: v for k, v in (("lr", a.online_lr), ("reward_shaping", a.reward_shaping))
                                    if v is not None}}
    if not (0.0 < online["lr"] < float("inf")) or not (0.0 <= online["reward_shaping"] < float("inf")):
        print("spikeforge bench pretrain: --online-lr must be > 0 and --reward-shaping >= 0 (finite)", file=sys.stderr)
        return 2
    cfg_online = dataclasses.replace(cfg, **online)  # the pretrained brain learning online (same wiring)
    have = {p.name for p in forager_circuit(cfg).projections}
    if a.train is None:  # the default skips what this brain lacks (no mutual inhibition)
        trainable = tuple(t for t in trainable if t in have)
    elif missing := [t for t in trainable if t not in have]:
        print(f"spikeforge bench pretrain: --train: the pretrained brain has no {', '.join(missing)} "
              "(--inhibition 0 leaves out motor-|motor)", file=sys.stderr)
        return 2
    steps = round(cfg.frame_dt / cfg.dt)
    demos = record_demos(cfg, 1000, a.demo_minutes)
    load0 = load_average()
    t0, c0 = time.perf_counter(), _cpu_s()
    rounds = DAGGER_ROUNDS if a.dagger is None else a.dagger
    mirror, res = train_dagger(cfg, demos, rounds=rounds, round_iterations=a.round_iterations,
                               backend=a.backend, iterations=a.iterations, batch=a.batch, window=a.window, lr=a.lr,
                               threads=a.threads, trainable=trainable, speed_weight=a.speed_weight)
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    emit({"bench": "pretrain", "part": "train", "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
          "threads": a.threads, "trainable": list(trainable),
          "brain": {k: getattr(cfg, k)
                    for k in ("eye_neurons", "eye_code", "eye_rate", "eye_gain", "noise_rate", "motor_per_side",
                              "motor_tau_m", "inhibition")},
          "iterations": a.iterations, "dagger_rounds": rounds, "round_iterations": a.round_iterations,
          "batch": a.batch, "window_steps": a.window * steps,
          "loss_first10": round(float(np.mean(res.losses[:10])), 4),
          "loss_last10": round(float(np.mean(res.losses[-10:])), 4), "load_average": [load0, load_average()],
          "goal_s": GOAL_TRAIN_S, "met": wall <= GOAL_TRAIN_S},
         f"train {','.join(trainable)} (eye {cfg.eye_neurons} {cfg.eye_code} "
         f"{f'x {cfg.eye_rate:g} Hz' if cfg.eye_code == 'gaussian' else f'{cfg.eye_gain:g} mV'}, "
         f"{cfg.motor_per_side} motors a side, inhibition {cfg.inhibition:g} mV, noise {cfg.noise_rate:g} Hz): "
         f"({a.iterations} + {rounds} DAgger rounds x {a.round_iterations}) iterations x {a.batch} sequences x "
         f"{a.window * steps} steps in {wall:.1f} s wall "
         f"({cpu:.1f} s CPU, {a.threads} threads, load {load0}); loss {np.mean(res.losses[:10]):.3f} -> "
         f"{np.mean(res.losses[-10:]):.3f}")
    weights = mirror.trained()
    if a.weights:
        save_weights(a.weights, weights)

    # mirror vs runtime on held-out demonstration sequences (other arena seed, other RNG keys)
    held = record_demos(cfg, 2000, 0.25)
    sens = {k: v[:40, :8] for k, v in held.sensors.items()}
    with torch.no_grad():
        out = mirror.run(sens, steps)
    mine = out.spikes.numpy() > 0
    for be in dict.fromkeys(["numpy", a.backend]):
        raster, _, _ = run_runtime(mirror, sens, steps, backend=be)
        ag = spike_agreement(mine, raster)
        emit({"bench": "pretrain", "part": "agreement", "backend": be, **ag, "goal": GOAL_AGREEMENT,
              "met": ag["identical"] >= GOAL_AGREEMENT},
             f"agreement mirror vs {be}: {ag['identical'] * 100:.2f} % of {ag['spikes_a']} spikes identical "
             f"(only mirror {ag['only_a']}, only runtime {ag['only_b']})")

    bins = max(1, round(a.minutes))
    results: dict[str, list[dict[str, Any]]] = {c: [] for c in CONDITIONS}
    for seed in range(1, a.seeds + 1):
        runs: list[tuple[str, dict[str, Any]]] = []
        sc = scripted_curve(cfg, seed, a.minutes, bins)
        runs.append(("scripted", {"curve_food": sc, "food_per_min": float(np.mean(sc)), "wall_s": 0.0}))
        runs.append(("pretrained+shared", play(cfg_online, seed, "learn", a.minutes, weights, a.backend, bins,
                                               shared=True)))
        runs.append(("pretrained+learn", play(cfg_online, seed, "learn", a.minutes, weights, a.backend, bins)))
        runs.append(("pretrained+frozen", play(cfg, seed, "frozen", a.minutes, weights, a.backend, bins)))
        runs.append(("learn+shared", play(base, seed, "learn", a.minutes, None, a.backend, bins, shared=True)))
        runs.append(("learn", play(base, seed, "learn", a.minutes, None, a.backend, bins)))
        runs.append(("random", play(base, seed, "random", a.minutes, None, a.backend, bins)))
        for cond, r in runs:
            results[cond].append(r)
            emit({"bench": "pretrain", "part": "game", "condition": cond, "seed": seed, "minutes": a.minutes,
                  "foragers": a.foragers, "food_per_forager_min": round(r["food_per_min"], 3),
                  "per_minute": [round(x, 2) for x in r["curve_food"]], "wall_s": round(r["wall_s"], 2)},
                 f"  seed {seed} {cond:>17}: {r['food_per_min']:6.2f} food/forager/min; per minute "
                 + " ".join(f"{x:5.1f}" for x in r["curve_food"]))
    ok = True
    learn_cond = "pretrained+shared" if a.learning == "shared" else "pretrained+learn"
    for seed_i in range(a.seeds):
        ref = results["scripted"][seed_i]["food_per_min"]
        frozen = results["pretrained+frozen"][seed_i]["food_per_min"]
        low = min(results[learn_cond][seed_i]["curve_food"])
        other_cond = "pretrained+learn" if a.learning == "shared" else "pretrained+shared"
        other = min(results[other_cond][seed_i]["curve_food"])
        met = frozen >= GOAL_FRACTION * ref and low >= GOAL_FRACTION * ref
        sc_curve = results["scripted"][seed_i]["curve_food"]  # the scripted controller's own minutes
        same = [x / y for x, y in zip(results[learn_cond][seed_i]["curve_food"], sc_curve, strict=True)]
        frozen_low = min(results["pretrained+frozen"][seed_i]["curve_food"])
        ok = ok and met
        emit({"bench": "pretrain", "part": "goal", "seed": seed_i + 1, "scripted": round(ref, 3),
              "frozen_fraction": round(frozen / ref, 3), "learning": a.learning,
              "learn_min_minute_fraction": round(low / ref, 3),
              "other_learning_min_minute_fraction": round(other / ref, 3),
              "frozen_min_minute_fraction": round(frozen_low / ref, 3),
              "learn_fraction_of_scripted_same_minute": [round(x, 3) for x in same], "online": online,
              "goal": GOAL_FRACTION, "met": met},
             f"seed {seed_i + 1}: deployed (frozen) {frozen / ref * 100:.0f} % of scripted; with {a.learning} "
             f"learning the worst minute {low / ref * 100:.0f} % (goal >= {GOAL_FRACTION * 100:.0f} %): "
             + ("met" if met else "NOT met")
             + f"; {'per-brain' if a.learning == 'shared' else 'shared'} learning's worst minute "
               f"{other / ref * 100:.0f} %; frozen's worst minute {frozen_low / ref * 100:.0f} %; {a.learning} "
               f"learning per minute against the scripted controller's same minute "
               + " ".join(f"{x * 100:.0f}" for x in same) + " %")
    summary = {c: round(statistics.mean(r["food_per_min"] for r in rs), 3) for c, rs in results.items()}
    emit({"bench": "pretrain", "part": "summary", "mean_food_per_forager_min": summary, "goals_met": ok},
         "mean food/forager/min: " + ", ".join(f"{c} {v:.2f}" for c, v in summary.items()))
    if a.plot:
        plot(results, a.minutes, a.plot)
    return 0


def plot(results: dict[str, list[dict[str, Any]]], minutes: float, path: Path) -> None:
    """Mean food rate per minute (with the min/max over seeds) per condition, one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for cond, rs in results.items():
        curves = np.array([r["curve_food"] for r in rs], dtype=float)
        x = np.arange(1, curves.shape[1] + 1) * (minutes / curves.shape[1])
        ax.plot(x, curves.mean(axis=0), marker="o", label=cond)
        ax.fill_between(x, curves.min(axis=0), curves.max(axis=0), alpha=0.15)
    ref = np.mean([r["food_per_min"] for r in results["scripted"]])
    ax.axhline(GOAL_FRACTION * ref, color="gray", ls="--", lw=1, label="80 % of scripted")
    ax.set_xlabel("game time (min)")
    ax.set_ylabel("food per forager per minute")
    ax.set_title(f"foragers: imitation pretraining, then R-STDP online ({len(results['scripted'])} seeds)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
