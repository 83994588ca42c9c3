"""Poison: foragers that must learn to tell food from a hazard that looks the same.

The arena of :mod:`spikeforge.games.foragers` holds two kinds of items: food (reward +1
when eaten) and poison (reward -1). The ``eye`` sees only the direction of the nearest
item, whatever its kind: by sight food and poison are the same. A second channel, ``smell``
(a population code over {fresh, poison}: one neuron fires at ``smell_rate`` for each), tells
whether the nearest item is poison.

Steering toward the nearest item (what the foragers learn) is not enough here: it eats poison
as often as it meets it. The brain has to learn two opposite steering maps and use the right
one depending on the smell, a context-dependent decision. The circuit gives it the means,
not the answer: the eye is relayed one-to-one to two hidden populations, ``approach`` and
``avoid``; the poison smell silences ``approach`` and the fresh smell silences ``avoid``
(fixed inhibitory gates), and both project all-to-all onto the motor channels with
reward-modulated STDP from random initial weights. Which map turns toward and which turns
away is learned from the reward: +1 per food, -1 per poison, plus a shaping term for turning
toward the nearest item if it is food and away from it if it is poison.

**Score: net food = food eaten - poison eaten, per forager per minute** (24 food and 16
poison items by default, so a forager that cannot tell them apart still nets about a fifth
of what it eats, and "learning >= 2x frozen" is a meaningful ratio of positive numbers).

Modes: ``learn``, ``frozen`` (same initial brains, learning off), ``random`` (random turning)
and ``blind``: learning on but the smell always reads "fresh", the control that can learn
to steer but not to discriminate.

Run ``spikeforge demo poison --help``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from spikeforge.games.foragers import (
    Arena,
    ForagerConfig,
    ForagerGame,
    alignment_gain,
    motor_law,
    wrap_angle,
)
from spikeforge.model.circuit import Circuit
from spikeforge.model.neurons import LIF
from spikeforge.model.plasticity import RewardSTDP
from spikeforge.model.synapses import OneToOne, Pairs, Uniform

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
POISON_MODES = ("learn", "frozen", "random", "blind")


@dataclass
class PoisonConfig(ForagerConfig):
    """The poison game: every :class:`ForagerConfig` knob plus the hazard's (units: Hz, mV).

    ``food`` counts the food items only; ``poison`` items come on top.
    """

    food: int = 24
    poison: int = 16
    reward_poison: float = 1.0    # subtracted per poison item eaten
    smell_rate: float = 200.0     # Hz of the smell neuron coding the nearest item's kind
    relay_weight: float = 100.0   # mV: eye -> approach / avoid, one-to-one
    gate_weight: float = 200.0    # mV (inhibitory): smell -> the gated hidden population

    def validate(self) -> None:
        """Check every knob; :class:`ValueError` names the first bad one."""
        super().validate()
        if isinstance(self.poison, bool) or not isinstance(self.poison, int) or self.poison < 0:
            raise ValueError(f"poison: must be an integer >= 0, got {self.poison!r}")
        for name in ("smell_rate", "relay_weight", "gate_weight", "reward_poison"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not v >= 0 or v == float("inf"):
                raise ValueError(f"{name}: must be a finite number >= 0, got {v!r}")


def poison_circuit(cfg: PoisonConfig) -> Circuit:
    """The poison forager brain.

    eye -> approach, eye -> avoid (one-to-one relays); smell[poison] -| approach,
    smell[fresh] -| avoid (inhibitory gates); approach, avoid -> motor (reward-STDP);
    explore -> noise -> motor; mutual inhibition of the motor channels.
    """
    m, n_eye = cfg.motor_per_side, cfg.eye_neurons
    rule = RewardSTDP(a_plus=cfg.a_plus, a_minus=cfg.a_minus, tau_plus=20.0, tau_minus=20.0,
                      w_min=0.0, w_max=cfg.w_max, lr=cfg.lr, tau_c=cfg.tau_c,
                      tau_dopamine=cfg.tau_dopamine, update_every=10)
    motor = LIF(tau_m=20.0, tau_e=5.0, v_rest=-65.0, v_reset=-65.0, v_thresh=-52.0, t_ref=2.0)
    c = Circuit("poison_forager")
    c.add_population("eye", n_eye, LIF())
    c.add_population("nose", cfg.nose_neurons, LIF())
    c.add_population("smell", 2, LIF())
    c.add_population("approach", n_eye, LIF())
    c.add_population("avoid", n_eye, LIF())
    c.add_population("noise", 2 * m, LIF())
    c.add_population("motor", 2 * m, motor)
    c.add_sensor("eye", "eye", channels=1, kind="gaussian", low=-1.0, high=1.0, max_rate=cfg.eye_rate,
                 sigma=cfg.eye_sigma)
    c.add_sensor("nose", "nose", channels=1, kind="poisson", low=0.0, high=1.0, max_rate=cfg.nose_rate)
    c.add_sensor("smell", "smell", channels=1, kind="gaussian", low=0.0, high=1.0, max_rate=cfg.smell_rate,
                 sigma=0.2)
    c.add_sensor("explore", "noise", channels=2, kind="poisson", low=0.0, high=1.0, max_rate=cfg.noise_rate)
    c.add_actuator("motor", "motor", channels=2, kind="rate")
    hidden = tuple(range(n_eye))
    for name, gate in (("approach", 1), ("avoid", 0)):  # smell neuron 0 codes "fresh", 1 codes "poison"
        c.connect("eye", name, rule=OneToOne(), weight=cfg.relay_weight, name=f"eye->{name}")
        c.connect("smell", name, rule=Pairs((gate,) * n_eye, hidden), weight=-cfg.gate_weight, name=f"smell-|{name}")
        lo, hi = cfg.w_init
        c.connect(name, "motor", weight=Uniform(lo, hi), name=f"{name}->motor", plasticity=rule)
    c.connect("noise", "motor", rule=OneToOne(), weight=cfg.noise_weight, name="noise->motor")
    if cfg.inhibition > 0:
        left, right = range(m), range(m, 2 * m)
        pre = tuple(i for i in left for _ in right) + tuple(j for j in right for _ in left)
        post = tuple(j for _ in left for j in right) + tuple(i for _ in right for i in left)
        c.connect("motor", "motor", rule=Pairs(pre, post), weight=-cfg.inhibition, name="motor-|motor")
    return c


class PoisonArena(Arena):
    """The foragers' torus with ``cfg.food`` food items followed by ``cfg.poison`` poison items.

    ``self.food`` holds every item's position; ``self.is_poison`` marks the poison ones. An
    eaten item respawns at a random place as the same kind.
    """

    def __init__(self, cfg: PoisonConfig, seed: int) -> None:
        super().__init__(cfg, seed)
        extra = self.rng.uniform(0.0, cfg.arena, size=(cfg.poison, 2))
        self.food = np.concatenate([self.food, extra])
        self.is_poison: npt.NDArray[np.bool_] = np.arange(cfg.food + cfg.poison) >= cfg.food
        self.poison_total: I64 = np.zeros(cfg.foragers, np.int64)

    def sense_kind(self) -> tuple[F64, F64, F64]:
        """(angle of the nearest item in [-pi, pi), closeness in [0, 1], 1.0 where it is poison else 0.0)."""
        d = self._delta()
        dist = np.hypot(d[..., 0], d[..., 1])
        j = np.argmin(dist, axis=1)
        r = np.arange(self.pos.shape[0])
        ang = wrap_angle(np.arctan2(d[r, j, 1], d[r, j, 0]) - self.heading)
        close = np.clip(1.0 - dist[r, j] / (0.5 * self.cfg.arena), 0.0, 1.0)
        return ang, close, self.is_poison[j].astype(np.float64)

    def eat_kinds(self) -> tuple[I64, I64]:
        """Eat the items within ``eat_radius``; return (food items, poison items) eaten per forager."""
        d = self._delta()
        hit = (d[..., 0] ** 2 + d[..., 1] ** 2) <= self.cfg.eat_radius ** 2
        food = hit[:, ~self.is_poison].sum(axis=1).astype(np.int64)
        bad = hit[:, self.is_poison].sum(axis=1).astype(np.int64)
        gone = hit.any(axis=0)
        k = int(gone.sum())
        if k:
            self.food[gone] = self.rng.uniform(0.0, self.cfg.arena, size=(k, 2))
        self.eaten_total += food
        self.poison_total += bad
        return food, bad


class PoisonGame(ForagerGame):
    """One poison arena, one world of poison-forager brains, and the frame loop.

    Parameters
    ----------
    cfg : PoisonConfig
    seed : int
        Seeds the world (initial weights, spike noise) and the arena.
    mode : {"learn", "frozen", "random", "blind"}
        ``blind``: learning on, the smell held at "fresh" (can learn to steer, not to discriminate).
    backend : str

    Notes
    -----
    :meth:`frame` (and so :meth:`run`) counts **net food** (food - poison): ``run(...).food_per_min``
    is the net food per forager per minute. :attr:`food_total` and :attr:`poison_total` keep
    the two counts per forager.
    """

    arena: PoisonArena
    cfg: PoisonConfig

    def __init__(self, cfg: PoisonConfig, seed: int = 0, mode: str = "learn", backend: str = "numpy") -> None:
        if mode not in POISON_MODES:
            raise ValueError(f"mode: must be one of {POISON_MODES}, got {mode!r}")
        super().__init__(cfg, seed, "learn" if mode == "blind" else mode, backend)
        self.mode = mode
        self.smell = self.group.sensor("smell")
        self.food_total: I64 = np.zeros(cfg.foragers, np.int64)
        self.poison_total: I64 = np.zeros(cfg.foragers, np.int64)

    def make_arena(self, cfg: ForagerConfig, seed: int) -> PoisonArena:
        """The arena with food and poison."""
        if not isinstance(cfg, PoisonConfig):
            raise TypeError(f"cfg: PoisonGame needs a PoisonConfig, got {type(cfg).__name__}")
        return PoisonArena(cfg, seed)

    def make_circuit(self, cfg: ForagerConfig) -> Circuit:
        """The gated brain of :func:`poison_circuit`."""
        if not isinstance(cfg, PoisonConfig):
            raise TypeError(f"cfg: PoisonGame needs a PoisonConfig, got {type(cfg).__name__}")
        return poison_circuit(cfg)

    def frame(self) -> I64:
        """One frame: sense (eye, nose, smell) -> think -> act -> eat -> reward. Returns net food per forager."""
        cfg, A = self.cfg, self.arena
        ang, close, poison = A.sense_kind()
        self.eye[:, 0] = ang / np.pi
        self.nose[:, 0] = close
        self.smell[:, 0] = 0.0 if self.mode == "blind" else poison
        if self.mode == "random":
            c0 = time.process_time()
            turn = self.rng.uniform(-cfg.turn_max, cfg.turn_max, size=cfg.foragers)
            speed = np.full(cfg.foragers, cfg.speed_min + 0.5 * cfg.speed_gain)
            self.brain_cpu_s += time.process_time() - c0
            self.world.step(0)
        else:
            c0 = time.process_time()
            self.world.advance(cfg.frame_dt)
            turn, speed = motor_law(cfg, self.motor[:, 0].astype(np.float64), self.motor[:, 1].astype(np.float64))
            self.brain_cpu_s += time.process_time() - c0
        A.move(turn, speed, cfg.frame_dt)
        food, bad = A.eat_kinds()
        ang2, _, _ = A.sense_kind()
        toward = 1.0 - 2.0 * poison  # +1: turn toward food, -1: turn away from poison
        r = cfg.reward_eat * food - cfg.reward_poison * bad + cfg.reward_shaping * toward * alignment_gain(ang, ang2)
        k = cfg.frame_dt / cfg.baseline_tau
        da = r - self.baseline
        self.baseline = self.baseline + k * (r - self.baseline)
        if self.mode in ("learn", "blind"):
            self.group.reward(da)
        self.last_turn, self.last_reward = turn, da
        self.food_total += food
        self.poison_total += bad
        self.frames += 1
        return np.asarray(food - bad, np.int64)


@dataclass
class PoisonResult:
    """One poison run: net food, food and poison per forager per minute (final window) and the curve."""

    mode: str
    seed: int
    minutes: float
    net_per_min: float
    food_per_min: float
    poison_per_min: float
    curve_t: list[float]
    curve_net: list[float]
    wall_s: float

    def to_dict(self) -> dict[str, Any]:
        """This result as a JSON-ready dict."""
        return asdict(self)


def run_poison(cfg: PoisonConfig, seed: int, mode: str, minutes: float, backend: str = "auto",
               eval_fraction: float = 0.25, bins: int = 12) -> PoisonResult:
    """Play ``minutes`` of the poison game; rates over the last ``eval_fraction`` of it.

    Parameters
    ----------
    cfg : PoisonConfig
    seed : int
    mode : {"learn", "frozen", "random", "blind"}
    minutes : float
        Game minutes.
    backend : str
    eval_fraction : float
        Final window for the rates (fraction of the run).
    bins : int
        Points of the net-food curve.
    """
    game = PoisonGame(cfg, seed=seed, mode=mode, backend=backend)
    n_frames = max(1, round(minutes * 60.0 / cfg.frame_dt))
    food = np.zeros(n_frames, np.int64)
    bad = np.zeros(n_frames, np.int64)
    t0 = time.perf_counter()
    for i in range(n_frames):
        f0, p0 = int(game.food_total.sum()), int(game.poison_total.sum())
        game.frame()
        food[i], bad[i] = int(game.food_total.sum()) - f0, int(game.poison_total.sum()) - p0
    wall = time.perf_counter() - t0
    k = max(1, round(n_frames * eval_fraction))
    per = cfg.foragers * k * cfg.frame_dt / 60.0
    f, b = float(food[-k:].sum()) / per, float(bad[-k:].sum()) / per
    per_bin = max(1, n_frames // bins)
    net = food - bad
    curve_t = [round(min(i + per_bin, n_frames) * cfg.frame_dt / 60.0, 4) for i in range(0, n_frames, per_bin)]
    curve_n = [float(net[i:i + per_bin].sum()) / cfg.foragers / (net[i:i + per_bin].size * cfg.frame_dt / 60.0)
               for i in range(0, n_frames, per_bin)]
    return PoisonResult(mode, seed, minutes, f - b, f, b, curve_t, curve_n, wall)


def main(argv: list[str] | None = None) -> int:
    """``spikeforge demo poison``: learning, frozen, random and blind foragers in the poison game."""
    ap = argparse.ArgumentParser(prog="spikeforge demo poison", description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=4.0, help="game minutes per run (default 4)")
    ap.add_argument("--foragers", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", default="auto", help="auto (native when built), numpy, native, gpu")
    ap.add_argument("--modes", default=",".join(POISON_MODES), help=f"comma list of {', '.join(POISON_MODES)}")
    ap.add_argument("--plot", help="write the net-food curves to this PNG")
    ap.add_argument("--json", action="store_true", help="one JSON object per run")
    a = ap.parse_args(argv)
    modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in POISON_MODES]
    if bad or not modes:
        ap.error(f"--modes: unknown {bad}; known: {', '.join(POISON_MODES)}")
    if not a.minutes > 0:
        ap.error("--minutes: must be > 0")
    if a.plot:
        from spikeforge.demo import need_matplotlib

        need_matplotlib(ap)
    cfg = PoisonConfig(foragers=a.foragers)
    results: list[PoisonResult] = []
    for mode in modes:
        try:
            r = run_poison(cfg, a.seed, mode, a.minutes, a.backend)
        except (ValueError, RuntimeError) as exc:
            print(f"poison: {exc}", file=sys.stderr)
            return 2
        results.append(r)
        if a.json:
            print(json.dumps(r.to_dict()), flush=True)
        else:
            print(f"{mode:>6}: net {r.net_per_min:6.2f} = food {r.food_per_min:6.2f} - poison {r.poison_per_min:5.2f}"
                  f" per forager per minute (last quarter of {a.minutes:g} min; {r.wall_s:.0f} s)", flush=True)
    if a.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
        for r in results:
            ax.plot(r.curve_t, r.curve_net, marker="o", label=f"{r.mode}: net {r.net_per_min:.1f} at the end")
        ax.axhline(0.0, color="0.5", lw=0.8)
        ax.set_xlabel("game time (minutes)")
        ax.set_ylabel("net food (food - poison) per forager per minute")
        ax.set_title(f"spikeforge poison game ({cfg.food} food, {cfg.poison} poison items; seed {a.seed})")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(a.plot)
        plt.close(fig)
    if not a.json and "learn" in modes and "frozen" in modes:
        by = {r.mode: r for r in results}
        fz = by["frozen"].net_per_min
        ratio = by["learn"].net_per_min / fz if fz > 0 else float("inf")
        print(f"learning / frozen (net food): {ratio:.2f}x")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
