"""``spikeforge bench rl``: spiking learning beside PPO (Stable-Baselines3) on the same foragers game.

Four controllers play the foragers game (:mod:`spikeforge.games.foragers`: 32 foragers sharing
one arena of 40 food items, 50 ms frames) with the same senses (direction and closeness of the
nearest food) and the same actions (two motor channels through the same differential drive):

``spiking``
    The forager brains with reward-modulated STDP on, learning online from the game's reward.
``ppo``
    Stable-Baselines3's PPO (MLP policy 64-64, parameters shared by all foragers) trained on
    :class:`~spikeforge.games.foragers_env.ForagersArenaEnv`, the same arena as a Gymnasium
    vector environment, from the same reward (without the spiking brains' running baseline).
``frozen``
    The spiking brains with learning off.
``random``
    Random turning at the brains' mean speed.

Measured per seed: food per forager per minute vs game-minutes of experience (the curve; for
PPO the food eaten by its stochastic policy during training), the final food rate (spiking,
frozen, random: over the last quarter of their run; PPO: its deterministic policy after
training, in a fresh arena, for ``--eval-minutes``), the game-minutes until the curve first
reaches 80 % of PPO's final rate (``t80``), and CPU time per agent-step at play time (process
CPU time choosing actions, divided by frames x foragers; the arena itself is not counted; PPO:
``model.predict`` on the batch of 32 observations, a plain torch forward pass, and the same MLP
in numpy). One plot: the curves (mean and range over seeds) and the CPU times.

Goals (issue 16): spiking >= 80 % of PPO's final food rate, reached within <= 1/10 of PPO's
game-minutes of experience (``t80`` ratio), at <= 1/10 of PPO's CPU time per agent-step.

Example
-------
``spikeforge bench rl --seeds 3 --plot rl.png`` (``--quick``: 1 seed, short runs, for a smoke
test; ``--json``: one JSON object per measurement). Needs ``pip install 'spikeforge[rl]'``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from spikeforge.games.foragers import ForagerConfig, ForagerGame

GOAL_FRACTION_OF_PPO = 0.8
GOAL_EXPERIENCE_RATIO = 0.1
GOAL_CPU_RATIO = 0.1
METHODS = ("spiking", "ppo", "frozen", "random")


@dataclass
class Curve:
    """Food per forager per minute in bins of game time (minutes of experience at each bin's end)."""

    t_min: list[float]
    food: list[float]

    def first_reach(self, level: float) -> float | None:
        """Game minutes at the end of the first bin whose food rate is >= ``level`` (None: never)."""
        for t, f in zip(self.t_min, self.food, strict=True):
            if f >= level:
                return t
        return None


def bin_counts(eaten_per_frame: npt.ArrayLike, frame_dt: float, foragers: int, bin_min: float) -> Curve:
    """Bin a per-frame count of items eaten (whole arena) into a food-rate curve.

    Parameters
    ----------
    eaten_per_frame : array_like
        Items eaten by all foragers in each frame.
    frame_dt : float
        Seconds per frame.
    foragers : int
    bin_min : float
        Bin width (game minutes); a trailing bin shorter than half of it is dropped.
    """
    e = np.asarray(eaten_per_frame, np.float64)
    per_bin = max(1, round(bin_min * 60.0 / frame_dt))
    t: list[float] = []
    f: list[float] = []
    for i in range(0, e.size, per_bin):
        chunk = e[i:i + per_bin]
        if t and 2 * chunk.size < per_bin:
            break  # a short trailing bin (PPO rounds its experience up to whole rollouts) is only noise
        t.append(round((i + chunk.size) * frame_dt / 60.0, 4))
        f.append(float(chunk.sum()) / foragers / (chunk.size * frame_dt / 60.0))
    return Curve(t, f)


# ----------------------------------------------------------------------------- spiking, frozen, random


def run_game(mode: str, cfg: ForagerConfig, seed: int, minutes: float, bin_min: float,
             backend: str) -> dict[str, Any]:
    """One ForagerGame run (``learn``, ``frozen`` or ``random``): curve, final rate, CPU per agent-step."""
    game = ForagerGame(cfg, seed=seed, mode=mode, backend=backend)
    n_frames = max(1, round(minutes * 60.0 / cfg.frame_dt))
    per_frame = np.zeros(n_frames, np.int64)
    t0 = time.perf_counter()
    for i in range(n_frames):
        per_frame[i] = int(game.frame().sum())
    wall = time.perf_counter() - t0
    quarter = max(1, round(n_frames * 0.25))
    final = float(per_frame[-quarter:].sum()) / cfg.foragers / (quarter * cfg.frame_dt / 60.0)
    name = {"learn": "spiking", "frozen": "frozen", "random": "random"}[mode]
    curve = bin_counts(per_frame, cfg.frame_dt, cfg.foragers, bin_min)
    return {"method": name, "seed": seed, "backend": game.world.backend.name, "minutes": minutes,
            "final_food_per_min": final, "curve": curve,
            "cpu_us_per_agent_step": game.brain_cpu_s / (n_frames * cfg.foragers) * 1e6,
            "wall_s": wall}


# ----------------------------------------------------------------------------- PPO


def make_sb3_env(cfg: ForagerConfig, seed: int) -> Any:
    """:class:`~spikeforge.games.foragers_env.ForagersArenaEnv` as a Stable-Baselines3 ``VecEnv``.

    Every forager of the shared arena is one sub-environment. The returned object records the
    items eaten in every frame in ``eaten_per_frame`` (a list of ints, whole arena).
    """
    from stable_baselines3.common.vec_env import VecEnv

    from spikeforge.games.foragers_env import ForagersArenaEnv

    class ArenaVecEnv(VecEnv):
        def __init__(self) -> None:
            self.env = ForagersArenaEnv(cfg, seed)
            super().__init__(self.env.num_envs, self.env.single_observation_space, self.env.single_action_space)
            self.eaten_per_frame: list[int] = []
            self._actions: Any = None

        def reset(self) -> Any:
            obs, _ = self.env.reset()
            return obs

        def step_async(self, actions: Any) -> None:
            self._actions = actions

        def step_wait(self) -> Any:
            obs, reward, term, trunc, info = self.env.step(self._actions)
            self.eaten_per_frame.append(int(info["eaten"].sum()))
            infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
            return obs, reward.astype(np.float32), term | trunc, infos

        def close(self) -> None:
            return None

        def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
            return [getattr(self.env, attr_name)] * len(list(self._get_indices(indices)))

        def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
            setattr(self.env, attr_name, value)

        def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list[Any]:
            return [getattr(self.env, method_name)(*args, **kwargs)] * len(list(self._get_indices(indices)))

        def env_is_wrapped(self, wrapper_class: Any, indices: Any = None) -> list[bool]:
            return [False] * len(list(self._get_indices(indices)))

    return ArenaVecEnv()


def numpy_policy(model: Any) -> Any:
    """The PPO actor's mean action as plain numpy (``obs (n, 2) -> actions (n, 2)``, clipped to [-1, 1])."""
    import torch

    layers: list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], bool]] = []
    mods = [*model.policy.mlp_extractor.policy_net, model.policy.action_net]
    for i, m in enumerate(mods):
        if isinstance(m, torch.nn.Linear):
            act = i + 1 < len(mods) and isinstance(mods[i + 1], torch.nn.Tanh)
            layers.append((m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy(), act))

    def forward(obs: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        x = obs
        for w, b, act in layers:
            x = x @ w + b
            if act:
                x = np.tanh(x)
        return np.clip(x, -1.0, 1.0)

    return forward


def run_ppo(cfg: ForagerConfig, seed: int, minutes: float, eval_minutes: float, bin_min: float,
            n_steps: int, progress: bool) -> dict[str, Any]:
    """Train PPO for ``minutes`` of game time, then evaluate it and time its play-time cost."""
    import torch
    from stable_baselines3 import PPO

    from spikeforge.games.foragers_env import ForagersArenaEnv

    torch.set_num_threads(1)
    env = make_sb3_env(cfg, seed)
    frames = max(1, round(minutes * 60.0 / cfg.frame_dt))
    batch = n_steps * cfg.foragers
    model = PPO("MlpPolicy", env, n_steps=n_steps, batch_size=min(1024, batch), n_epochs=5, gamma=0.97,
                gae_lambda=0.95, learning_rate=3e-4, clip_range=0.2, ent_coef=0.0, seed=seed, device="cpu",
                policy_kwargs={"net_arch": [64, 64]}, verbose=0)
    t0, c0 = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=frames * cfg.foragers, progress_bar=False)
    train_wall, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    curve = bin_counts(env.eaten_per_frame, cfg.frame_dt, cfg.foragers, bin_min)
    trained_min = len(env.eaten_per_frame) * cfg.frame_dt / 60.0
    if progress:
        print(f"  seed {seed}    ppo: trained {trained_min:.1f} game min in {train_wall:.0f} s "
              f"({train_cpu:.0f} CPU-s)", file=sys.stderr, flush=True)
    # play: deterministic policy in a fresh arena; time each way of computing the actions
    ev = ForagersArenaEnv(cfg, seed + 1000)
    obs, _ = ev.reset()
    n_eval = max(1, round(eval_minutes * 60.0 / cfg.frame_dt))
    fwd = numpy_policy(model)
    cpu = {"predict": 0.0, "torch": 0.0, "numpy": 0.0}
    eaten = 0
    for _ in range(n_eval):
        c = time.process_time()
        action, _ = model.predict(obs, deterministic=True)
        cpu["predict"] += time.process_time() - c
        c = time.process_time()
        with torch.no_grad():
            t_obs = torch.as_tensor(obs)
            lat = model.policy.mlp_extractor.forward_actor(model.policy.features_extractor(t_obs))
            t_act = model.policy.action_net(lat).clamp(-1.0, 1.0).numpy()
        cpu["torch"] += time.process_time() - c
        c = time.process_time()
        n_act = fwd(obs)
        cpu["numpy"] += time.process_time() - c
        if not np.allclose(n_act, t_act, atol=1e-4):
            raise RuntimeError("bench rl: the numpy copy of the PPO policy disagrees with torch")
        obs, _, _, _, info = ev.step(action)
        eaten += int(info["eaten"].sum())
    final = eaten / cfg.foragers / (n_eval * cfg.frame_dt / 60.0)
    per = n_eval * cfg.foragers
    return {"method": "ppo", "seed": seed, "backend": "torch-cpu", "minutes": trained_min,
            "final_food_per_min": final, "curve": curve, "cpu_us_per_agent_step": cpu["predict"] / per * 1e6,
            "cpu_us_per_agent_step_torch": cpu["torch"] / per * 1e6,
            "cpu_us_per_agent_step_numpy": cpu["numpy"] / per * 1e6,
            "train_wall_s": train_wall, "train_cpu_s": train_cpu,
            "train_cpu_us_per_agent_step": train_cpu / (len(env.eaten_per_frame) * cfg.foragers) * 1e6,
            "wall_s": train_wall}


# ----------------------------------------------------------------------------- summary, plot


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-seed t80 (vs that seed's PPO final rate), per-method means and the goal rows."""
    seeds = sorted({r["seed"] for r in runs})
    rows: list[dict[str, Any]] = []
    by = {(r["method"], r["seed"]): r for r in runs}
    for s in seeds:
        ppo_final = by[("ppo", s)]["final_food_per_min"]
        for m in METHODS:
            r = by[(m, s)]
            r["t80_min"] = r["curve"].first_reach(GOAL_FRACTION_OF_PPO * ppo_final)
            r["fraction_of_ppo"] = r["final_food_per_min"] / ppo_final if ppo_final > 0 else math.nan
    for m in METHODS:
        rs = [by[(m, s)] for s in seeds]
        fin = [r["final_food_per_min"] for r in rs]
        cpu = [r["cpu_us_per_agent_step"] for r in rs]
        t80 = [r["t80_min"] for r in rs]
        row: dict[str, Any] = {"bench": "rl", "part": "summary", "method": m, "seeds": len(rs),
                               "final_mean": round(statistics.fmean(fin), 2), "final_min": round(min(fin), 2),
                               "final_max": round(max(fin), 2),
                               "fraction_of_ppo": [round(r["fraction_of_ppo"], 3) for r in rs],
                               "t80_min": [None if t is None else round(t, 3) for t in t80],
                               "cpu_us_per_agent_step": round(statistics.fmean(cpu), 3),
                               "minutes": round(statistics.fmean(r["minutes"] for r in rs), 3)}
        if m == "ppo":
            for k in ("cpu_us_per_agent_step_torch", "cpu_us_per_agent_step_numpy", "train_cpu_us_per_agent_step"):
                row[k] = round(statistics.fmean(r[k] for r in rs), 3)
        rows.append(row)
    sp = [by[("spiking", s)] for s in seeds]
    pp = [by[("ppo", s)] for s in seeds]
    frac = [r["fraction_of_ppo"] for r in sp]
    exp_ratio = [None if a["t80_min"] is None or b["t80_min"] is None else a["t80_min"] / b["t80_min"]
                 for a, b in zip(sp, pp, strict=True)]
    summ = {r["method"]: r for r in rows}
    cpu_ratio = {k: summ["spiking"]["cpu_us_per_agent_step"] / v for k, v in (
        ("predict", summ["ppo"]["cpu_us_per_agent_step"]), ("torch", summ["ppo"]["cpu_us_per_agent_step_torch"]),
        ("numpy", summ["ppo"]["cpu_us_per_agent_step_numpy"]))}
    rows.append({"bench": "rl", "part": "goal", "spiking_fraction_of_ppo_final": [round(x, 3) for x in frac],
                 "goal_fraction": GOAL_FRACTION_OF_PPO, "fraction_met": bool(min(frac) >= GOAL_FRACTION_OF_PPO),
                 "experience_ratio_t80": [None if x is None else round(x, 3) for x in exp_ratio],
                 "goal_experience_ratio": GOAL_EXPERIENCE_RATIO,
                 "experience_met": bool(all(x is not None and x <= GOAL_EXPERIENCE_RATIO for x in exp_ratio)),
                 "cpu_ratio_vs_ppo": {k: round(v, 3) for k, v in cpu_ratio.items()},
                 "goal_cpu_ratio": GOAL_CPU_RATIO, "cpu_met_vs_predict": bool(cpu_ratio["predict"] <= GOAL_CPU_RATIO),
                 "cpu_met_vs_numpy": bool(cpu_ratio["numpy"] <= GOAL_CPU_RATIO)})
    return rows


def plot(runs: list[dict[str, Any]], rows: list[dict[str, Any]], path: Path) -> None:
    """One figure: food rate vs game-minutes of experience (log x; mean and range over seeds), CPU per agent-step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style = {"spiking": ("tab:green", "spiking learning (R-STDP)"), "ppo": ("tab:red", "PPO (SB3, training)"),
             "frozen": ("tab:blue", "spiking, frozen"), "random": ("tab:gray", "random")}
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [2.2, 1]})
    for m in METHODS:
        rs = [r for r in runs if r["method"] == m]
        n = min(len(r["curve"].t_min) for r in rs)
        t = np.asarray(rs[0]["curve"].t_min[:n])
        f = np.asarray([r["curve"].food[:n] for r in rs])
        c, label = style[m]
        ax.plot(t, f.mean(axis=0), color=c, label=f"{label} ({len(rs)} seeds)")
        if len(rs) > 1:
            ax.fill_between(t, f.min(axis=0), f.max(axis=0), color=c, alpha=0.15)
    summ = {r["method"]: r for r in rows if r["part"] == "summary"}
    ppo_final = summ["ppo"]["final_mean"]
    ax.axhline(ppo_final, color="tab:red", ls="--", lw=1, label=f"PPO final, deterministic ({ppo_final:.1f})")
    ax.axhline(GOAL_FRACTION_OF_PPO * ppo_final, color="tab:red", ls=":", lw=1, label="80 % of PPO final")
    ax.set_xscale("log")
    ax.set_xlabel("game minutes of experience (32 foragers in one arena)")
    ax.set_ylabel("food per forager per minute")
    ax.set_ylim(bottom=0)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("foragers: sample efficiency")
    names = ["spiking\nlearn", "PPO\npredict", "PPO\ntorch", "PPO\nnumpy", "frozen", "random"]
    vals = [summ["spiking"]["cpu_us_per_agent_step"], summ["ppo"]["cpu_us_per_agent_step"],
            summ["ppo"]["cpu_us_per_agent_step_torch"], summ["ppo"]["cpu_us_per_agent_step_numpy"],
            summ["frozen"]["cpu_us_per_agent_step"], summ["random"]["cpu_us_per_agent_step"]]
    cols = ["tab:green", "tab:red", "tab:red", "tab:red", "tab:blue", "tab:gray"]
    bx.bar(names, vals, color=cols)
    bx.set_yscale("log")
    bx.set_ylabel("CPU µs per agent-step (play)")
    bx.set_title("cost of choosing an action")
    for i, v in enumerate(vals):
        bx.text(i, v, f"{v:.2g}", ha="center", va="bottom", fontsize=8)
    bx.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------------- command line


def main(argv: list[str]) -> int:
    """Command line of ``spikeforge bench rl``."""
    ap = argparse.ArgumentParser(prog="spikeforge bench rl", description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default="auto", help="spiking brains' backend (default auto: native when built)")
    ap.add_argument("--seed", type=int, default=1, help="first seed (default 1)")
    ap.add_argument("--seeds", type=int, default=3, help="number of seeds (seed, seed+1, ...; default 3)")
    ap.add_argument("--minutes", type=float, default=4.0, help="game minutes of the spiking learning run (default 4)")
    ap.add_argument("--ppo-minutes", type=float, default=20.0,
                    help="game minutes of PPO training experience (default 20; 32 foragers: 24,000 frames)")
    ap.add_argument("--baseline-minutes", type=float, default=2.0, help="game minutes of frozen and random runs")
    ap.add_argument("--eval-minutes", type=float, default=1.0, help="game minutes evaluating trained PPO")
    ap.add_argument("--bin", type=float, default=0.25, help="curve bin width (game minutes, default 0.25)")
    ap.add_argument("--n-steps", type=int, default=128, help="PPO frames per rollout (x 32 foragers)")
    ap.add_argument("--foragers", type=int, default=32)
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 1 seed, 1 game minute spiking, 2 PPO, 0.5 frozen/random, 0.25 eval")
    ap.add_argument("--plot", type=Path, help="write the figure to this PNG (matplotlib)")
    ap.add_argument("--json", action="store_true", help="one JSON object per measurement on stdout")
    a = ap.parse_args(argv)
    if a.quick:
        a.seeds, a.minutes, a.ppo_minutes, a.baseline_minutes, a.eval_minutes = 1, 1.0, 2.0, 0.5, 0.25
        a.bin = min(a.bin, 0.25)
    for name in ("seeds", "n_steps", "foragers"):
        if getattr(a, name) < 1:
            print(f"--{name.replace('_', '-')}: must be >= 1", file=sys.stderr)
            return 2
    for name in ("minutes", "ppo_minutes", "baseline_minutes", "eval_minutes", "bin"):
        if not getattr(a, name) > 0:
            print(f"--{name.replace('_', '-')}: must be > 0", file=sys.stderr)
            return 2
    try:
        import gymnasium  # noqa: F401
        import stable_baselines3  # noqa: F401
    except ImportError as exc:
        print(f"bench rl: needs gymnasium and stable-baselines3 ({exc}); pip install 'spikeforge[rl]'",
              file=sys.stderr)
        return 2
    if a.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError as exc:
            print(f"--plot: needs matplotlib ({exc}); pip install 'spikeforge[plot]'", file=sys.stderr)
            return 2
    cfg = ForagerConfig(foragers=a.foragers)
    runs: list[dict[str, Any]] = []
    progress = not a.json
    try:
        for seed in range(a.seed, a.seed + a.seeds):
            for mode, minutes in (("learn", a.minutes), ("frozen", a.baseline_minutes),
                                  ("random", a.baseline_minutes)):
                r = run_game(mode, cfg, seed, minutes, a.bin, a.backend)
                runs.append(r)
                if progress:
                    print(f"  seed {seed} {r['method']:>7}: {r['final_food_per_min']:6.2f} food/forager/min, "
                          f"{r['cpu_us_per_agent_step']:.2f} CPU-us/agent-step ({r['wall_s']:.0f} s)",
                          file=sys.stderr, flush=True)
            r = run_ppo(cfg, seed, a.ppo_minutes, a.eval_minutes, a.bin, a.n_steps, progress)
            runs.append(r)
            if progress:
                print(f"  seed {seed}     ppo: {r['final_food_per_min']:6.2f} food/forager/min, "
                      f"{r['cpu_us_per_agent_step']:.2f} CPU-us/agent-step", file=sys.stderr, flush=True)
    except (ValueError, RuntimeError) as exc:
        print(f"bench rl: {exc}", file=sys.stderr)
        return 2
    rows = summarize(runs)
    if a.plot:
        plot(runs, rows, a.plot)
    per_run = []
    for r in runs:
        d = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items() if k != "curve"}
        d.update({"bench": "rl", "part": "run", "curve_t_min": r["curve"].t_min,
                  "curve_food": [round(x, 2) for x in r["curve"].food]})
        per_run.append(d)
    if a.json:
        for d in per_run + rows:
            print(json.dumps(d), flush=True)
        return 0
    from spikeforge.bench import emit

    def show(v: Any) -> str:
        return ", ".join("-" if x is None else f"{x:g}" for x in v)

    table = [{**r, "fraction_of_ppo": show(r["fraction_of_ppo"]), "t80_min": show(r["t80_min"])}
             for r in rows if r["part"] == "summary"]
    emit(table, False,
         "foragers: spiking learning vs PPO vs frozen vs random (food per forager per minute)",
         [("method", "method"), ("seeds", "seeds"), ("minutes", "game min"), ("final_mean", "final mean"),
          ("final_min", "min"), ("final_max", "max"), ("fraction_of_ppo", "of PPO"), ("t80_min", "t80 (min)"),
          ("cpu_us_per_agent_step", "CPU µs/agent-step")])
    for r in rows:
        if r["part"] == "goal":
            print(json.dumps(r))
    if a.plot:
        print(f"plot: {a.plot.resolve()}")
    return 0
