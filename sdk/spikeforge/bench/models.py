"""``spikeforge bench models``: step time of one static network per neuron model.

The same network for every model (``--n`` neurons, 80 % excitatory, fixed in-degree
``--indegree`` with 80 % excitatory sources, delay 1 step, no plasticity), each model
with parameters that keep it firing at a few to a few tens of Hz. Reported per model:
microseconds per step (median of ``--repeats`` calls of ``World.step(--steps)``, all
steps in one backend call; wall and process CPU time: on a loaded machine the CPU figure
is the steadier one), the firing rate, and the ratio to plain LIF measured in the same
run.

Example
-------
``spikeforge bench models --model izhikevich,lif --n 4000 --threads 1``
(``--json``: one JSON object per measurement on stdout).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from typing import Any

from spikeforge.bench import CUBA_MODEL, CUBA_WE, CUBA_WI, common_args, emit, load_average, make_world, timed
from spikeforge.model import AdaptiveLIF, Circuit, FixedInDegree, Izhikevich, ModulatedLIF, NeuronModel


def _cuba_kw() -> dict[str, Any]:
    m = CUBA_MODEL
    return {"tau_m": m.tau_m, "tau_e": m.tau_e, "tau_i": m.tau_i, "v_rest": m.v_rest, "v_reset": m.v_reset,
            "v_thresh": m.v_thresh, "t_ref": m.t_ref}


def _qif() -> NeuronModel:
    from spikeforge.model.neurons import QuadraticIF

    return QuadraticIF(bias=2.9)


# model name -> (excitatory model, inhibitory model, w_exc, w_inh, v_init range)
MODELS: dict[str, Callable[[], tuple[NeuronModel, NeuronModel, float, float, tuple[float, float]]]] = {
    "lif": lambda: (CUBA_MODEL, CUBA_MODEL, CUBA_WE, CUBA_WI, (-60.0, -50.0)),
    "adaptive_lif": lambda: (AdaptiveLIF(**_cuba_kw(), b=0.5, tau_w=100.0), CUBA_MODEL, CUBA_WE, CUBA_WI,
                             (-60.0, -50.0)),
    "modulated_lif": lambda: (ModulatedLIF(**_cuba_kw(), habituation=0.2, burst_overshoot=4.0, burst_max=2),
                              CUBA_MODEL, CUBA_WE, CUBA_WI, (-60.0, -50.0)),
    "izhikevich": lambda: (Izhikevich.preset("RS", bias=4.5), Izhikevich.preset("FS", bias=4.5), 0.5, -1.0,
                           (-70.0, -60.0)),
    "quadratic_if": lambda: (_qif(), _qif(), 0.5, -1.0, (-66.0, -52.0)),
}


def network(model: str, n: int, indegree: int) -> Circuit:
    """The bench network of ``model``."""
    exc, inh, we, wi, vi = MODELS[model]()
    n_exc = round(0.8 * n)
    c = Circuit(f"{model}{n}")
    c.add_population("exc", n_exc, exc, v_init=vi)
    c.add_population("inh", n - n_exc, inh, v_init=vi)
    k_exc = round(0.8 * indegree)
    for pre, w, k in (("exc", we, k_exc), ("inh", wi, indegree - k_exc)):
        for post in ("exc", "inh"):
            c.connect(pre, post, FixedInDegree(k), weight=w, delay=1, name=f"{pre}->{post}")
    return c


def measure(model: str, args: argparse.Namespace) -> dict[str, Any]:
    """Step time and firing rate of one neuron model's network (dt = 0.1 ms).

    Parameters
    ----------
    model : str
        A model name of ``MODELS``.
    args : argparse.Namespace
        The parsed options (``--n``, ``--indegree``, ``--brains``, ``--steps``, ``--repeats``, backend, seed, threads).

    Returns
    -------
    dict
        ``us_per_step`` (median wall time), ``cpu_us_per_step``, ``rate_hz`` (mean firing rate), ``load``
        (1-minute load average while measuring) and the setup.
    """
    world = make_world(args.backend, args.seed, 0.0001, args.threads)
    world.spawn(network(model, args.n, args.indegree), args.brains)
    world.step(args.steps)  # warm-up (and past the initial transient)
    times, cpus, spikes = [], [], 0
    for _ in range(args.repeats):
        with timed() as t:
            rec = world.step(args.steps)
        times.append(t.wall)
        cpus.append(t.cpu)
        spikes += int(rec.neurons.size)
    us = statistics.median(times) / args.steps * 1e6
    cpu_us = statistics.median(cpus) / args.steps * 1e6
    rate = spikes / (args.repeats * args.steps * 0.0001 * args.n * args.brains)
    return {"bench": "models", "model": model, "backend": world.backend.name, "n": args.n * args.brains,
            "indegree": args.indegree, "steps": args.steps, "us_per_step": round(us, 2),
            "cpu_us_per_step": round(cpu_us, 2), "rate_hz": round(rate, 1), "load": round(load_average(), 2)}


def main(argv: list[str]) -> int:
    """Run ``spikeforge bench models``: step time of the same network for each neuron model (µs per step).

    See the module docstring for the setup and what each figure means. Prints a table, or one JSON
    object per measurement with ``--json``.

    Parameters
    ----------
    argv : list of str
        The arguments after ``spikeforge bench models`` (``--help`` lists them).

    Returns
    -------
    int
        Exit status: 0; 2 for invalid arguments.
    """
    ap = argparse.ArgumentParser(prog="spikeforge bench models", description=__doc__.split("\n\n")[0])
    common_args(ap)
    ap.add_argument("--model", default=",".join(MODELS),
                    help=f"comma-separated models (default all: {','.join(MODELS)})")
    ap.add_argument("--n", type=int, default=4000, help="neurons per brain (default 4000)")
    ap.add_argument("--brains", type=int, default=1, help="brains (default 1)")
    ap.add_argument("--indegree", type=int, default=80, help="synapses per neuron (default 80)")
    ap.add_argument("--steps", type=int, default=1000, help="steps per timed call (default 1000)")
    ap.add_argument("--repeats", type=int, default=5, help="timed calls per model (default 5)")
    args = ap.parse_args(argv)
    names = [m.strip() for m in args.model.split(",") if m.strip()]
    bad = [m for m in names if m not in MODELS]
    if bad or not names:
        print(f"spikeforge bench models: --model: unknown {bad}; known: {', '.join(MODELS)}", file=sys.stderr)
        return 2
    if args.n < 10 or args.indegree < 2 or args.steps < 1 or args.repeats < 1 or args.brains < 1:
        print("spikeforge bench models: --n >= 10, --indegree >= 2, --steps, --repeats, --brains >= 1",
              file=sys.stderr)
        return 2
    rows = [measure(m, args) for m in names]
    base = next((r["us_per_step"] for r in rows if r["model"] == "lif"), None)
    for r in rows:
        r["vs_lif"] = round(r["us_per_step"] / base, 2) if base else None
    emit(rows, args.json, "step time per neuron model (same network)",
         [("model", "model"), ("backend", "backend"), ("n", "neurons"), ("us_per_step", "µs/step"),
          ("cpu_us_per_step", "CPU µs/step"),
          ("rate_hz", "rate Hz"), ("vs_lif", "× LIF"), ("load", "load")])
    return 0
