"""``spikeforge bench godot`` (spikeforge.bench.godot): its parsing and argument checks, and
the claim it measures, in real headless Godot 3: the foragers sample's brains (no innate
food reflex) learn to find food, so learning on beats the same brains frozen."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.godot_support.harness import GODOT3_SAMPLE, copy_project, godot3_binary

from spikeforge.bench.godot import FOOD_EVERY, food_rate, main, measure_learning, sensor_floats_per_agent

pytestmark = pytest.mark.godot


def test_food_rate_reads_the_scene_lines() -> None:
    # 2 agents; 10 food in each of the first two 10-s windows, 40 in the last two
    lines = [f"{FOOD_EVERY} 10 0", f"{2 * FOOD_EVERY} 20 0", f"{3 * FOOD_EVERY} 60 60", f"{4 * FOOD_EVERY} 100 120"]
    rate, contact, curve = food_rate(lines, agents=2, frames=4 * FOOD_EVERY, eval_fraction=0.5)
    assert curve == [30.0, 30.0, 120.0, 120.0]  # food / forager / minute per 10 s window
    assert rate == 120.0
    assert contact == pytest.approx(120 / 2 / (2 * FOOD_EVERY))
    with pytest.raises(RuntimeError, match="malformed"):
        food_rate(["600 10"], agents=2, frames=600, eval_fraction=0.5)
    with pytest.raises(RuntimeError, match="too few"):
        food_rate([f"{FOOD_EVERY} 1 0"], agents=2, frames=FOOD_EVERY, eval_fraction=0.5)


def test_bad_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--parts", "learning,nonsense"]) == 2
    assert "nonsense" in capsys.readouterr().err
    assert main(["--eval-fraction", "0"]) == 2
    assert "--eval-fraction" in capsys.readouterr().err


def test_sample_genome_senses_food_angle_and_has_no_food_reflex() -> None:
    import json

    circuit = json.loads((GODOT3_SAMPLE / "brains" / "forager.json").read_text(encoding="utf-8"))["circuit"]
    organs = {o["name"]: o for o in circuit["organs"]}
    assert organs["eye"]["kind"] == "gaussian" and (organs["eye"]["low"], organs["eye"]["high"]) == (-1.0, 1.0)
    assert sensor_floats_per_agent(GODOT3_SAMPLE) == 9
    fixed_from_eye = [p for p in circuit["projections"] if p["pre"] in ("eye", "nose") and not p.get("plasticity")]
    assert fixed_from_eye == []
    both = GODOT3_SAMPLE.parent / "godot_foragers" / "brains" / "forager.json"
    assert both.read_text(encoding="utf-8") == (GODOT3_SAMPLE / "brains" / "forager.json").read_text(encoding="utf-8")


@pytest.mark.slow
def test_learning_beats_frozen_in_real_godot3(tmp_path: Path) -> None:
    """One game minute, 32 foragers, same seed: over the last quarter the learning
    foragers eat at least twice what the same brains frozen eat (measured: ~34 vs ~5)."""
    godot = godot3_binary()
    project = copy_project(GODOT3_SAMPLE, tmp_path / "project")
    on = measure_learning(godot, project, tmp_path, 32, 1.0, True, "auto", 11, 0.25)
    off = measure_learning(godot, project, tmp_path, 32, 1.0, False, "auto", 11, 0.25)
    assert on["food_per_forager_min"] > 2.0 * off["food_per_forager_min"], (on, off)
    assert on["curve_food_per_forager_min"][-1] > on["curve_food_per_forager_min"][0]  # it improves
