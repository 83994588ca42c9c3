"""Write the forager genome used by the Godot foragers samples (Godot 4 and Godot 3).

The circuit is the one of the Python foragers game (``spikeforge.games.foragers``,
``forager_circuit`` with the default ``ForagerConfig``), which learns robustly, plus wall
avoidance for the Godot arena (the Python arena is a torus without walls):

* ``eye`` (1 channel, Gaussian population code over 12 neurons): the angle of the nearest
  food item relative to the heading, in [-1, 1] (= angle / pi), computed by the scene;
* ``nose`` (1 channel, Poisson): how close that food item is, 0..1;
* ``explore`` (2 channels, Poisson, the scene holds them at 1): exploration noise, one
  noise neuron per motor neuron;
* ``wall_eyes`` (5 raycast channels, closeness 0..1, Poisson): an inborn, fixed reflex
  speeds up the wheel on the side of a wall (turns away from it);
* ``motor`` (2-channel ``rate`` actuator, left and right, Hz); the two sides inhibit
  each other (a soft decision).

Nothing innate steers to food: the eye->motor synapses start random and learn by
reward-modulated STDP from the reward the scene sends (food eaten plus a small shaping
term for turning toward the nearest food, minus a running-average baseline).

Run ``python samples/godot_foragers/make_genome.py`` to regenerate
``brains/forager.json`` (and ``forager_fast.json``, a second breed for mixed scenes) here
and in ``samples/godot3_foragers/brains/``.
"""

from __future__ import annotations

from pathlib import Path

from spikeforge.games.foragers import ForagerConfig, forager_circuit
from spikeforge.model import LIF, Circuit, Pairs, dumps

RAYS = 5
PER_RAY = 4
WALL_WEIGHT = 12.0


def _ray_to_wheel(per_wheel: int) -> Pairs:
    """Wall rays on the left (the first ones, negative angles) to the left wheel (channel
    0; the drive turns away from the faster wheel's side), rays on the right to the right
    wheel, the middle ray to both."""
    pre, post = [], []
    for ray in range(RAYS):
        side = 0 if ray < RAYS // 2 else (1 if ray > RAYS // 2 else -1)
        wheels = [0, 1] if side == -1 else [side]
        for n in range(ray * PER_RAY, (ray + 1) * PER_RAY):
            for wheel in wheels:
                for m in range(wheel * per_wheel, (wheel + 1) * per_wheel):
                    pre.append(n)
                    post.append(m)
    return Pairs(tuple(pre), tuple(post))


def forager(cfg: ForagerConfig | None = None) -> Circuit:
    """The forager circuit (see the module docstring)."""
    cfg = cfg or ForagerConfig()
    c = forager_circuit(cfg)
    c.add_population("wall_in", RAYS * PER_RAY, LIF(tau_m=10.0))
    c.add_sensor("wall_eyes", "wall_in", RAYS, kind="poisson", max_rate=250.0, low=0.0, high=1.0)
    c.connect("wall_in", "motor", rule=_ray_to_wheel(cfg.motor_per_side), weight=WALL_WEIGHT,
              name="wall->motor innate")
    return c


def fast_forager() -> Circuit:
    """A second breed for mixed scenes: the same circuit, named ``forager_fast``, that
    explores more (exploration noise 16 Hz instead of 12)."""
    c = forager(ForagerConfig(noise_rate=16.0))
    c.name = "forager_fast"
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
