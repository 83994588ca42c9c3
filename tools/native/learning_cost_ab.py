"""Same-session A/B of ``spikeforge bench learning --parts cost`` between checkouts.

Runs the bench alternately from each checkout (each with its own in-place native build),
``--rounds`` times, and prints one line per run plus the median per checkout of the
plastic/plain wall ratio, the CPU-time ratio and the plastic CPU ms per step. The ratios
are measured inside one process, so they are robust to the load of a shared machine.

Example (from a checkout; the other one built with ``setup.py build_ext --inplace``)::

    python tools/native/learning_cost_ab.py --rounds 5 /work/wt/base . -- --rule rstdp
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys


def run_once(tree: str, extra: list[str]) -> dict[str, float]:
    tree = os.path.abspath(tree)
    env = dict(os.environ, PYTHONPATH=f"{tree}/sdk:{tree}")
    cmd = [sys.executable, "-m", "spikeforge.cli", "bench", "learning", "--backend", "native", "--threads", "1",
           "--parts", "cost", "--crowd-brains", "500", "--frames", "200", "--json", *extra]
    out = subprocess.run(cmd, env=env, cwd=tree, check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    cost = {r["plastic"]: r for r in rows if r.get("part") == "cost"}
    goal = next(r for r in rows if r.get("part") == "cost-goal")
    return {"plain_ms": cost[False]["ms_per_step"], "plastic_ms": cost[True]["ms_per_step"],
            "plain_cpu": cost[False]["cpu_ms_per_step"], "plastic_cpu": cost[True]["cpu_ms_per_step"],
            "ratio": goal["ratio"], "cpu_ratio": goal["cpu_ratio"], "load": cost[True]["load_avg"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trees", nargs="+", help="checkouts to compare (each with its native build in place)")
    ap.add_argument("--rounds", type=int, default=5)
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    a = ap.parse_args(argv)
    res: dict[str, list[dict[str, float]]] = {t: [] for t in a.trees}
    for k in range(a.rounds):
        for t in a.trees:
            r = run_once(t, extra)
            res[t].append(r)
            print(f"round {k} {t}: " + " ".join(f"{key} {v:.4g}" for key, v in r.items()), flush=True)
    for t, rs in res.items():
        med = {key: statistics.median(r[key] for r in rs) for key in ("ratio", "cpu_ratio", "plain_cpu",
                                                                      "plastic_cpu", "plain_ms", "plastic_ms")}
        loads = [r["load"] for r in rs]
        print(f"median {t}: " + " ".join(f"{key} {v:.4g}" for key, v in med.items())
              + f" (load {min(loads):.1f}-{max(loads):.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
