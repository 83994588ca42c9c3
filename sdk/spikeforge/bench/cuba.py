"""``spikeforge bench cuba``: the CUBA network (Vogels & Abbott 2005) as in Brian2's example.

N LIF neurons (80 % excitatory), tau_m 20, tau_e 5, tau_i 10 ms, El -49, Vr -60, Vt -50 mV,
we 1.62 mV, wi -9 mV, refractory 5 ms, v0 ~ U[Vr, Vt], dt 0.1 ms, Bernoulli p = 0.02 (or
``--indegree K`` for a fixed in-degree). spikeforge's one-step delay is Brian2's zero
delay (this step's spikes act on the next integration).

Reported: wall time of the simulation loop (one ``World.step(n)`` call: every step in
one backend call, like Brian's ``loop_s``), its CPU time, steps/s, spikes and mean rate.
With ``--compare`` the anchor scripts (``brian2_cuba.py --target cpp_standalone`` and
``nest_cuba.py``, located with ``--anchors``, default ``../shared/anchors`` next to the
repository) run as subprocesses with ``--ref-python`` (an interpreter with brian2 /
nest-simulator, e.g. a separate venv made with ``pip install brian2 nest-simulator
"numpy<2.4"``) and the ratios of their loop times to ours are printed.

Example
-------
``spikeforge bench cuba --n 4000 --duration 1 --compare --ref-python /tmp/benchvenv/bin/python``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from spikeforge.bench import common_args, cuba_circuit, emit, load_average, make_world, threads_used, timed

GOAL_VS_BRIAN = 3.0
GOAL_VS_NEST = 10.0


def run_ours(n: int, indegree: int | None, duration: float, backend: str, seed: int,
             threads: int | None) -> dict[str, Any]:
    """Build and run CUBA on a spikeforge backend; return the measurement."""
    with timed() as setup:
        world = make_world(backend, seed, 0.0001, threads)
        # no draw of a next CUBA brain on a worker thread during the timed loop (it shares the cores)
        world.draw_ahead = False
        world.spawn(cuba_circuit(n, indegree=indegree))
    steps = round(duration / 0.0001)
    world.step(1)  # first call: lazy thread start-up, page faults of the ring (not part of the loop)
    with timed() as loop:
        rec = world.step(steps)
    L = world.layout
    spikes = int(rec.neurons.size)
    return {"bench": "cuba", "simulator": "spikeforge", "backend": world.backend.name,
            "adapter": getattr(world.backend, "adapter", None),  # GPU: the wgpu adapter used
            "threads": threads_used(world), "n": n, "synapses": L.n_synapses, "indegree": indegree,
            "duration_s": duration, "steps": steps, "seed": seed, "setup_s": round(setup.wall, 3),
            "loop_s": round(loop.wall, 4), "loop_cpu_s": round(loop.cpu, 4),
            "steps_per_s": round(steps / loop.wall, 1), "spikes": spikes,
            "rate_hz": round(spikes / (n * duration), 3), "load_avg": load_average()}


def run_anchor(script: Path, ref_python: str, extra: list[str], timeout: float) -> dict[str, Any]:
    """Run one anchor script; return its JSON line (or an ``error`` entry)."""
    cmd = [ref_python, str(script), *extra]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": f"{script.name}: {exc}"}
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
        return {"error": f"{script.name} exited {r.returncode}: {' | '.join(tail)}"}
    out: dict[str, Any] = json.loads(lines[-1])
    return out


def can_import(python: str, module: str) -> str | None:
    """None if ``python`` can import ``module``, else the reason."""
    try:
        r = subprocess.run([python, "-c", f"import {module}"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if r.returncode == 0 else (r.stderr.strip().splitlines() or ["import failed"])[-1]


def main(argv: list[str]) -> int:
    """Run ``spikeforge bench cuba``: the CUBA network, optionally against Brian2 and NEST (``--compare``).

    See the module docstring for the setup and what each figure means. Prints a table, or one JSON
    object per measurement with ``--json``.

    Parameters
    ----------
    argv : list of str
        The arguments after ``spikeforge bench cuba`` (``--help`` lists them).

    Returns
    -------
    int
        Exit status: 0.
    """
    ap = argparse.ArgumentParser(prog="spikeforge bench cuba", description=__doc__.split("\n\n")[0])
    common_args(ap)
    ap.add_argument("--n", type=int, default=4000, help="neurons (default 4000)")
    ap.add_argument("--indegree", type=int, default=None, help="fixed in-degree instead of p = 0.02")
    ap.add_argument("--duration", type=float, default=1.0, help="model time (s, default 1)")
    ap.add_argument("--compare", action="store_true", help="also run Brian2 cpp_standalone and NEST")
    ap.add_argument("--anchors", default=str(Path(__file__).resolve().parents[3].parent / "shared" / "anchors"),
                    help="directory of brian2_cuba.py and nest_cuba.py (default ../shared/anchors)")
    ap.add_argument("--ref-python", default=sys.executable,
                    help="Python with brian2 / nest-simulator installed (default: this one)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="per anchor run (s)")
    args = ap.parse_args(argv)
    if args.duration <= 0:
        ap.error(f"--duration: must be > 0, got {args.duration}")
    rows = [run_ours(args.n, args.indegree, args.duration, args.backend, args.seed, args.threads)]
    ours = rows[0]["loop_s"]
    if args.compare:
        anchors = Path(args.anchors)
        common = ["--n", str(args.n), "--duration", str(args.duration), "--seed", str(args.seed)]
        if args.indegree is not None:
            common += ["--indegree", str(args.indegree)]
        for module, script, extra, key, goal in (
                ("brian2", "brian2_cuba.py", ["--target", "cpp_standalone"], "loop_s", GOAL_VS_BRIAN),
                ("nest", "nest_cuba.py", ["--threads", "1"] + (["--rule", "fixed_indegree"]
                                                               if args.indegree is not None else []),
                 "run_s", GOAL_VS_NEST)):
            why = can_import(args.ref_python, module)
            if not (anchors / script).is_file():
                why = f"{anchors / script} not found (--anchors)"
            if why is not None:
                rows.append({"bench": "cuba", "simulator": module, "skipped": why})
                continue
            res = run_anchor(anchors / script, args.ref_python, common + extra, args.timeout)
            if "error" in res:
                rows.append({"bench": "cuba", "simulator": module, "skipped": res["error"]})
                continue
            loop = float(res[key])
            rows.append({"bench": "cuba", "simulator": module, "backend": res.get("target", module),
                         "threads": res.get("threads", 1), "n": args.n, "synapses": res.get("synapses"),
                         "duration_s": args.duration, "steps": res.get("steps"), "seed": args.seed,
                         "loop_s": loop, "steps_per_s": res.get("steps_per_s"), "spikes": res.get("spikes"),
                         "rate_hz": res.get("rate_hz"), "speedup_vs_this": round(loop / ours, 2),
                         "goal_speedup": goal, "goal_met": loop / ours >= goal, "load_avg": load_average()})
    emit(rows, args.json, f"CUBA, {args.n} neurons, {args.duration} s of model time, dt 0.1 ms",
         [("simulator", "simulator"), ("backend", "backend"), ("threads", "threads"), ("synapses", "synapses"),
          ("loop_s", "loop (s)"), ("loop_cpu_s", "loop CPU (s)"), ("steps_per_s", "steps/s"),
          ("spikes", "spikes"), ("rate_hz", "rate (Hz)"), ("speedup_vs_this", "their loop / ours"),
          ("goal_met", "goal met"), ("skipped", "skipped")])
    return 0
