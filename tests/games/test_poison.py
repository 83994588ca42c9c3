"""The poison game: food and a look-alike hazard told apart only by smell; learning must discriminate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spikeforge.games.foragers import ForagerConfig
from spikeforge.games.poison import (
    PoisonArena,
    PoisonConfig,
    PoisonGame,
    PoisonResult,
    main,
    poison_circuit,
    run_poison,
)


def test_arena_senses_kind_and_counts_food_and_poison() -> None:
    cfg = PoisonConfig(foragers=2, food=1, poison=1)
    A = PoisonArena(cfg, seed=1)
    assert A.food.shape == (2, 2) and A.is_poison.tolist() == [False, True]
    A.pos[:] = [[0.5, 0.5], [0.1, 0.1]]
    A.heading[:] = 0.0
    A.food[:] = [[0.52, 0.5], [0.1, 0.3]]  # forager 0 on top of food, forager 1 sees poison straight left
    ang, close, poison = A.sense_kind()
    assert poison.tolist() == [0.0, 1.0] and ang[1] == pytest.approx(math.pi / 2) and close[0] > close[1]
    A.pos[1] = [0.1, 0.29]
    food, bad = A.eat_kinds()
    assert food.tolist() == [1, 0] and bad.tolist() == [0, 1]
    assert A.is_poison.tolist() == [False, True]  # respawned as the same kind


def test_config_and_mode_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="poison: must be an integer >= 0"):
        PoisonGame(PoisonConfig(foragers=2, poison=-1))
    with pytest.raises(ValueError, match="mode: must be one of"):
        PoisonGame(PoisonConfig(foragers=2), mode="greedy")
    with pytest.raises(TypeError, match="cfg: PoisonGame needs a PoisonConfig"):
        PoisonGame(ForagerConfig(foragers=2))  # type: ignore[arg-type]


def test_smell_gates_the_two_hidden_maps() -> None:
    c = poison_circuit(PoisonConfig())
    names = {pr.name for pr in c.projections}
    assert {"eye->approach", "eye->avoid", "smell-|approach", "smell-|avoid", "approach->motor",
            "avoid->motor"} <= names
    plastic = {pr.name for pr in c.projections if pr.plasticity is not None}
    assert plastic == {"approach->motor", "avoid->motor"}
    game = PoisonGame(PoisonConfig(foragers=3), seed=2, mode="blind", backend="numpy")
    for _ in range(3):
        game.frame()
    assert np.all(game.smell == 0.0), "blind foragers never smell poison"


def test_learning_beats_frozen_on_a_fixed_seed() -> None:
    # 8 foragers, 2 game minutes, native when built: a few seconds each (~30 s under load)
    cfg = PoisonConfig(foragers=8)
    learn = run_poison(cfg, 1, "learn", 2.0, "auto")
    frozen = run_poison(cfg, 1, "frozen", 2.0, "auto")
    assert learn.net_per_min >= 2.0 * frozen.net_per_min > 0, (learn, frozen)

    def share(r: PoisonResult) -> float:
        return r.poison_per_min / (r.food_per_min + r.poison_per_min)

    assert share(learn) < 0.75 * share(frozen), "learning avoids the poison (a smaller share of what it eats)"


def test_demo_command_prints_the_modes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--foragers", "2", "--minutes", "0.02", "--modes", "frozen,random", "--backend", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "frozen: net" in out and "random: net" in out
    with pytest.raises(SystemExit):
        main(["--modes", "learn,nonsense"])
