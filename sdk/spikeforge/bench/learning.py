"""``spikeforge bench learning``: does online learning work, what does it cost, is it stable?

Four parts (``--parts``, default all):

``foragers``
    The foragers game (:mod:`spikeforge.games.foragers`) over ``--seeds`` seeds: food per
    forager per minute over the last quarter of ``--minutes`` game minutes for (a)
    learning on, (b) the same initial brains frozen (``world.learning(False)``), (c)
    random motor actions. Goal: (a) >= 2 x (b) in every seed.
``poison``
    The poison game (:mod:`spikeforge.games.poison`): food and a look-alike hazard that only
    a second sense (smell) tells apart. Score: **net food** (food - poison eaten) per forager
    per minute over the last quarter of ``--poison-minutes``, for learning, frozen, random and
    ``blind`` (learning with the smell held at "fresh": can learn to steer, not to
    discriminate). Goals: learning >= 2 x frozen in every seed, and learning > blind in every
    seed (the discrimination is learned, not just the steering).
``cost``
    Step time of a crowd-like world (``--crowd-brains`` brains of 80 excitatory + 20
    inhibitory LIF neurons, fixed in-degree 20, Poisson input, ~10-20 Hz) with
    reward-STDP (``--rule``: or pair STDP depressing at emission or at delivery) on *every*
    chemical synapse and a random reward per brain every frame, against the same world
    without plasticity. Goal: ratio <= 2.
``soak``
    ``--soak-steps`` steps of a tiny network carrying every rule (additive and
    soft-bound STDP, reward-STDP, modulated Hebbian, homeostasis) under strong Poisson
    input and large random rewards (both signs) every 10 steps; checks for NaN and for
    weights outside their bounds after every chunk. Goal: none.

Example
-------
``spikeforge bench learning --backend native --seeds 5 --minutes 4``;
``spikeforge bench learning --parts poison --seeds 3 --poison-minutes 3``
(``--json``: one JSON object per measurement on stdout).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from typing import Any

import numpy as np

from spikeforge.bench import common_args, emit, load_average, make_world, threads_used, timed
from spikeforge.games.foragers import MODES, ForagerConfig, ForagerGame
from spikeforge.games.poison import POISON_MODES, PoisonConfig, run_poison
from spikeforge.model import LIF, Circuit, FixedInDegree
from spikeforge.model.plasticity import STDP, Homeostasis, ModulatedHebbian, RewardSTDP

GOAL_TRAINED_VS_FROZEN = 2.0
GOAL_COST_RATIO = 2.0


def run_foragers(seeds: list[int], minutes: float, foragers: int, backend: str,
                 progress: bool) -> list[dict[str, Any]]:
    """One row per (seed, mode) and a summary row per mode."""
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        for mode in MODES:
            game = ForagerGame(ForagerConfig(foragers=foragers), seed=seed, mode=mode, backend=backend)
            res = game.run(minutes)
            rows.append({"bench": "learning", "part": "foragers", "mode": mode, "seed": seed,
                         "backend": game.world.backend.name, "foragers": foragers, "minutes": minutes,
                         "food_per_forager_min": round(res.food_per_min, 3),
                         "curve": [round(x, 2) for x in res.curve_food], "wall_s": round(res.wall_s, 2)})
            if progress:
                print(f"  seed {seed} {mode:>6}: {res.food_per_min:6.2f} food/forager/min "
                      f"({res.wall_s:.1f} s)", file=sys.stderr, flush=True)
    by = {m: [r["food_per_forager_min"] for r in rows if r["mode"] == m] for m in MODES}
    ratios = [a / b if b > 0 else math.inf for a, b in zip(by["learn"], by["frozen"], strict=True)]
    for m in MODES:
        v = by[m]
        rows.append({"bench": "learning", "part": "foragers-summary", "mode": m, "seeds": len(v),
                     "mean": round(statistics.fmean(v), 3), "std": round(statistics.pstdev(v), 3),
                     "min": round(min(v), 3), "max": round(max(v), 3)})
    rows.append({"bench": "learning", "part": "foragers-goal", "ratio_learn_vs_frozen": [round(r, 2) for r in ratios],
                 "min_ratio": round(min(ratios), 3), "goal": GOAL_TRAINED_VS_FROZEN,
                 "met": bool(min(ratios) >= GOAL_TRAINED_VS_FROZEN)})
    return rows


def run_poison_part(seeds: list[int], minutes: float, foragers: int, backend: str,
                    progress: bool) -> list[dict[str, Any]]:
    """The poison game: one row per (seed, mode), a summary per mode and the goal row."""
    rows: list[dict[str, Any]] = []
    cfg = PoisonConfig(foragers=foragers)
    for seed in seeds:
        for mode in POISON_MODES:
            res = run_poison(cfg, seed, mode, minutes, backend)
            rows.append({"bench": "learning", "part": "poison", "mode": mode, "seed": seed, "foragers": foragers,
                         "food_items": cfg.food, "poison_items": cfg.poison, "minutes": minutes,
                         "net_per_forager_min": round(res.net_per_min, 3),
                         "food_per_forager_min": round(res.food_per_min, 3),
                         "poison_per_forager_min": round(res.poison_per_min, 3),
                         "curve_net": [round(x, 2) for x in res.curve_net], "wall_s": round(res.wall_s, 2)})
            if progress:
                print(f"  poison seed {seed} {mode:>6}: net {res.net_per_min:6.2f} = food {res.food_per_min:6.2f} "
                      f"- poison {res.poison_per_min:5.2f} ({res.wall_s:.1f} s)", file=sys.stderr, flush=True)
    by = {m: [r["net_per_forager_min"] for r in rows if r["mode"] == m] for m in POISON_MODES}
    for m in POISON_MODES:
        v = by[m]
        share = [r["poison_per_forager_min"] / max(r["food_per_forager_min"] + r["poison_per_forager_min"], 1e-9)
                 for r in rows if r["mode"] == m]
        rows.append({"bench": "learning", "part": "poison-summary", "mode": m, "seeds": len(v),
                     "mean": round(statistics.fmean(v), 3), "std": round(statistics.pstdev(v), 3),
                     "min": round(min(v), 3), "max": round(max(v), 3),
                     "poison_share_of_eaten": round(statistics.fmean(share), 3)})
    vs_frozen = [a / b if b > 0 else math.inf for a, b in zip(by["learn"], by["frozen"], strict=True)]
    vs_blind = [a / b if b > 0 else math.inf for a, b in zip(by["learn"], by["blind"], strict=True)]
    rows.append({"bench": "learning", "part": "poison-goal", "score": "net food = food - poison",
                 "ratio_learn_vs_frozen": [round(r, 2) for r in vs_frozen], "min_ratio": round(min(vs_frozen), 3),
                 "goal": GOAL_TRAINED_VS_FROZEN, "ratio_learn_vs_blind": [round(r, 2) for r in vs_blind],
                 "met": bool(min(vs_frozen) >= GOAL_TRAINED_VS_FROZEN and min(vs_blind) > 1.0)})
    return rows


COST_RULES = ("rstdp", "stdp", "stdp-delivery")
"""Rules the cost part can put on every synapse: reward-STDP, pair STDP depressing at the pre
spike's emission (the default), and pair STDP depressing at its delivery (``depress_at``)."""


def crowd_circuit(plastic: bool, update_every: int = 10, rule: str = "rstdp") -> Circuit:
    """A crowd-like NPC brain: 80 exc + 20 inh LIF, in-degree 20 (16 exc + 4 inh), Poisson input.

    Parameters
    ----------
    plastic : bool
        Put the learning rule ``rule`` on every chemical synapse.
    update_every : int
        Reward-STDP weight update period (steps).
    rule : {"rstdp", "stdp", "stdp-delivery"}
        See :data:`COST_RULES`.
    """
    if rule not in COST_RULES:
        raise ValueError(f"rule: must be one of {', '.join(COST_RULES)}, got {rule!r}")
    model = LIF(tau_m=20.0, tau_e=5.0, tau_i=10.0, v_rest=-60.0, v_reset=-60.0, v_thresh=-50.0, t_ref=2.0)
    c = Circuit("crowd_plastic" if plastic else "crowd")
    c.add_population("exc", 80, model, v_init=(-60.0, -50.0))
    c.add_population("inh", 20, model, v_init=(-60.0, -50.0))
    c.add_sensor("input", "exc", channels=8, kind="poisson", max_rate=40.0)
    for pre, k, w, lo, hi in (("exc", 16, 2.0, 0.0, 6.0), ("inh", 4, -6.0, -12.0, 0.0)):
        for post in ("exc", "inh"):
            learn: RewardSTDP | STDP | None = None
            if plastic and rule == "rstdp":
                learn = RewardSTDP(w_min=lo, w_max=hi, lr=0.001, tau_c=1000.0, tau_dopamine=200.0,
                                   update_every=update_every)
            elif plastic:
                learn = STDP(w_min=lo, w_max=hi, a_plus=0.01, a_minus=0.012,
                             depress_at="delivery" if rule == "stdp-delivery" else "emission")
            c.connect(pre, post, FixedInDegree(k), weight=w, name=f"{pre}->{post}", plasticity=learn)
    return c


def run_cost(brains: int, frames: int, backend: str, seed: int, threads: int | None,
             update_every: int = 10, rule: str = "rstdp") -> list[dict[str, Any]]:
    """Step time with and without the learning rule ``rule`` (see :data:`COST_RULES`) on every
    synapse (same network, same inputs, a random reward per brain every frame)."""
    rows: list[dict[str, Any]] = []
    per_step: dict[bool, float] = {}
    cpu_step: dict[bool, float] = {}
    for plastic in (False, True):
        world = make_world(backend, seed, 0.001, threads)
        circuit = crowd_circuit(plastic, update_every, rule)
        world.spawn(circuit, brains)
        g = world.group(circuit)
        rng = np.random.default_rng(seed)
        g.sensor("input")[...] = rng.random(g.sensor("input").shape).astype(np.float32)
        rewards = rng.normal(0.0, 0.1, size=(frames, brains))
        world.step(16)  # warm-up (thread start, page faults)
        steps = 0
        with timed() as t:
            for f in range(frames):
                world.step(16)
                steps += 16
                if plastic:
                    world.reward(rewards[f])
        L = world.layout
        ms = t.wall / steps * 1e3
        per_step[plastic] = ms
        cpu_step[plastic] = t.cpu / steps * 1e3
        rows.append({"bench": "learning", "part": "cost", "plastic": plastic, "backend": world.backend.name,
                     "rule": rule if plastic else None, "update_every": update_every if plastic else None,
                     "threads": threads_used(world), "brains": brains, "neurons": L.n_neurons,
                     "synapses": L.n_synapses, "steps": steps, "ms_per_step": round(ms, 4),
                     "cpu_ms_per_step": round(t.cpu / steps * 1e3, 4),
                     "rate_hz": round(world.total_spikes / (L.n_neurons * world.time), 2),
                     "load_avg": load_average()})
    ratio = per_step[True] / per_step[False]
    rows.append({"bench": "learning", "part": "cost-goal", "rule": rule, "update_every": update_every,
                 "ratio": round(ratio, 3), "cpu_ratio": round(cpu_step[True] / cpu_step[False], 3),
                 "goal": GOAL_COST_RATIO,
                 "met": bool(ratio <= GOAL_COST_RATIO)})
    return rows


def soak_circuit() -> Circuit:
    """A tiny network carrying every rule, driven hard."""
    c = Circuit("soak")
    c.add_population("a", 12, LIF(), v_init=(-65.0, -50.0))
    c.add_population("b", 10, LIF())
    c.add_population("d", 6, LIF())
    c.add_population("r", 2, LIF())
    c.add_sensor("in_a", "a", channels=1, kind="poisson", max_rate=300.0)
    c.add_sensor("in_b", "b", channels=1, kind="poisson", max_rate=100.0)
    c.add_sensor("in_r", "r", channels=1, kind="poisson", max_rate=50.0)
    c.connect("a", "b", weight=3.0, name="rstdp",
              plasticity=RewardSTDP(w_min=0.0, w_max=10.0, lr=0.05, tau_c=500.0, tau_dopamine=100.0,
                                    homeostasis=Homeostasis(target_rate=20.0, eta=0.5)))
    c.connect("b", "a", weight=-1.0, name="rstdp_inh",
              plasticity=RewardSTDP(w_min=-5.0, w_max=0.0, lr=0.05, tau_c=500.0, tau_dopamine=100.0,
                                    soft_bound=True))
    c.connect("a", "d", weight=2.0, name="stdp_add", plasticity=STDP(a_plus=0.5, a_minus=0.6, w_max=8.0))
    c.connect("b", "d", weight=2.0, name="stdp_soft",
              plasticity=STDP(a_plus=0.5, a_minus=0.6, tau_minus=20.0, w_max=8.0, soft_bound=True))
    c.connect("d", "d", weight=1.0, name="hebb", plasticity=ModulatedHebbian(lr=0.5, w_min=-1.0, w_max=4.0))
    c.connect("r", "d", weight=2.0, kind="modulatory", name="da")
    return c


def run_soak(steps: int, backend: str, seed: int, threads: int | None) -> list[dict[str, Any]]:
    """``steps`` steps with random rewards; NaN and bound checks after every 1000-step chunk."""
    world = make_world(backend, seed, 0.001, threads)
    circuit = soak_circuit()
    world.spawn(circuit, 4)
    g = world.group(circuit)
    g.sensor("in_a")[...] = 1.0
    g.sensor("in_b")[...] = 1.0
    g.sensor("in_r")[...] = 1.0
    lo = np.zeros(world.layout.n_synapses, np.float32)
    hi = np.zeros(world.layout.n_synapses, np.float32)
    bounded = np.zeros(world.layout.n_synapses, bool)
    for b in world.brains:
        for pr in circuit.projections:
            if pr.plasticity is not None:
                v = b.weights(pr.name)
                lo[v.index], hi[v.index], bounded[v.index] = pr.plasticity.w_min, pr.plasticity.w_max, True
    rng = np.random.default_rng(seed)
    chunk, sub = 1000, 10
    done = 0
    nan = False
    outside = 0
    w_seen = [math.inf, -math.inf]
    with timed() as t:
        while done < steps:
            n = min(chunk, steps - done)
            k = 0
            while k < n:
                m = min(sub, n - k)
                world.step(m)
                world.reward(rng.standard_cauchy(world.layout.n_brains).clip(-1e3, 1e3))
                k += m
            done += n
            world.backend.pull_state()
            L = world.layout
            w = L.synapse["w"]
            arrays = [w, L.synapse.get("elig", w), L.dopamine, L.dopamine_sum,
                      *(L.neuron[x] for x in ("v", "theta", "xpre", "xpost", "msum") if x in L.neuron)]
            if not all(bool(np.all(np.isfinite(a))) for a in arrays):
                nan = True
                break
            outside = int(np.count_nonzero(bounded & ((w < lo) | (w > hi))))
            if outside:
                break
            w_seen = [min(w_seen[0], float(w[bounded].min())), max(w_seen[1], float(w[bounded].max()))]
    ok = not nan and outside == 0 and done == steps
    return [{"bench": "learning", "part": "soak", "backend": world.backend.name, "steps": done,
             "brains": world.layout.n_brains, "synapses": world.layout.n_synapses, "nan": nan,
             "outside_bounds": outside, "w_seen": [round(x, 4) for x in w_seen],
             "spikes": world.total_spikes, "wall_s": round(t.wall, 2), "met": ok}]


def main(argv: list[str]) -> int:
    """Run ``spikeforge bench learning``: does online learning work, what does it cost, is it stable.

    See the module docstring for the setup and what each figure means. Prints a table, or one JSON
    object per measurement with ``--json``.

    Parameters
    ----------
    argv : list of str
        The arguments after ``spikeforge bench learning`` (``--help`` lists them).

    Returns
    -------
    int
        Exit status: 0; 2 for invalid arguments.
    """
    ap = argparse.ArgumentParser(prog="spikeforge bench learning", description=__doc__.split("\n\n")[0])
    common_args(ap, backend="auto")
    ap.add_argument("--parts", default="foragers,poison,cost,soak", help="comma list of foragers,poison,cost,soak")
    ap.add_argument("--seeds", type=int, default=5, help="foragers: number of seeds (seed, seed+1, ...)")
    ap.add_argument("--minutes", type=float, default=4.0, help="foragers: game minutes per run")
    ap.add_argument("--foragers", type=int, default=32)
    ap.add_argument("--poison-minutes", type=float, default=3.0, help="poison: game minutes per run")
    ap.add_argument("--crowd-brains", type=int, default=500)
    ap.add_argument("--frames", type=int, default=200, help="cost: frames of 16 steps per measurement")
    ap.add_argument("--update-every", type=int, default=10,
                    help="cost: reward-STDP update period (steps) of the crowd network")
    ap.add_argument("--rule", choices=COST_RULES, default="rstdp",
                    help="cost: the rule on every synapse (stdp-delivery: STDP depressing at delivery)")
    ap.add_argument("--soak-steps", type=int, default=1_000_000)
    a = ap.parse_args(argv)
    parts = [p.strip() for p in a.parts.split(",") if p.strip()]
    bad = [p for p in parts if p not in ("foragers", "poison", "cost", "soak")]
    if bad:
        print(f"--parts: unknown part(s) {bad}; known: foragers, poison, cost, soak", file=sys.stderr)
        return 2
    for name in ("seeds", "foragers", "crowd_brains", "frames", "soak_steps", "update_every"):
        if getattr(a, name) < 1:
            print(f"--{name.replace('_', '-')}: must be >= 1", file=sys.stderr)
            return 2
    for name in ("minutes", "poison_minutes"):
        if not getattr(a, name) > 0:
            print(f"--{name.replace('_', '-')}: must be > 0", file=sys.stderr)
            return 2
    rows: list[dict[str, Any]] = []
    try:
        if "foragers" in parts:
            rows += run_foragers([a.seed + i for i in range(a.seeds)], a.minutes, a.foragers, a.backend,
                                 progress=not a.json)
        if "poison" in parts:
            rows += run_poison_part([a.seed + i for i in range(a.seeds)], a.poison_minutes, a.foragers, a.backend,
                                    progress=not a.json)
        if "cost" in parts:
            rows += run_cost(a.crowd_brains, a.frames, a.backend, a.seed, a.threads, a.update_every, a.rule)
        if "soak" in parts:
            rows += run_soak(a.soak_steps, a.backend, a.seed, a.threads)
    except (ValueError, RuntimeError) as exc:
        print(f"bench learning: {exc}", file=sys.stderr)
        return 2
    if a.json:
        for r in rows:
            print(json.dumps(r), flush=True)
        return 0
    if "foragers" in parts:
        show_foragers(rows)
    if "poison" in parts:
        emit([r for r in rows if r["part"] == "poison"], False,
             "poison: net food (food - poison) per forager per minute (final quarter)",
             [("seed", "seed"), ("mode", "mode"), ("net_per_forager_min", "net"), ("food_per_forager_min", "food"),
              ("poison_per_forager_min", "poison"), ("wall_s", "wall s")])
        emit([r for r in rows if r["part"] == "poison-summary"], False, "poison: net food over seeds",
             [("mode", "mode"), ("seeds", "seeds"), ("mean", "mean"), ("std", "std"), ("min", "min"), ("max", "max"),
              ("poison_share_of_eaten", "poison share")])
    if "cost" in parts or "soak" in parts:
        emit([r for r in rows if r["part"] in ("cost", "soak")], False, "cost and soak",
             [("part", "part"), ("backend", "backend"), ("plastic", "plastic"), ("update_every", "every"),
          ("synapses", "synapses"),
              ("ms_per_step", "ms/step"), ("rate_hz", "rate Hz"), ("steps", "steps"), ("nan", "NaN"),
              ("outside_bounds", "out of bounds"), ("met", "ok")])
    for r in rows:
        if r["part"].endswith("-goal"):
            print(json.dumps(r))
    return 0


def show_foragers(rows: list[dict[str, Any]]) -> None:
    """Print the foragers part of the results as two tables: per seed and mode, then over seeds.

    Parameters
    ----------
    rows : list of dict
        Rows as ``run_foragers`` returns them (other parts are ignored).
    """
    emit([r for r in rows if r["part"] == "foragers"], False, "foragers: food per forager per minute (final quarter)",
         [("seed", "seed"), ("mode", "mode"), ("food_per_forager_min", "food/forager/min"), ("wall_s", "wall s")])
    emit([r for r in rows if r["part"] == "foragers-summary"], False, "foragers: over seeds",
         [("mode", "mode"), ("seeds", "seeds"), ("mean", "mean"), ("std", "std"), ("min", "min"), ("max", "max")])
