"""The foragers game as Gymnasium environments (``spikeforge.games.foragers_env``), and the RL bench's helpers."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from spikeforge.bench.rl import Curve, bin_counts
from spikeforge.games.foragers import Arena, ForagerConfig, ForagerGame, motor_law
from spikeforge.games.foragers_env import ForagersArenaEnv, ForagersEnv, action_to_rates


def test_single_forager_env_passes_gymnasiums_checker() -> None:
    env = ForagersEnv(episode_s=1.0)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=5)
    assert obs.dtype == np.float32 and env.observation_space.contains(obs)
    again, _ = env.reset(seed=5)
    assert np.array_equal(obs, again)
    steps, truncated, total = 0, False, 0
    while not truncated:
        obs, r, term, truncated, info = env.step(env.action_space.sample())
        assert not term and isinstance(r, float) and env.observation_space.contains(obs)
        total += info["eaten"]
        steps += 1
    assert steps == 20 and total >= 0


def test_env_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"cfg\.foragers"):
        ForagersEnv(ForagerConfig(foragers=3))
    with pytest.raises(ValueError, match="episode_s"):
        ForagersEnv(episode_s=0.0)
    with pytest.raises(RuntimeError, match="reset"):
        ForagersEnv().step(np.zeros(2, np.float32))
    env = ForagersArenaEnv(ForagerConfig(foragers=4), seed=1)
    with pytest.raises(ValueError, match="actions"):
        env.step(np.zeros((3, 2), np.float32))


def test_arena_env_is_the_game_the_brains_play() -> None:
    cfg = ForagerConfig(foragers=6)
    env = ForagersArenaEnv(cfg, seed=3)
    obs, _ = env.reset()
    game = ForagerGame(cfg, seed=3, mode="frozen")
    ang, close = game.arena.sense()
    assert obs.shape == (6, 2) and env.num_envs == 6
    np.testing.assert_allclose(obs[:, 0], ang / np.pi, rtol=1e-6)  # the eye's value
    np.testing.assert_allclose(obs[:, 1], close, rtol=1e-6)  # the nose's value
    # the action maps to motor rates and moves the forager by the brains' own law
    acts = np.tile(np.array([[-1.0, 1.0]], np.float32), (6, 1))
    rl, rr = action_to_rates(cfg, acts)
    assert rl.tolist() == [0.0] * 6 and rr[0] == pytest.approx(3 * cfg.rate_ref)
    ref = Arena(cfg, 3)
    turn, speed = motor_law(cfg, rl, rr)
    ref.move(turn, speed, cfg.frame_dt)
    _, reward, term, trunc, info = env.step(acts)
    np.testing.assert_allclose(env.stepper.arena.heading, ref.heading)
    assert reward.shape == (6,) and not term.any() and not trunc.any() and info["eaten"].shape == (6,)
    assert env.stepper.minutes == pytest.approx(cfg.frame_dt / 60.0)


def test_curve_bins_and_first_reach() -> None:
    c = bin_counts(np.ones(2400 + 10), 0.05, 2, 0.5)  # 1 item per frame, 2 foragers: 600 per forager-min
    assert c.t_min == [0.5, 1.0, 1.5, 2.0] and c.food == [600.0] * 4  # the 10-frame tail is dropped
    assert Curve([1.0, 2.0, 3.0], [5.0, 9.0, 20.0]).first_reach(8.0) == 2.0
    assert Curve([1.0], [5.0]).first_reach(8.0) is None
