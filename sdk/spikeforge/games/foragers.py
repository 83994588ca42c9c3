"""Foragers: NPCs that learn to steer toward food with reward-modulated STDP.

Each forager is one brain. It sees the direction of the nearest food item relative to
its heading (one value in [-1, 1] = angle / pi, population-coded by ``eye`` neurons
with Gaussian tuning) and how close it is (``nose``, a Poisson rate code), and it has
two motor channels (left, right) read as firing rates: the difference turns it
(differential drive), the sum sets its speed. An ``explore`` sensor drives a noise
population into the motors (exploration). The eye and nose project all-to-all onto
both motor channels with reward-modulated STDP; every frame the forager receives a
reward (dopamine): a bonus for each food item eaten plus a small shaping term for
turning toward the nearest food, minus a running-average baseline.

The game loop is vectorized over foragers (numpy arrays of positions and headings;
organs written through ``world.group(circuit).sensor(...)`` 2-D views); nothing in the
frame loop runs per forager in Python.

Run ``python -m samples.foragers --help`` or ``spikeforge demo foragers --help``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from spikeforge.model.circuit import Circuit
from spikeforge.model.neurons import LIF
from spikeforge.model.plasticity import RewardSTDP
from spikeforge.model.synapses import OneToOne, Pairs, Uniform
from spikeforge.runtime.world import World

F64 = npt.NDArray[np.float64]
MODES = ("learn", "frozen", "random")
EYE_CODES = ("gaussian", "current")


@dataclass
class ForagerConfig:
    """Every knob of the game (units: arena lengths, seconds, Hz, rad).

    The defaults are the tuned setting ``spikeforge bench learning`` reports.
    """

    foragers: int = 32
    food: int = 40
    arena: float = 1.0            # side of the square torus
    eat_radius: float = 0.035
    speed_min: float = 0.08       # arena/s when the motors are silent
    speed_gain: float = 0.02      # extra arena/s at motor rate ``rate_ref`` (both channels)
    turn_max: float = 5.0         # rad/s
    rate_ref: float = 40.0        # Hz: motor rate scale for turning and speed
    frame_dt: float = 0.05        # s per game frame
    dt: float = 0.002             # s per network step
    eye_neurons: int = 12
    eye_sigma: float = 0.1
    eye_rate: float = 120.0
    eye_code: str = "gaussian"    # "gaussian": Poisson spikes, Gaussian tuning; "current": deterministic drive
    eye_gain: float = 100.0       # mV of drive at the peak of an eye neuron's tuning ("current" only)
    nose_neurons: int = 4
    nose_rate: float = 60.0
    nose_to_motor: bool = False   # also learn from closeness (adds a common-mode drive)
    inhibition: float = 30.0      # mV of drive: mutual inhibition between the two motor channels
    motor_per_side: int = 8
    motor_tau_m: float = 20.0     # ms: membrane time constant of the motor neurons (the read-out's lag)
    motor_tau_e: float = 5.0      # ms: their excitatory synaptic time constant
    noise_rate: float = 12.0      # Hz of exploration spikes per noise neuron
    noise_weight: float = 60.0    # mV of drive per exploration spike
    w_init: tuple[float, float] = (2.0, 6.0)
    w_max: float = 16.0
    lr: float = 0.01
    a_plus: float = 1.0
    a_minus: float = 0.6
    tau_c: float = 100.0          # ms
    tau_dopamine: float = 20.0    # ms
    reward_eat: float = 1.0
    reward_shaping: float = 2.0   # per rad of alignment gained in a frame
    baseline_tau: float = 5.0     # s: running-average reward baseline
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Check every knob; :class:`ValueError` names the first bad one."""
        for name in ("foragers", "food", "eye_neurons", "nose_neurons", "motor_per_side"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: must be an integer >= 1, got {v!r}")
        for name in ("arena", "eat_radius", "frame_dt", "dt", "rate_ref", "eye_sigma", "tau_c", "tau_dopamine",
                     "baseline_tau", "w_max", "motor_tau_m", "motor_tau_e"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{name}: must be a number > 0, got {v!r}")
        if self.eye_code not in EYE_CODES:
            raise ValueError(f"eye_code: must be one of {EYE_CODES}, got {self.eye_code!r}")
        if not isinstance(self.eye_gain, (int, float)) or not math.isfinite(self.eye_gain) or self.eye_gain < 0:
            raise ValueError(f"eye_gain: must be a number >= 0 (mV), got {self.eye_gain!r}")
        if self.frame_dt < self.dt:
            raise ValueError(f"frame_dt: must be >= dt ({self.dt}), got {self.frame_dt}")


def forager_circuit(cfg: ForagerConfig) -> Circuit:
    """The forager brain: eye + nose -> motor (reward-STDP), explore -> noise -> motor."""
    m = cfg.motor_per_side
    rule = RewardSTDP(a_plus=cfg.a_plus, a_minus=cfg.a_minus, tau_plus=20.0, tau_minus=20.0,
                      w_min=0.0, w_max=cfg.w_max, lr=cfg.lr, tau_c=cfg.tau_c,
                      tau_dopamine=cfg.tau_dopamine, update_every=10)
    motor = LIF(tau_m=cfg.motor_tau_m, tau_e=cfg.motor_tau_e, v_rest=-65.0, v_reset=-65.0, v_thresh=-52.0, t_ref=2.0)
    c = Circuit("forager")
    c.add_population("eye", cfg.eye_neurons, LIF())
    c.add_population("nose", cfg.nose_neurons, LIF())
    c.add_population("noise", 2 * m, LIF())
    c.add_population("motor", 2 * m, motor)
    if cfg.eye_code == "current":  # one channel per eye neuron; the game writes its tuning (eye_input)
        c.add_sensor("eye", "eye", channels=cfg.eye_neurons, kind="current", low=0.0, high=1.0, gain=cfg.eye_gain)
    else:
        c.add_sensor("eye", "eye", channels=1, kind="gaussian", low=-1.0, high=1.0, max_rate=cfg.eye_rate,
                     sigma=cfg.eye_sigma)
    c.add_sensor("nose", "nose", channels=1, kind="poisson", low=0.0, high=1.0, max_rate=cfg.nose_rate)
    c.add_sensor("explore", "noise", channels=2, kind="poisson", low=0.0, high=1.0, max_rate=cfg.noise_rate)
    c.add_actuator("motor", "motor", channels=2, kind="rate")
    lo, hi = cfg.w_init
    c.connect("eye", "motor", weight=Uniform(lo, hi), name="eye->motor", plasticity=rule)
    if cfg.nose_to_motor:
        c.connect("nose", "motor", weight=Uniform(lo, hi), name="nose->motor", plasticity=rule)
    c.connect("noise", "motor", rule=OneToOne(), weight=cfg.noise_weight, name="noise->motor")
    if cfg.inhibition > 0:  # left and right motor neurons inhibit each other (a soft decision)
        left, right = range(m), range(m, 2 * m)
        pre = tuple(i for i in left for _ in right) + tuple(j for j in right for _ in left)
        post = tuple(j for _ in left for j in right) + tuple(i for _ in right for i in left)
        c.connect("motor", "motor", rule=Pairs(pre, post), weight=-cfg.inhibition, name="motor-|motor")
    return c


def eye_input(cfg: ForagerConfig, angle: F64) -> npt.NDArray[np.float32]:
    """What the game writes into the ``eye`` sensor for the food angle (rad), (foragers, channels).

    ``eye_code="gaussian"``: one channel, ``angle / pi`` (the runtime's Gaussian encoder draws
    Poisson spikes from it with each brain's random stream). ``eye_code="current"``: one
    channel per eye neuron, its Gaussian tuning ``exp(-(x - pref)^2 / (2 (2 eye_sigma)^2))`` of
    ``x = angle / pi`` (preferred values evenly spaced over [-1, 1], the Gaussian encoder's),
    which the sensor turns into ``eye_gain`` mV of drive at the peak: no random draw, so
    foragers in the same state steer the same.
    """
    x = np.asarray(angle, np.float64) / np.pi
    if cfg.eye_code != "current":
        return x[:, None].astype(np.float32)
    pref = np.linspace(-1.0, 1.0, cfg.eye_neurons) if cfg.eye_neurons > 1 else np.zeros(1)
    z = (x[:, None] - pref[None, :]) / (2.0 * cfg.eye_sigma)
    return np.exp(-0.5 * z * z).astype(np.float32)


def motor_law(cfg: ForagerConfig, rate_left: F64, rate_right: F64) -> tuple[F64, F64]:
    """Differential drive: the two motor channels' firing rates to a turn and a speed.

    Parameters
    ----------
    cfg : ForagerConfig
        Uses ``turn_max`` (rad/s), ``rate_ref`` (Hz), ``speed_min`` and ``speed_gain`` (arena/s).
    rate_left, rate_right : ndarray
        Firing rate (Hz) of the left and right motor channel, one per forager.

    Returns
    -------
    turn : ndarray
        ``turn_max * tanh((right - left) / rate_ref)`` (rad/s, positive = counter-clockwise).
    speed : ndarray
        ``speed_min + speed_gain * min((left + right) / (2 rate_ref), 1.5)`` (arena/s).
    """
    turn = cfg.turn_max * np.tanh((rate_right - rate_left) / cfg.rate_ref)
    speed = cfg.speed_min + cfg.speed_gain * np.minimum((rate_left + rate_right) / (2.0 * cfg.rate_ref), 1.5)
    return np.asarray(turn, np.float64), np.asarray(speed, np.float64)


def alignment_gain(ang_before: F64, ang_after: F64) -> F64:
    """Shaping term: alignment gained (rad) toward the item that was nearest before moving.

    ``|ang_before| - |ang_after|``, set to 0 where it jumps by 1 rad or more (the nearest
    item changed: eaten, or another one came closer).
    """
    gain = np.abs(ang_before) - np.abs(ang_after)
    return np.asarray(np.where(np.abs(gain) < 1.0, gain, 0.0), np.float64)


def wrap_angle(a: F64) -> F64:
    """Angles into [-pi, pi)."""
    return np.asarray((a + np.pi) % (2.0 * np.pi) - np.pi, dtype=np.float64)


class Arena:
    """A square torus with food items; all foragers' state as arrays (vectorized)."""

    def __init__(self, cfg: ForagerConfig, seed: int) -> None:
        self.cfg = cfg
        self.rng = np.random.default_rng([seed, 0xF00D])
        n, s = cfg.foragers, cfg.arena
        self.pos: F64 = self.rng.uniform(0.0, s, size=(n, 2))
        self.heading: F64 = self.rng.uniform(-np.pi, np.pi, size=n)
        self.food: F64 = self.rng.uniform(0.0, s, size=(cfg.food, 2))
        self.eaten_total: npt.NDArray[np.int64] = np.zeros(n, np.int64)

    def _delta(self) -> F64:
        """(foragers, food, 2) shortest displacement on the torus."""
        s = self.cfg.arena
        d = self.food[None, :, :] - self.pos[:, None, :]
        return np.asarray((d + 0.5 * s) % s - 0.5 * s, dtype=np.float64)

    def sense(self) -> tuple[F64, F64]:
        """(angle of the nearest food relative to the heading in [-pi, pi), closeness in [0, 1])."""
        d = self._delta()
        dist = np.hypot(d[..., 0], d[..., 1])
        j = np.argmin(dist, axis=1)
        r = np.arange(self.pos.shape[0])
        dx, dy = d[r, j, 0], d[r, j, 1]
        ang = wrap_angle(np.arctan2(dy, dx) - self.heading)
        close = np.clip(1.0 - dist[r, j] / (0.5 * self.cfg.arena), 0.0, 1.0)
        return ang, close

    def move(self, turn: F64, speed: F64, dt: float) -> None:
        """Turn by ``turn`` (rad/s) and walk ``speed`` (arena/s) for ``dt`` seconds on the torus."""
        self.heading = wrap_angle(self.heading + turn * dt)
        step = speed * dt
        self.pos = (self.pos + np.stack([np.cos(self.heading), np.sin(self.heading)], axis=1) * step[:, None]) \
            % self.cfg.arena

    def eat(self) -> npt.NDArray[np.int64]:
        """Food items within ``eat_radius`` are eaten (by every forager that reaches them this
        frame) and respawn at random places. Returns items eaten per forager."""
        d = self._delta()
        hit = (d[..., 0] ** 2 + d[..., 1] ** 2) <= self.cfg.eat_radius ** 2
        count: npt.NDArray[np.int64] = hit.sum(axis=1).astype(np.int64)
        gone = hit.any(axis=0)
        k = int(gone.sum())
        if k:
            self.food[gone] = self.rng.uniform(0.0, self.cfg.arena, size=(k, 2))
        self.eaten_total += count
        return count


@dataclass
class RunResult:
    """Outcome of one run: the learning curve and the food rate over the final window."""

    mode: str
    seed: int
    minutes: float
    curve_t: list[float]               # minutes (end of each bin)
    curve_food: list[float]            # food per forager per minute in each bin
    food_per_min: float                # over the evaluation window (last ``eval_fraction``)
    wall_s: float
    steps: int

    def to_dict(self) -> dict[str, Any]:
        """This result as a JSON-ready dict."""
        return asdict(self)


class ForagerGame:
    """One arena, one world of forager brains, and the frame loop.

    Parameters
    ----------
    cfg : ForagerConfig
    seed : int
        Seeds the world (initial weights, spike noise) and the arena.
    mode : {"learn", "frozen", "random"}
        ``learn``: plasticity on; ``frozen``: the same initial brains with learning off;
        ``random``: motors ignored, random turning at the same speed range.
    backend : str
    shared : bool
        With ``mode="learn"``: all foragers learn as one learner (``World.share_learning``: each
        brain's reward-STDP change is averaged over the foragers after every frame and every
        brain gets the result, so the brains stay identical); ``learning_group`` is the group.
        Default False: each forager learns on its own.
    """

    def __init__(self, cfg: ForagerConfig, seed: int = 0, mode: str = "learn", backend: str = "numpy",
                 shared: bool = False) -> None:
        cfg.validate()
        if mode not in MODES:
            raise ValueError(f"mode: must be one of {MODES}, got {mode!r}")
        self.cfg, self.seed, self.mode = cfg, seed, mode
        self.arena = self.make_arena(cfg, seed)
        substeps = max(64, round(cfg.frame_dt / cfg.dt) + 2)
        self.world = World(dt=cfg.dt, backend=backend, seed=seed, max_substeps=substeps)
        self.circuit = self.make_circuit(cfg)
        self.brains = self.world.spawn(self.circuit, cfg.foragers)
        self.world.learning(mode == "learn")
        self.learning_group = self.world.share_learning([b.id for b in self.brains]) if shared else None
        self.group = self.world.group(self.circuit)
        self.eye = self.group.sensor("eye")
        self.nose = self.group.sensor("nose")
        self.explore = self.group.sensor("explore")
        self.motor = self.group.actuator("motor")
        self.explore[...] = 1.0
        self.rng = np.random.default_rng([seed, 0xACE])
        self.baseline = np.zeros(cfg.foragers)
        self.frames = 0
        self.last_turn = np.zeros(cfg.foragers)
        self.last_reward = np.zeros(cfg.foragers)
        self.brain_cpu_s = 0.0
        """Process CPU time (s) spent choosing actions so far: the brains' advance and the motor
        read-out (``random``: drawing the random turns); the arena is not counted."""

    def make_arena(self, cfg: ForagerConfig, seed: int) -> Arena:
        """The arena (a hook for games built on this one)."""
        return Arena(cfg, seed)

    def make_circuit(self, cfg: ForagerConfig) -> Circuit:
        """The brain every forager gets (a hook for games built on this one)."""
        return forager_circuit(cfg)

    @property
    def minutes(self) -> float:
        """Game time played so far (minutes)."""
        return self.frames * self.cfg.frame_dt / 60.0

    def frame(self) -> npt.NDArray[np.int64]:
        """One game frame: sense -> think (one advance) -> act -> eat -> reward. Returns food eaten."""
        cfg, A = self.cfg, self.arena
        ang, close = A.sense()
        self.eye[...] = eye_input(cfg, ang)
        self.nose[:, 0] = close
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
        eaten = A.eat()
        ang2, _ = A.sense()
        r = cfg.reward_eat * eaten + cfg.reward_shaping * alignment_gain(ang, ang2)
        k = cfg.frame_dt / cfg.baseline_tau
        da = r - self.baseline
        self.baseline = self.baseline + k * (r - self.baseline)
        if self.mode == "learn":
            self.group.reward(da)
        self.last_turn, self.last_reward = turn, da
        self.frames += 1
        return eaten

    def run(self, minutes: float, bins: int = 12, eval_fraction: float = 0.25,
            progress: Callable[[int, int], None] | None = None) -> RunResult:
        """Run ``minutes`` of game time; the food rate is measured over the last ``eval_fraction``."""
        n_frames = max(1, round(minutes * 60.0 / self.cfg.frame_dt))
        per_bin = max(1, n_frames // bins)
        eval_from = n_frames - max(1, round(n_frames * eval_fraction))
        curve_t: list[float] = []
        curve_f: list[float] = []
        acc = 0
        acc_eval = 0
        t0 = time.perf_counter()
        steps0 = self.world.step_count
        for i in range(n_frames):
            e = int(self.frame().sum())
            acc += e
            if i >= eval_from:
                acc_eval += e
            if (i + 1) % per_bin == 0 or i + 1 == n_frames:
                span = ((i % per_bin) + 1) * self.cfg.frame_dt / 60.0
                curve_t.append(round(self.minutes, 4))
                curve_f.append(acc / self.cfg.foragers / span)
                acc = 0
            if progress is not None:
                progress(i + 1, n_frames)
        eval_min = (n_frames - eval_from) * self.cfg.frame_dt / 60.0
        return RunResult(self.mode, self.seed, minutes, curve_t, curve_f,
                         acc_eval / self.cfg.foragers / eval_min, time.perf_counter() - t0,
                         self.world.step_count - steps0)


# ----------------------------------------------------------------------------- plotting / viewing


def plot_curves(results: list[RunResult], path: Path) -> None:
    """Learning curves (food per forager per minute vs minutes) to a PNG (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for r in results:
        ax.plot(r.curve_t, r.curve_food, marker="o", label=f"{r.mode} (seed {r.seed})")
    ax.set_xlabel("game time (min)")
    ax.set_ylabel("food per forager per minute")
    ax.set_title("spikeforge foragers: reward-modulated STDP")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def view(game: ForagerGame, frames: int | None, screenshot: Path | None, size: int = 640) -> int:
    """Show the arena live with pygame; with ``screenshot`` save the last frame and quit."""
    import os

    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    pygame.display.init()
    pygame.font.init()
    screen = pygame.display.set_mode((size, size + 40))
    pygame.display.set_caption("spikeforge foragers")
    font = pygame.font.Font(None, 22)
    clock = pygame.time.Clock()
    cfg = game.cfg
    scale = size / cfg.arena
    done = 0
    running = True
    total = 0
    start_min = game.minutes  # the rate counts food eaten in this view only, not in earlier training
    while running:
        for ev in pygame.event.get():
            if ev.type == pygame.QUIT or (ev.type == pygame.KEYDOWN and ev.key == pygame.K_ESCAPE):
                running = False
        total += int(game.frame().sum())
        screen.fill((18, 20, 28))
        for fx, fy in game.arena.food * scale:
            pygame.draw.circle(screen, (90, 220, 110), (int(fx), int(fy)), 4)
        ends = game.arena.pos + 0.03 * np.stack([np.cos(game.arena.heading), np.sin(game.arena.heading)], axis=1)
        for (x, y), (ex, ey), r in zip(game.arena.pos * scale, ends * scale, game.last_reward, strict=True):
            col = (240, 200, 80) if r > 0 else (200, 120, 240)
            pygame.draw.circle(screen, col, (int(x), int(y)), 6)
            pygame.draw.line(screen, (255, 255, 255), (int(x), int(y)), (int(ex), int(ey)), 2)
        rate = total / cfg.foragers / max(game.minutes - start_min, 1e-9)
        text = f"{game.mode}  t={game.minutes * 60:6.1f}s  food/forager/min={rate:5.1f}  foragers={cfg.foragers}"
        screen.blit(font.render(text, True, (230, 230, 230)), (10, size + 12))
        pygame.display.flip()
        done += 1
        if frames is not None and done >= frames:
            running = False
        if screenshot is None:
            clock.tick(round(1.0 / cfg.frame_dt))
    if screenshot is not None:
        pygame.image.save(screen, str(screenshot))
    pygame.quit()
    return 0


# ----------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """``spikeforge demo foragers`` / ``python -m samples.foragers``."""
    ap = argparse.ArgumentParser(prog="foragers", description="Foragers that learn to find food (R-STDP).")
    ap.add_argument("--foragers", type=int, default=32)
    ap.add_argument("--minutes", type=float, default=3.0, help="game minutes to run headless")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", default="auto", help="auto (native when built), numpy, native, gpu")
    ap.add_argument("--mode", choices=MODES, default="learn")
    ap.add_argument("--plot", type=Path, help="write the learning curve to this PNG")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object")
    ap.add_argument("--view", action="store_true", help="show the arena live (pygame)")
    ap.add_argument("--train", type=float, default=0.0,
                    help="with --view: first train headless for this many game minutes")
    ap.add_argument("--frames", type=int, help="with --view: stop after this many frames")
    ap.add_argument("--screenshot", type=Path, help="with --view: save the last frame here and quit")
    ap.add_argument("--save", type=Path, help="save the trained world (snapshot) here")
    ap.add_argument("--compare", action="store_true",
                    help="headless: run learn, frozen and random on the same seed and compare (one plot)")
    a = ap.parse_args(argv)
    if a.plot:
        from spikeforge.demo import need_matplotlib

        need_matplotlib(ap)  # before the run, not after it
    cfg = ForagerConfig(foragers=a.foragers)
    try:
        game = ForagerGame(cfg, seed=a.seed, mode=a.mode, backend=a.backend)
    except (ValueError, RuntimeError) as exc:
        print(f"foragers: {exc}", file=sys.stderr)
        return 2
    if a.view:
        if a.train > 0:
            game.run(a.train)
        return view(game, a.frames, a.screenshot)
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    results: list[RunResult] = []
    for mode in (MODES if a.compare else (a.mode,)):
        if mode != game.mode:
            game = ForagerGame(cfg, seed=a.seed, mode=mode, backend=a.backend)
        with Progress(TextColumn(f"[bold]{mode}[/] seed {a.seed}"), BarColumn(),
                      TextColumn("{task.percentage:>3.0f}%"), TimeRemainingColumn(), console=console,
                      disable=a.json) as prog:
            task = prog.add_task("run", total=1)

            def tick(i: int, n: int, prog: Progress = prog, task: TaskID = task) -> None:
                if i % 20 == 0 or i == n:
                    prog.update(task, completed=i, total=n)

            results.append(game.run(a.minutes, progress=tick))
        if a.save and mode == "learn":
            game.world.save(a.save)
    if a.plot:
        plot_curves(results, a.plot)
    for res in results:
        report(res, cfg, a.json)
    return 0


def report(res: RunResult, cfg: ForagerConfig, as_json: bool) -> None:
    """Print one run: a JSON line, or a rich table of the learning curve."""
    from rich.console import Console

    if as_json:
        print(json.dumps(res.to_dict()))
    else:
        from rich.table import Table

        t = Table(title=f"foragers ({res.mode}, seed {res.seed}, {cfg.foragers} foragers)")
        t.add_column("minute")
        t.add_column("food / forager / min", justify="right")
        for x, y in zip(res.curve_t, res.curve_food, strict=True):
            t.add_row(f"{x:.2f}", f"{y:.1f}")
        Console().print(t)
        Console().print(f"final window: {res.food_per_min:.2f} food/forager/min; "
                        f"{res.steps} steps in {res.wall_s:.1f} s")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
