"""The foragers game as Gymnasium environments (an anchor for comparing with reinforcement learning).

Same arena, senses, actions and reward as the spiking brains of :mod:`spikeforge.games.foragers`:

* **observation** (per forager, ``float32``): ``[angle / pi, closeness]``: the direction of the
  nearest food item relative to the heading in ``[-1, 1]`` (what the ``eye`` sensor receives)
  and how close it is in ``[0, 1]`` (the ``nose`` sensor);
* **action** (per forager, ``float32`` in ``[-1, 1]^2``): the two motor channels (left, right),
  mapped linearly to firing rates in ``[0, 3 * rate_ref]`` Hz and moved by the brains' own
  differential drive (:func:`~spikeforge.games.foragers.motor_law`);
* **reward**: the game's reward before the spiking brains' running-average baseline:
  ``reward_eat`` per item eaten plus ``reward_shaping`` times the alignment gained toward the
  nearest food (:func:`~spikeforge.games.foragers.alignment_gain`).

Two environments:

:class:`ForagersEnv`
    A standard single-agent :class:`gymnasium.Env`: one forager alone in an arena of
    ``cfg.food`` items, episodes truncated after
    ``episode_s`` seconds. It passes :func:`gymnasium.utils.env_checker.check_env`.
:class:`ForagersArenaEnv`
    A :class:`gymnasium.vector.VectorEnv` whose sub-environments are the ``cfg.foragers``
    foragers of **one shared arena**, the game exactly as the spiking brains play it
    (competition for food included). It never terminates (a continuing task, like the game).
    ``spikeforge bench rl`` trains Stable-Baselines3's PPO on it (parameters shared by all
    foragers, as all spiking foragers share one circuit).

Needs ``gymnasium`` (``pip install 'spikeforge[rl]'``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium import spaces
from gymnasium.vector import VectorEnv

from spikeforge.games.foragers import Arena, ForagerConfig, alignment_gain, motor_law

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Arr = npt.NDArray[Any]

RATE_SPAN = 3.0
"""Actions in ``[-1, 1]`` map to motor rates in ``[0, RATE_SPAN * rate_ref]`` Hz (the drive saturates there)."""


def observation_space() -> spaces.Box:
    """One forager's observation: ``[angle / pi in [-1, 1], closeness in [0, 1]]`` (float32)."""
    return spaces.Box(low=np.array([-1.0, 0.0], np.float32), high=np.array([1.0, 1.0], np.float32),
                      dtype=np.float32)


def action_space() -> spaces.Box:
    """One forager's action: the left and right motor channel in ``[-1, 1]`` (float32)."""
    return spaces.Box(low=-1.0, high=1.0, shape=(2,), dtype=np.float32)


def action_to_rates(cfg: ForagerConfig, actions: npt.ArrayLike) -> tuple[F64, F64]:
    """Map actions ``(n, 2)`` in ``[-1, 1]`` (clipped) to left and right motor rates (Hz).

    Parameters
    ----------
    cfg : ForagerConfig
        Uses ``rate_ref`` (Hz).
    actions : array_like, shape (n, 2)

    Returns
    -------
    rate_left, rate_right : ndarray
        ``(a + 1) / 2 * RATE_SPAN * rate_ref`` per channel.
    """
    a = np.clip(np.asarray(actions, np.float64).reshape(-1, 2), -1.0, 1.0)
    rates = (a + 1.0) * 0.5 * RATE_SPAN * cfg.rate_ref
    return rates[:, 0], rates[:, 1]


class ArenaStepper:
    """The arena half of one game frame for externally chosen actions (shared by both envs).

    Parameters
    ----------
    cfg : ForagerConfig
    seed : int
        Seeds the arena (positions, headings, food) exactly as :class:`ForagerGame` does.
    """

    def __init__(self, cfg: ForagerConfig, seed: int) -> None:
        cfg.validate()
        self.cfg = cfg
        self.arena = Arena(cfg, seed)
        self.frames = 0
        self.eaten_total = 0

    def observe(self) -> F32:
        """Observations of every forager, shape ``(foragers, 2)``."""
        ang, close = self.arena.sense()
        return np.stack([ang / np.pi, close], axis=1).astype(np.float32)

    def step(self, actions: npt.ArrayLike) -> tuple[F32, F64, npt.NDArray[np.int64]]:
        """Move every forager by its action, eat, and score.

        Returns
        -------
        obs : ndarray, shape (foragers, 2)
            The observations after the move.
        reward : ndarray, shape (foragers,)
            ``reward_eat * eaten + reward_shaping * alignment gained``.
        eaten : ndarray of int, shape (foragers,)
            Food items eaten this frame.
        """
        cfg, A = self.cfg, self.arena
        ang, _ = A.sense()
        rl, rr = action_to_rates(cfg, actions)
        if rl.shape[0] != cfg.foragers:
            raise ValueError(f"actions: expected shape ({cfg.foragers}, 2), got {np.shape(actions)}")
        turn, speed = motor_law(cfg, rl, rr)
        A.move(turn, speed, cfg.frame_dt)
        eaten = A.eat()
        ang2, close2 = A.sense()
        reward = cfg.reward_eat * eaten + cfg.reward_shaping * alignment_gain(ang, ang2)
        self.frames += 1
        self.eaten_total += int(eaten.sum())
        obs = np.stack([ang2 / np.pi, close2], axis=1).astype(np.float32)
        return obs, np.asarray(reward, np.float64), eaten

    @property
    def minutes(self) -> float:
        """Game time played so far (minutes)."""
        return self.frames * self.cfg.frame_dt / 60.0


class ForagersEnv(gym.Env[Arr, Arr]):
    """One forager as a single-agent Gymnasium environment.

    Parameters
    ----------
    cfg : ForagerConfig or None
        The game; default ``ForagerConfig(foragers=1)`` (one forager, 40 food items).
        ``cfg.foragers`` must be 1 (:class:`ForagersArenaEnv` runs a shared arena).
    episode_s : float
        Episode length (s of game time); the episode is truncated after ``episode_s / frame_dt``
        frames (there is no terminal state).

    Notes
    -----
    ``info["eaten"]`` is the number of items eaten in the step.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium's class attribute)

    def __init__(self, cfg: ForagerConfig | None = None, episode_s: float = 60.0) -> None:
        self.cfg = ForagerConfig(foragers=1) if cfg is None else cfg
        self.cfg.validate()
        if self.cfg.foragers != 1:
            raise ValueError(f"cfg.foragers: ForagersEnv controls one forager, got {self.cfg.foragers} "
                             "(ForagersArenaEnv runs a shared arena)")
        if not episode_s >= self.cfg.frame_dt:
            raise ValueError(f"episode_s: must be >= frame_dt ({self.cfg.frame_dt}), got {episode_s!r}")
        self.episode_frames = max(1, round(episode_s / self.cfg.frame_dt))
        self.observation_space = observation_space()
        self.action_space = action_space()
        self._stepper: ArenaStepper | None = None
        self._seed = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Arr, dict[str, Any]]:
        """Start an episode in a fresh arena (seeded by ``seed``, else by the env's own generator)."""
        super().reset(seed=seed)
        arena_seed = int(self.np_random.integers(0, 2**31 - 1))
        self._stepper = ArenaStepper(self.cfg, arena_seed)
        return self._stepper.observe()[0], {}

    def step(self, action: Arr) -> tuple[Arr, float, bool, bool, dict[str, Any]]:
        """One game frame (``frame_dt`` s) for the agent's action."""
        if self._stepper is None:
            raise RuntimeError("step: call reset() first")
        obs, reward, eaten = self._stepper.step(np.asarray(action, np.float64).reshape(1, 2))
        truncated = self._stepper.frames >= self.episode_frames
        return obs[0], float(reward[0]), False, truncated, {"eaten": int(eaten[0])}


class ForagersArenaEnv(VectorEnv[Arr, Arr, Arr]):
    """Every forager of one shared arena as a sub-environment (the game as the brains play it).

    Parameters
    ----------
    cfg : ForagerConfig or None
        The game (default: the tuned ``ForagerConfig()``, 32 foragers, 40 food items).
    seed : int
        Arena seed (the same arena as ``ForagerGame(cfg, seed)`` starts with).

    Notes
    -----
    A continuing task: ``terminated`` and ``truncated`` are always false. ``infos["eaten"]``
    holds the items each forager ate in the step. :attr:`stepper` exposes the arena and the
    frame count (``stepper.minutes``: game minutes of experience so far).
    """

    metadata: dict[str, Any] = {  # noqa: RUF012 (gymnasium's class attribute)
        "render_modes": [], "autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP}

    def __init__(self, cfg: ForagerConfig | None = None, seed: int = 0) -> None:
        self.cfg = ForagerConfig() if cfg is None else replace(cfg)
        self.cfg.validate()
        self.num_envs = self.cfg.foragers
        self.single_observation_space = observation_space()
        self.single_action_space = action_space()
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self._seed = seed
        self.stepper = ArenaStepper(self.cfg, seed)

    def reset(self, *, seed: int | list[int] | None = None,
              options: dict[str, Any] | None = None) -> tuple[Arr, dict[str, Any]]:
        """Start a fresh arena (``seed``: an int, or the first of a list; default the constructor's)."""
        if seed is not None:
            self._seed = int(seed[0] if isinstance(seed, list) else seed)
        self.stepper = ArenaStepper(self.cfg, self._seed)
        return self.stepper.observe(), {}

    def step(self, actions: Arr) -> tuple[Arr, Arr, Arr, Arr, dict[str, Any]]:
        """One game frame for all foragers; ``actions`` has shape ``(foragers, 2)``."""
        obs, reward, eaten = self.stepper.step(actions)
        done = np.zeros(self.num_envs, bool)
        return obs, reward, done, done.copy(), {"eaten": eaten}
