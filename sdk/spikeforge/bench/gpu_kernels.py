"""GPU benchmark: the classic CUBA network (Vogels & Abbott 2005) on one backend, with the
adapter named, so GPU figures can be compared with the CPU backends on the same machine.

Run ``python -m spikeforge.bench.gpu_kernels --backend gpu --sizes 4000,40000``. Each size
is one brain of ``n`` LIF neurons (80 % excitatory), 80 synapses per neuron on average
(p = 80 / n, as in the Brian2 scaling runs), dt = 0.1 ms, advanced ``--substeps`` steps
per call (one GPU submission per call) for ``--steps`` steps; the first step is a
warm-up, run but not timed. ``--check`` also runs the
numpy reference for the first ``--check`` steps and reports whether the spikes agree.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from spikeforge.engine.backend import create_backend, resolve_backend
from spikeforge.model import LIF, Circuit, FixedProbability
from spikeforge.runtime.world import World


def cuba_circuit(n: int) -> Circuit:
    """CUBA with ``n`` neurons and 80 synapses per neuron on average (Brian2's parameters)."""
    if n < 10:
        raise ValueError(f"--sizes: a CUBA network needs at least 10 neurons, got {n}")
    n_exc = int(0.8 * n)
    p = min(1.0, 80.0 / n)
    m = LIF(tau_m=20.0, tau_e=5.0, tau_i=10.0, v_rest=-49.0, v_reset=-60.0, v_thresh=-50.0, t_ref=5.0)
    c = Circuit(f"cuba{n}")
    c.add_population("exc", n_exc, m, v_init=(-60.0, -50.0))
    c.add_population("inh", n - n_exc, m, v_init=(-60.0, -50.0))
    we, wi = 60 * 0.27 / 10, -20 * 4.5 / 10
    for pre, w in (("exc", we), ("inh", wi)):
        for post in ("exc", "inh"):
            c.connect(pre, post, FixedProbability(p), weight=w, name=f"{pre}->{post}")
    return c


def adapter_name(backend: str) -> str:
    """Adapter description for GPU runs, the CPU backend name otherwise."""
    if backend != "gpu":
        return f"CPU ({backend})"
    from spikeforge.engine.wgpu_backend import adapter_summary

    return adapter_summary()


def run_size(n: int, backend: str, seed: int, steps: int, substeps: int, check: int) -> dict[str, Any]:
    """Benchmark one CUBA network of ``n`` neurons on ``backend`` (dt = 0.1 ms).

    The first step is a warm-up (run, not timed); only the backend's own calls are timed.

    Parameters
    ----------
    n : int
        Neurons (80 % excitatory, 80 synapses per neuron on average).
    backend : str
        Backend name (``"gpu"``, ``"native"``, ``"numpy"``).
    seed : int
        World seed.
    steps : int
        Steps to run in all.
    substeps : int
        Steps per backend call (one GPU submission per call).
    check : int
        Also run the numpy reference for the first ``check`` steps and compare the spikes (0: no check).

    Returns
    -------
    dict
        One JSON-ready row: ``neurons``, ``synapses``, ``ms_per_step``, ``realtime_factor`` (simulated
        seconds per wall second), ``rate_hz`` (mean firing rate), ``setup_s``, ``wall_s``, ``adapter``,
        ``matches_numpy`` (None without ``check``) ...
    """
    world = World(dt=0.0001, backend="numpy", seed=seed)
    world.spawn(cuba_circuit(n))
    L = world.layout
    ref = None
    if check:
        ref_world = World(dt=0.0001, backend="numpy", seed=seed)
        ref_world.spawn(cuba_circuit(n))
        ref = ref_world
    t0 = time.perf_counter()
    be = create_backend(backend, L)
    setup = time.perf_counter() - t0
    # warm-up: the first step (first submission, driver-side setup) is run but not timed
    rec = be.advance(1, 0, None)
    spikes = int(rec.neurons.size)
    agree = True
    if ref is not None:
        r = ref.step(1)
        agree = np.array_equal(r.neurons, rec.neurons)
    done = 1
    wall = 0.0  # only the backend's calls are timed (not the numpy check)
    while done < steps:
        k = min(substeps, steps - done)
        t0 = time.perf_counter()
        rec = be.advance(k, done, None)
        wall += time.perf_counter() - t0
        spikes += int(rec.neurons.size)
        if ref is not None and done < check:
            r = ref.step(k)
            agree = agree and np.array_equal(r.neurons, rec.neurons) and np.array_equal(r.steps, rec.steps)
        done += k
    wall = wall * steps / max(steps - 1, 1)  # per-step cost scaled to all steps
    be.close()
    model_s = steps * 1e-4
    return {"bench": "gpu_cuba", "backend": backend, "adapter": adapter_name(backend), "seed": seed,
            "neurons": n, "synapses": L.n_synapses, "steps": steps, "substeps": substeps,
            "setup_s": round(setup, 4), "wall_s": round(wall, 4), "ms_per_step": round(1e3 * wall / steps, 4),
            "realtime_factor": round(model_s / wall, 4), "spikes": spikes,
            "rate_hz": round(spikes / (n * model_s), 3),
            "matches_numpy": (agree if check else None), "checked_steps": min(check, steps)}


def main(argv: list[str] | None = None) -> int:
    """Command line of ``python -m spikeforge.bench.gpu_kernels`` (see the module docstring).

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    ap = argparse.ArgumentParser(prog="python -m spikeforge.bench.gpu_kernels", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="gpu", help="gpu (default), native, numpy or auto")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="one JSON object per measurement on stdout")
    ap.add_argument("--sizes", default="4000,40000", help="comma-separated neuron counts")
    ap.add_argument("--steps", type=int, default=1000, help="steps per size (dt = 0.1 ms)")
    ap.add_argument("--substeps", type=int, default=100, help="steps per backend call")
    ap.add_argument("--check", type=int, default=0, help="compare spikes with numpy for this many steps")
    a = ap.parse_args(argv)
    try:
        sizes = [int(x) for x in a.sizes.split(",") if x.strip()]
    except ValueError:
        ap.error(f"--sizes: expected comma-separated integers, got {a.sizes!r}")
    if a.steps < 1 or a.substeps < 1 or a.check < 0:
        ap.error("--steps and --substeps must be >= 1, --check >= 0")
    backend = resolve_backend(a.backend)[0] if a.backend == "auto" else a.backend
    rows = []
    for n in sizes:
        row = run_size(n, backend, a.seed, a.steps, a.substeps, a.check)
        rows.append(row)
        if a.json:
            print(json.dumps(row), flush=True)
    if not a.json:
        from rich.console import Console
        from rich.table import Table

        t = Table(title=f"CUBA on {backend}: {rows[0]['adapter'] if rows else ''}")
        for col in ("neurons", "synapses", "steps", "ms_per_step", "realtime_factor", "rate_hz", "setup_s",
                    "matches_numpy"):
            t.add_column(col)
        for r in rows:
            t.add_row(*(str(r[c]) for c in ("neurons", "synapses", "steps", "ms_per_step", "realtime_factor",
                                              "rate_hz", "setup_s", "matches_numpy")))
        Console().print(t)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
