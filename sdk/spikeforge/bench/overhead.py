"""``spikeforge bench overhead``: the fixed cost of one ``World.advance`` call.

One 100-neuron brain (the smallest useful NPC), frames of 1/60 s at dt 1 ms (16-17
steps per call). Reported: median and 90th-percentile microseconds per
``advance(1/60)`` call, i.e. Python runtime + backend call + the steps themselves.

Goal: <= 30 µs per call.

Example
-------
``spikeforge bench overhead --calls 5000``
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from spikeforge.bench import common_args, emit, load_average, make_world
from spikeforge.model import LIF, Circuit, FixedProbability

GOAL_US = 30.0


def small_circuit() -> Circuit:
    """The 100-neuron NPC brain the overhead is measured on (the smallest useful NPC).

    20 Poisson input neurons (a 4-channel sensor ``s``, up to 50 Hz) drive 80 recurrent LIF neurons
    (a 4-channel rate actuator ``a``, Hz), with delays of 1-3 steps.

    Returns
    -------
    Circuit
    """
    c = Circuit("small100")
    c.add_population("in", 20, LIF(t_ref=2.0))
    c.add_population("n", 80, LIF(bias=14.0), v_init=(-65.0, -50.0))
    c.connect("in", "n", FixedProbability(0.2), weight=2.0)
    c.connect("n", "n", FixedProbability(0.1), weight=1.0, delay=(1, 3))
    c.add_sensor("s", "in", channels=4, kind="poisson", max_rate=50.0)
    c.add_actuator("a", "n", channels=4, kind="rate")
    return c


def main(argv: list[str]) -> int:
    """Run ``spikeforge bench overhead``: fixed cost of one ``World.advance`` call (µs).

    See the module docstring for the setup and what each figure means. Prints a table, or one JSON
    object per measurement with ``--json``.

    Parameters
    ----------
    argv : list of str
        The arguments after ``spikeforge bench overhead`` (``--help`` lists them).

    Returns
    -------
    int
        Exit status: 0.
    """
    ap = argparse.ArgumentParser(prog="spikeforge bench overhead", description=__doc__.split("\n\n")[0])
    common_args(ap)
    ap.add_argument("--calls", type=int, default=3000, help="timed advance calls (default 3000)")
    args = ap.parse_args(argv)
    if args.calls < 1:
        ap.error("--calls: must be >= 1")
    world = make_world(args.backend, args.seed, 0.001, args.threads)
    world.spawn(small_circuit())
    for _ in range(200):
        world.advance(1 / 60)
    us = np.zeros(args.calls)
    steps = 0
    for i in range(args.calls):
        t0 = time.perf_counter()
        res = world.advance(1 / 60)
        us[i] = (time.perf_counter() - t0) * 1e6
        steps += res.steps
    med = float(np.median(us))
    row: dict[str, Any] = {
        "bench": "overhead", "backend": world.backend.name, "seed": args.seed, "neurons": world.layout.n_neurons,
        "calls": args.calls, "steps_per_call": round(steps / args.calls, 2), "us_per_call_median": round(med, 2),
        "us_per_call_p90": round(float(np.percentile(us, 90)), 2), "us_per_call_min": round(float(us.min()), 2),
        "goal_met": med <= GOAL_US, "load_avg": load_average(),
    }
    emit([row], args.json, "overhead: one 100-neuron brain, advance(1/60)",
         [("backend", "backend"), ("steps_per_call", "steps/call"), ("us_per_call_median", "µs/call (median)"),
          ("us_per_call_p90", "µs/call (p90)"), ("us_per_call_min", "µs/call (min)"), ("goal_met", "<= 30 µs")])
    return 0
