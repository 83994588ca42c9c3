"""Write the forager genome used by the Godot foragers samples (Godot 4 and Godot 3).

A forager sees food with 5 rays and walls with 5 rays (``food_eyes``/``wall_eyes``
sensors, closeness 0..1 per ray, Poisson rate coding) and drives two wheels
(``motor``, a 2-channel ``rate`` actuator: left, right, in Hz). It is born with two weak
fixed reflexes (turn towards food, turn away from walls); on top of them random
food->motor and hidden->motor synapses learn by reward-modulated STDP from the reward
the scene sends when food is eaten.

Run ``python samples/godot_foragers/make_genome.py`` to regenerate
``brains/forager.json`` (and ``forager_fast.json``, a second breed for mixed scenes) here
and in ``samples/godot3_foragers/brains/``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from spikeforge.model import LIF, Circuit, FixedProbability, Pairs, Uniform, dumps
from spikeforge.model.plasticity import RewardSTDP

RAYS = 5
PER_RAY = 4
PER_WHEEL = 6


def _ray_to_wheel(crossed: bool) -> Pairs:
    """Rays on the left (the first ones, negative angles) to the left wheel (channel 0)
    or, ``crossed``, to the right wheel; the middle ray to both wheels."""
    pre, post = [], []
    for ray in range(RAYS):
        side = 0 if ray < RAYS // 2 else (1 if ray > RAYS // 2 else -1)
        wheels = [0, 1] if side == -1 else [1 - side if crossed else side]
        for n in range(ray * PER_RAY, (ray + 1) * PER_RAY):
            for wheel in wheels:
                for m in range(wheel * PER_WHEEL, (wheel + 1) * PER_WHEEL):
                    pre.append(n)
                    post.append(m)
    return Pairs(tuple(pre), tuple(post))


def forager() -> Circuit:
    """The forager circuit (see the module docstring)."""
    c = Circuit("forager")
    c.add_population("food_in", RAYS * PER_RAY, LIF(tau_m=10.0))
    c.add_population("wall_in", RAYS * PER_RAY, LIF(tau_m=10.0))
    c.add_population("hidden", 24, LIF(tau_m=20.0, bias=8.0))
    # a bias just above threshold keeps both wheels turning (~20 Hz): foragers wander
    c.add_population("motor", 2 * PER_WHEEL, LIF(tau_m=15.0, bias=16.0), v_init=(-65.0, -52.0))
    # learned: random food->motor and hidden->motor synapses under reward-modulated STDP
    c.connect("food_in", "motor", rule=FixedProbability(0.5), weight=Uniform(0.2, 1.5),
              plasticity=RewardSTDP(w_min=0.0, w_max=6.0, lr=0.002))
    c.connect("food_in", "hidden", rule=FixedProbability(0.3), weight=4.0)
    c.connect("hidden", "motor", rule=FixedProbability(0.3), weight=Uniform(0.2, 1.5),
              plasticity=RewardSTDP(w_min=0.0, w_max=6.0, lr=0.002))
    # inborn, fixed: food seen on one side speeds up the other wheel (turn towards it),
    # walls seen on one side speed up the wheel on that side (turn away from it)
    c.connect("food_in", "motor", rule=_ray_to_wheel(crossed=True), weight=1.5, name="food->motor innate")
    c.connect("wall_in", "motor", rule=_ray_to_wheel(crossed=False), weight=2.5)
    c.add_sensor("food_eyes", "food_in", RAYS, kind="poisson", max_rate=250.0, low=0.0, high=1.0)
    c.add_sensor("wall_eyes", "wall_in", RAYS, kind="poisson", max_rate=250.0, low=0.0, high=1.0)
    c.add_actuator("motor", "motor", 2, kind="rate", low=0.0, high=200.0)
    return c


def fast_forager() -> Circuit:
    """A second breed for mixed scenes: the same circuit, named ``forager_fast``, with
    livelier wheels (motor bias 17 mV instead of 16)."""
    c = forager()
    c.name = "forager_fast"
    c.populations = [p if p.name != "motor" else replace(p, model=LIF(tau_m=15.0, bias=17.0))
                     for p in c.populations]
    return c


def main() -> None:
    here = Path(__file__).resolve().parent
    for folder in (here / "brains", here.parent / "godot3_foragers" / "brains"):
        folder.mkdir(parents=True, exist_ok=True)
        for circuit, name in ((forager(), "forager.json"), (fast_forager(), "forager_fast.json")):
            (folder / name).write_text(dumps(circuit) + "\n", encoding="utf-8")
            print(f"wrote {folder / name}")


if __name__ == "__main__":
    main()
