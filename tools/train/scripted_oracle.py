"""What would a brain that imitates the scripted forager controller *almost* perfectly score?
(the oracle bound of docs/performance.md, "Training offline", issue 19)

Plays the scripted "steer to food" controller (``spikeforge.train.foragers.scripted_turn``) in
the foragers arena for ``--minutes`` on seeds 1..``--seeds`` (32 foragers, the bench's arena),
degraded the ways a spiking brain differs from it:

* ``lag``: the turn is ``(1 - lag) * u(angle now) + lag * u(angle one frame earlier)`` (the
  membranes carry the previous frame into this one's spike count);
* ``noise``: Gaussian noise of this sd added to the turn fraction, per forager and frame;
* ``gain``: the turn fraction scaled (under-turning < 1);
* ``quant``: the turn read out from spike counts of ``8`` motor neurons a side over one frame
  (a 2.5 Hz rate step) when set to 1;
* ``speed``: the cruise speed in units of the controller's;
* ``angle-step``: the controller sees the food angle rounded to this step (rad).

Prints food per forager per minute and % of the undegraded controller.

    PYTHONPATH=sdk:. python tools/train/scripted_oracle.py --seeds 3 --minutes 4
"""
from __future__ import annotations

import argparse
import itertools

import numpy as np

from spikeforge.games.foragers import Arena
from spikeforge.train.foragers import imitation_config, scripted_turn


def run(seed: int, minutes: float, lag: float, noise: float, gain: float, quant: bool,
        speed_f: float, angle_step: float = 0.0) -> float:
    cfg = imitation_config()
    A = Arena(cfg, seed)
    rng = np.random.default_rng([seed, 77])
    n = round(minutes * 60.0 / cfg.frame_dt)
    speed = np.full(cfg.foragers, cfg.speed_min + cfg.speed_gain * speed_f)
    prev = np.zeros(cfg.foragers)
    eaten = 0
    step = 1.0 / (cfg.motor_per_side * cfg.frame_dt)  # Hz: one spike more on one side over a frame
    for _ in range(n):
        ang, _ = A.sense()
        if angle_step > 0:  # the angle seen in steps (a place code of binary channels)
            ang = np.round(ang / angle_step) * angle_step
        u_now = scripted_turn(ang)
        u = gain * ((1.0 - lag) * u_now + lag * prev) if (lag or gain != 1.0) else u_now
        prev = u_now
        if noise > 0:
            u = u + rng.normal(0.0, noise, u.shape)
        if quant:  # rate difference in whole spikes of one side per frame
            diff = np.round(np.arctanh(np.clip(u, -0.999, 0.999)) * cfg.rate_ref / step) * step
            u = np.tanh(diff / cfg.rate_ref)
        A.move(cfg.turn_max * u, speed, cfg.frame_dt)
        eaten += int(A.eat().sum())
    return eaten / (cfg.foragers * minutes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--lag", default="0,0.25,0.5,1")
    ap.add_argument("--noise", default="0,0.03,0.06,0.1")
    ap.add_argument("--gain", default="1")
    ap.add_argument("--quant", default="0")
    ap.add_argument("--speed", default="1")
    ap.add_argument("--angle-step", default="0", help="rad: the controller sees the angle rounded to this step")
    a = ap.parse_args()
    fl = lambda s: [float(x) for x in s.split(",")]  # noqa: E731
    base = [run(s, a.minutes, 0.0, 0.0, 1.0, False, 1.0) for s in range(1, a.seeds + 1)]
    print(f"scripted, seeds 1..{a.seeds}: {' / '.join(f'{b:.1f}' for b in base)} food/forager/min")
    for lag, noise, gain, quant, sp, st in itertools.product(fl(a.lag), fl(a.noise), fl(a.gain), fl(a.quant),
                                                              fl(a.speed), fl(a.angle_step)):
        r = [run(s, a.minutes, lag, noise, gain, bool(quant), sp, st) for s in range(1, a.seeds + 1)]
        pct = [f"{x / b * 100:.0f}" for x, b in zip(r, base, strict=True)]
        print(f"lag {lag:g} noise {noise:g} gain {gain:g} quant {quant:g} speed {sp:g} angle step {st:g}: food "
              + " / ".join(f"{x:.1f}" for x in r) + f" = {' / '.join(pct)} %", flush=True)


if __name__ == "__main__":
    main()
