"""Worked example: imitate a scripted foragers controller, deploy, keep learning online.

1. **Demonstrations.** A hand-written controller ("steer to food": turn toward the
   nearest food item, ``turn = turn_max * tanh(gain * angle)``, cruise with both motors
   at ``rate_ref``) plays :class:`spikeforge.games.foragers.Arena`; every frame records
   what the brain would sense (``eye``: ``eye_input`` of the angle, ``nose`` = closeness,
   ``explore`` = 1) and the controller's turn fraction.
2. **Imitation.** A :class:`~spikeforge.train.CircuitMirror` of the foragers brain
   (``forager_circuit(imitation_config())``: the game's brain with 4x the eye neurons,
   driven by a deterministic current code, and no exploration noise, :data:`IMITATION_BRAIN`)
   learns
   its ``eye->motor``, ``noise->motor`` and ``motor-|motor`` weights (:data:`TRAINABLE`)
   by BPTT so that the game's read-out of the motor rates,
   ``tanh((rate_right - rate_left) / rate_ref)``, matches the controller's turn fraction
   and the mean motor rate matches ``rate_ref`` (the controller cruises at ``rate_ref``).
   Then :data:`DAGGER_ROUNDS` rounds of DAgger (:func:`train_dagger`): the deployed brain
   plays, the states it visits are labelled with the controller's turn and added to the data.
3. **Deployment.** The weights are written into every forager brain of a
   :class:`~spikeforge.games.foragers.ForagerGame` (``apply_weights``), which then plays
   with reward-modulated STDP on (``learn``) or off (``frozen``), against the
   untrained learner and random steering.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from spikeforge.games.foragers import Arena, ForagerConfig, ForagerGame, eye_input, forager_circuit
from spikeforge.train.fit import FitResult, fit
from spikeforge.train.mirror import CircuitMirror, MirrorOutput

F32 = npt.NDArray[np.float32]
STEER_GAIN = 2.5  # 1/rad: the scripted controller's turn = turn_max * tanh(STEER_GAIN * angle)
TRAINABLE = ("eye->motor", "noise->motor", "motor-|motor")
"""Projections the worked example trains. ``eye->motor`` alone cannot reach the controller's
cruise rate and full turns: the fixed 30 mV x 8 mutual inhibition holds the motor near the
12 Hz exploration floor (mean ~13 Hz, turn fraction at most ~0.6); training the inhibition
(it falls to ~2-7 mV) and the exploration weights lets the brain cruise at ``rate_ref`` and
turn fully (docs/performance.md, "Training offline")."""
DAGGER_ROUNDS = 4
"""DAgger rounds of the worked example (:func:`train_dagger`, 50 iterations each after the
100 of imitation): the brain's turn error on the states it visits itself falls from RMS
0.12-0.13 to ~0.065 (docs/performance.md, "Training offline")."""
SPEED_WEIGHT = 1.0  # weight of the cruise-rate term of :func:`imitation_loss` in the worked example
IMITATION_BRAIN: dict[str, Any] = {"eye_neurons": 48, "eye_code": "current", "eye_gain": 100.0, "noise_rate": 0.0}
"""The pretrained brain's :class:`ForagerConfig` knobs (:func:`imitation_config`). The game's
default brain (12 eye neurons, Poisson spikes at 120 Hz peak, 12 Hz exploration noise, tuned for
learning from scratch) steers with a per-frame turn noise of sd ~0.18 for the same food angle,
and the scripted controller loses a fifth of its food rate at a per-forager turn noise of sd
0.04 alone: its foragers herd and each counts the item the herd eats (docs/performance.md,
"Training offline"). 48 eye neurons driven by their Gaussian tuning as a current (no random
draw: foragers in the same state steer the same) and no exploration spikes into the motors
bring it to sd ~0.045 with DAgger."""


ONLINE_LEARNING: dict[str, float] = {"lr": 0.0001, "reward_shaping": 0.0}
"""The reward-STDP settings the pretrained brain keeps learning with online in the worked
example (``spikeforge bench pretrain --online-lr --reward-shaping``): the game's rule at 1/100
of its learning rate, rewarded for food only. The game's own (lr 0.01, shaping 2.0, tuned to
learn the 12-neuron Poisson eye from scratch) moves the trained weights within a game minute
and costs a third of the food rate, shared or not (docs/performance.md, "Training offline")."""


def imitation_config(foragers: int = 32, **overrides: Any) -> ForagerConfig:
    """The game configuration of the worked example: :data:`IMITATION_BRAIN`, then ``overrides``.

    Only brain knobs differ from :class:`ForagerConfig`'s defaults; the arena, the scripted
    controller and the food count are the game's.
    """
    cfg = ForagerConfig(foragers=foragers, **{**IMITATION_BRAIN, **overrides})
    cfg.validate()
    return cfg


def scripted_turn(angle: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The scripted controller's turn fraction in [-1, 1] for the food angle (rad)."""
    return np.asarray(np.tanh(STEER_GAIN * angle), dtype=np.float64)


@dataclass
class Demos:
    """Recorded demonstrations: sensors (frames, foragers, channels) and targets."""

    sensors: dict[str, F32]
    turn: F32           # (frames, foragers) scripted turn fraction
    food_per_min: float  # the scripted controller's food rate (per forager per minute)


def record_demos(cfg: ForagerConfig, seed: int, minutes: float) -> Demos:
    """Play the scripted controller for ``minutes`` of game time and record it."""
    A = Arena(cfg, seed)
    n = max(1, round(minutes * 60.0 / cfg.frame_dt))
    eye = np.zeros((n, cfg.foragers, eye_input(cfg, np.zeros(1)).shape[1]), np.float32)
    nose = np.zeros((n, cfg.foragers, 1), np.float32)
    turn = np.zeros((n, cfg.foragers), np.float32)
    speed = np.full(cfg.foragers, cfg.speed_min + cfg.speed_gain)  # both motors at rate_ref
    eaten = 0
    for f in range(n):
        ang, close = A.sense()
        u = scripted_turn(ang)
        eye[f] = eye_input(cfg, ang)
        nose[f, :, 0] = close
        turn[f] = u
        A.move(cfg.turn_max * u, speed, cfg.frame_dt)
        eaten += int(A.eat().sum())
    sensors = {"eye": eye, "nose": nose, "explore": np.ones((n, cfg.foragers, 2), np.float32)}
    return Demos(sensors, turn, eaten / cfg.foragers / (n * cfg.frame_dt / 60.0))


def record_closed_loop(cfg: ForagerConfig, weights: Any, seed: int, minutes: float,
                       backend: str = "auto") -> Demos:
    """Play the deployed brain (frozen) and label the states it visits with the scripted turn.

    The DAgger step (Ross et al. 2011): imitation trained on the controller's own trajectories
    sees only the states the controller visits; the brain's errors lead it elsewhere (wider
    angles, other approach paths), where it was never taught. Here the brain with ``weights``
    drives a :class:`ForagerGame` (learning off) for ``minutes``; every frame records what it
    sensed and what the controller would have turned (``scripted_turn`` of the same angle).
    ``food_per_min`` is the brain's own food rate on these frames.
    """
    from spikeforge.train.deploy import apply_weights

    game = ForagerGame(cfg, seed=seed, mode="frozen", backend=backend)
    apply_weights(game.brains, weights)
    n = max(1, round(minutes * 60.0 / cfg.frame_dt))
    eye = np.zeros((n, cfg.foragers, eye_input(cfg, np.zeros(1)).shape[1]), np.float32)
    nose = np.zeros((n, cfg.foragers, 1), np.float32)
    turn = np.zeros((n, cfg.foragers), np.float32)
    eaten = 0
    for f in range(n):
        ang, close = game.arena.sense()  # what frame() senses next
        eye[f] = eye_input(cfg, ang)
        nose[f, :, 0] = close
        turn[f] = scripted_turn(ang)
        eaten += int(game.frame().sum())
    sensors = {"eye": eye, "nose": nose, "explore": np.ones((n, cfg.foragers, 2), np.float32)}
    return Demos(sensors, turn, eaten / cfg.foragers / (n * cfg.frame_dt / 60.0))


def aggregate(a: Demos, b: Demos) -> Demos:
    """Two demonstration sets as one (sequences side by side; the shorter sets the frames)."""
    n = min(a.turn.shape[0], b.turn.shape[0])
    sensors = {k: np.concatenate([a.sensors[k][:n], b.sensors[k][:n]], axis=1) for k in a.sensors}
    return Demos(sensors, np.concatenate([a.turn[:n], b.turn[:n]], axis=1), a.food_per_min)


def scripted_food_rate(cfg: ForagerConfig, seed: int, minutes: float) -> float:
    """Food per forager per minute of the scripted controller."""
    return record_demos(cfg, seed, minutes).food_per_min


def imitation_loss(cfg: ForagerConfig, speed_weight: float = SPEED_WEIGHT) -> Any:
    """Loss of the game's read-out of the motor rates against the scripted controller.

    Mean squared error of the turn fraction ``tanh((rate_right - rate_left) / rate_ref)``
    against the controller's, plus ``speed_weight`` times the squared error of the mean
    motor rate in units of ``rate_ref`` against 1 (the controller cruises at ``rate_ref``).
    """
    def loss(out: MirrorOutput, tb: dict[str, torch.Tensor]) -> torch.Tensor:
        rates = out.actuators["motor"]  # (frames, B, 2) Hz
        rl, rr = rates[..., 0], rates[..., 1]
        turn = torch.tanh((rr - rl) / cfg.rate_ref)
        mean = (rl + rr) / (2.0 * cfg.rate_ref)
        return ((turn - tb["turn"]) ** 2).mean() + speed_weight * ((mean - 1.0) ** 2).mean()
    return loss


def make_mirror(cfg: ForagerConfig, seed: int = 0, surrogate: str = "fast_sigmoid",
                slope: float = 0.5, trainable: tuple[str, ...] = TRAINABLE) -> CircuitMirror:
    """A mirror of the foragers brain training ``trainable`` (default :data:`TRAINABLE`).

    ``eye->motor`` keeps the R-STDP rule's bounds ``[0, w_max]`` (it stays plastic in play);
    the gradient through the motor's mutual inhibition is blocked (its weight is still
    trained: the blocked path is the presynaptic spikes, not the weight).
    """
    no_grad = ["motor-|motor"] if cfg.inhibition > 0 else []
    circuit = forager_circuit(cfg)
    if trainable == TRAINABLE:  # the default skips what this configuration lacks (no inhibition)
        have = {p.name for p in circuit.projections}
        trainable = tuple(t for t in trainable if t in have)
    return CircuitMirror(circuit, dt=cfg.dt, seed=seed, trainable=list(trainable), surrogate=surrogate,
                         slope=slope, no_grad_through=no_grad)


def train_imitation(cfg: ForagerConfig, demos: Demos, *, iterations: int = 100, batch: int = 32,
                    window: int = 8, lr: float = 0.5, seed: int = 0, threads: int = 1,
                    callback: Any = None, trainable: tuple[str, ...] = TRAINABLE,
                    speed_weight: float = SPEED_WEIGHT) -> tuple[CircuitMirror, FitResult]:
    """Train the mirror on ``demos``; returns it and the loss curve.

    ``trainable`` names the projections trained (:data:`TRAINABLE`; ``("eye->motor",)`` is
    the earlier, weaker setting) and ``speed_weight`` weighs the cruise-rate term of
    :func:`imitation_loss`.
    """
    torch.set_num_threads(threads)
    mirror = make_mirror(cfg, seed, trainable=trainable)
    steps = round(cfg.frame_dt / cfg.dt)
    res = fit(mirror, demos.sensors, {"turn": demos.turn}, imitation_loss(cfg, speed_weight), steps_per_frame=steps,
              iterations=iterations, batch=batch, window=window, lr=lr, seed=seed, callback=callback)
    return mirror, res


def train_dagger(cfg: ForagerConfig, demos: Demos, *, rounds: int = 2, iterations: int = 100,
                 round_iterations: int = 50, rollout_minutes: float = 1.0, rollout_seed: int = 3000,
                 backend: str = "auto", threads: int = 1, **kw: Any) -> tuple[CircuitMirror, FitResult]:
    """Imitation, then ``rounds`` of DAgger: roll the trained brain out, label, aggregate, train on.

    :func:`train_imitation` on ``demos`` for ``iterations``; then each round plays the
    deployed brain (frozen, :func:`record_closed_loop`, ``rollout_minutes`` on arena seed
    ``rollout_seed + round``), adds those labelled frames to the data set and trains the same
    mirror ``round_iterations`` more (a fresh Adam). ``kw`` goes to :func:`train_imitation`
    (``lr``, ``batch``, ``window``, ``seed``, ``trainable``, ``speed_weight``). Returns the
    mirror and the loss curve of all rounds.
    """
    mirror, res = train_imitation(cfg, demos, iterations=iterations, threads=threads, **kw)
    data = demos
    steps = round(cfg.frame_dt / cfg.dt)
    loss = imitation_loss(cfg, kw.get("speed_weight", SPEED_WEIGHT))
    for r in range(rounds):
        visited = record_closed_loop(cfg, mirror.trained(), rollout_seed + r, rollout_minutes, backend)
        data = aggregate(data, visited)
        more = fit(mirror, data.sensors, {"turn": data.turn}, loss, steps_per_frame=steps,
                   iterations=round_iterations, batch=kw.get("batch", 32), window=kw.get("window", 8),
                   lr=kw.get("lr", 0.5), seed=kw.get("seed", 0) + r + 1)
        res.losses.extend(more.losses)
        res.wall_s += more.wall_s
    return mirror, res


def play(cfg: ForagerConfig, seed: int, mode: str, minutes: float, weights: Any = None,
         backend: str = "auto", bins: int = 4, shared: bool = False) -> dict[str, Any]:
    """One game: ``mode`` in learn / frozen / random, optionally with deployed ``weights``;
    ``shared`` makes the foragers learn as one learner (``ForagerGame``'s ``shared``)."""
    from spikeforge.train.deploy import apply_weights

    game = ForagerGame(cfg, seed=seed, mode=mode, backend=backend, shared=shared)
    if weights is not None:
        apply_weights(game.brains, weights)
        if game.learning_group is not None:
            game.learning_group.sync()  # every forager got the same weights: the group's now
    t0 = time.perf_counter()
    r = game.run(minutes, bins=bins, eval_fraction=1.0)
    return {"mode": mode, "seed": seed, "pretrained": weights is not None, "shared": shared, "curve_t": r.curve_t,
            "curve_food": r.curve_food, "food_per_min": r.food_per_min, "wall_s": time.perf_counter() - t0}
