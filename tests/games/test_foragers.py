"""The foragers game: vectorized arena, organ views, headless runner, plot, pygame view, learning."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from spikeforge.games.foragers import Arena, ForagerConfig, ForagerGame, eye_input, forager_circuit, main


def test_arena_senses_direction_and_eats() -> None:
    cfg = ForagerConfig(foragers=3, food=2)
    A = Arena(cfg, seed=1)
    A.pos[:] = [[0.5, 0.5], [0.1, 0.1], [0.95, 0.5]]
    A.heading[:] = [0.0, 0.0, 0.0]
    A.food[:] = [[0.5, 0.6], [0.03, 0.5]]  # forager 0: food straight left (+90 deg); 2: food ahead across the wrap
    ang, close = A.sense()
    assert ang[0] == pytest.approx(math.pi / 2)
    assert ang[2] == pytest.approx(0.0, abs=1e-9)
    assert 0 < close[2] < 1 and close[0] > close[1]
    A.pos[2] = [0.02, 0.5]  # within eat radius of food 1 (across nothing)
    eaten = A.eat()
    assert eaten.tolist() == [0, 0, 1]
    assert not np.allclose(A.food[1], [0.03, 0.5])  # respawned
    A.move(np.array([math.pi, 0.0, 0.0]), np.array([0.0, 0.1, 0.0]), 0.5)
    assert A.heading[0] == pytest.approx(math.pi / 2)
    assert A.pos[1] == pytest.approx([0.15, 0.1])


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="foragers: must be an integer >= 1"):
        ForagerGame(ForagerConfig(foragers=0))
    with pytest.raises(ValueError, match="frame_dt: must be >= dt"):
        ForagerGame(ForagerConfig(frame_dt=0.0005))
    with pytest.raises(ValueError, match="mode: must be one of"):
        ForagerGame(ForagerConfig(foragers=2), mode="greedy")
    with pytest.raises(ValueError, match="eye_code: must be one of"):
        ForagerGame(ForagerConfig(eye_code="spikes"))
    with pytest.raises(ValueError, match="eye_gain: must be a number >= 0"):
        ForagerGame(ForagerConfig(eye_gain=-1.0))
    with pytest.raises(ValueError, match="motor_tau_m: must be a number > 0"):
        ForagerGame(ForagerConfig(motor_tau_m=0.0))


def test_current_coded_eye_is_deterministic_across_foragers() -> None:
    # eye_code="current": the game writes each eye neuron's tuning as a drive, no random draw,
    # so two foragers that see the same angle fire the same spikes (and steer the same)
    cfg = ForagerConfig(foragers=4, eye_neurons=9, eye_code="current", noise_rate=0.0)
    game = ForagerGame(cfg, seed=3, mode="frozen", backend="numpy")
    assert game.eye.shape == (4, 9)
    x = eye_input(cfg, np.array([0.0, math.pi, -math.pi / 2]))
    assert x.shape == (3, 9) and x[0, 4] == 1.0 and x[1, 8] == 1.0 and x[2, 2] == pytest.approx(1.0)
    assert np.all(np.diff(x[0, 4:]) < 0)  # falls off from the preferred value
    game.arena.pos[1] = game.arena.pos[0]
    game.arena.heading[1] = game.arena.heading[0]
    w = np.random.default_rng(0).uniform(0.0, 16.0, len(game.brains[0].weights("eye->motor"))).astype(np.float32)
    for b in game.brains:  # the random initial weights differ per brain: make them equal
        b.weights("eye->motor").set(w)
    motor = []
    for _ in range(10):
        game.frame()
        motor.append(game.motor.copy())
    m = np.array(motor)
    assert m[:, 0].sum() > 0
    assert np.array_equal(game.arena.pos[0], game.arena.pos[1])
    assert np.array_equal(m[:, 0], m[:, 1])
    assert not np.array_equal(m[:, 0], m[:, 2])


def test_game_writes_organs_through_zero_copy_group_views() -> None:
    game = ForagerGame(ForagerConfig(foragers=5), seed=2, mode="learn", backend="numpy")
    L = game.world.layout
    assert np.shares_memory(game.eye, L.sensor_values) and game.eye.shape == (5, 1)
    assert np.shares_memory(game.motor, L.act_out) and game.motor.shape == (5, 2)
    w0 = L.synapse["w"].copy()
    for _ in range(20):
        game.frame()
    assert np.all(np.abs(game.eye[:, 0]) <= 1.0)
    assert game.world.step_count == 20 * 25
    assert game.motor.sum() > 0, "motors fire (exploration noise at least)"
    assert not np.array_equal(L.synapse["w"], w0), "eye->motor weights learn"
    c = forager_circuit(game.cfg)
    assert {pr.name for pr in c.projections} >= {"eye->motor", "noise->motor", "motor-|motor"}


def test_random_and_frozen_modes_do_not_learn() -> None:
    for mode in ("frozen", "random"):
        game = ForagerGame(ForagerConfig(foragers=4), seed=3, mode=mode, backend="numpy")
        w0 = game.world.layout.synapse["w"].copy()
        res = game.run(0.01, bins=2)
        assert np.array_equal(game.world.layout.synapse["w"], w0)
        assert res.mode == mode and len(res.curve_food) == 2 and res.food_per_min >= 0


def test_headless_runner_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "curve.png"
    assert main(["--foragers", "4", "--minutes", "0.02", "--plot", str(png), "--json", "--backend", "numpy",
                 "--compare"]) == 0
    outs = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [o["mode"] for o in outs] == ["learn", "frozen", "random"]
    assert outs[0]["steps"] == 24 * 25 and len(outs[0]["curve_food"]) >= 1 and outs[2]["steps"] == 0
    assert png.stat().st_size > 5000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pygame_view_saves_a_nonempty_screenshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pygame  # installed by `make test`; a missing viewer dependency must fail, not skip

    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    shot = tmp_path / "view.png"
    assert main(["--view", "--frames", "5", "--screenshot", str(shot), "--foragers", "6", "--backend", "numpy"]) == 0
    assert shot.stat().st_size > 1000
    img = pygame.image.load(str(shot))
    arr = pygame.surfarray.array3d(img)
    assert arr.shape[:2] == (640, 680)
    colours = {tuple(int(x) for x in arr[i, j]) for i in range(0, 640, 4) for j in range(0, 680, 4)}
    assert (18, 20, 28) in colours and len(colours) >= 3, "background plus foragers and food drawn"
    assert os.environ["SDL_VIDEODRIVER"] == "dummy"


@pytest.mark.slow
@pytest.mark.native
def test_foragers_learn_to_find_food() -> None:
    """90 s of game: trained foragers find clearly more food than the same brains frozen."""
    cfg = ForagerConfig(foragers=16)
    learned = ForagerGame(cfg, seed=7, mode="learn", backend="native").run(1.5, bins=3, eval_fraction=0.33)
    frozen = ForagerGame(cfg, seed=7, mode="frozen", backend="native").run(1.5, bins=3, eval_fraction=0.33)
    assert learned.food_per_min > 1.6 * frozen.food_per_min, (learned.food_per_min, frozen.food_per_min)
    assert learned.curve_food[-1] > learned.curve_food[0]


def test_shared_learning_keeps_the_foragers_identical() -> None:
    """ForagerGame(shared=True): the foragers learn as one learner (World.share_learning), so
    their eye->motor weights move but stay identical; per-brain learning lets them drift apart."""
    cfg = ForagerConfig(foragers=4)
    runs = {}
    for shared in (True, False):
        game = ForagerGame(cfg, seed=3, mode="learn", shared=shared)
        assert (game.learning_group is not None) == shared
        start = game.brains[0].weights("eye->motor").w.copy()
        for _ in range(40):
            game.frame()
        w = np.stack([b.weights("eye->motor").w for b in game.brains])
        runs[shared] = (start, w)
    start, w = runs[True]
    assert (w == w[0]).all() and not np.array_equal(w[0], start)
    _, w_own = runs[False]
    assert not (w_own == w_own[0]).all()
