"""Refit the calibration samples of recorded ``auto_check`` runs with this checkout's ``gpu_cost._fit``
and score its predictions against what each run measured (issue 13 item 4: within 2x?).

A device run's ``auto.jsonl`` (``bash tools/gpu/device_run.sh auto``) holds the calibration's samples
and, per bench size, the measured times; refitting them offline tells whether a change to the fit
helps before a device run is spent on it. Measured: the ``World.step`` median where the run has it
(``world_*``), else the bare advance (the CPU's settled second timing, ``cpu_us_again_best``, when
slower than its first).

    python tools/gpu/refit_runs.py tools/gpu/runs/*.jsonl
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(ROOT, "sdk"), ROOT]

from spikeforge.engine import gpu_cost as G  # noqa: E402


def load(path: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run's model (with its samples) and its per-size rows."""
    model: dict[str, Any] = {}
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith('{"adapter"'):
                model = json.loads(line)["model"]
            elif line.startswith('{"size"'):
                rows.append(json.loads(line))
    return model, rows


def refit(model: dict[str, Any]) -> tuple[dict[str, dict[str, list[float]]], list[str]]:
    """This checkout's fits of the run's samples, with the run's own feature columns."""
    feats, cfeats = model["features"], model["cpu_features"]
    width = len(feats)
    path_cols = {"brain": tuple(range(width)), "step": tuple(range(feats.index("largest brain neurons")))}
    cpu_cols = {p: (*path_cols[p], cfeats.index("extra threads")) for p in G.PATHS}
    sizes = tuple(range(1, feats.index("sensor events") if "sensor events" in feats else width))
    return {"gpu": {p: G._fit(model["samples"]["gpu"][p], path_cols[p], sizes) for p in G.PATHS},
            "cpu": {p: G._fit(model["samples"]["cpu"][p], cpu_cols[p], sizes) for p in G.PATHS}}, feats


def predict(fits: dict[str, dict[str, list[float]]], feats: list[str], r: dict[str, Any]) -> tuple[float, float]:
    """Predicted (gpu, cpu) us per step of a size row."""
    x = [1.0, r["neurons"], r["synapses"], r["brains"], r["learning_synapses"], *r["largest_brain"]]
    extra = feats[7:]
    for name in extra:  # columns a run's version had past the largest brain's
        x.append(r.get("sensor_events", 0.0) if name == "sensor events" else r["synapses"] * r.get("dt_ms", 1.0))
    shared = {feats.index(n) for n in ("neurons", "synapses", "brains", "learning synapses", *extra)}
    threads = r["cpu_threads_planned"]
    cx = [v / threads if j in shared else v for j, v in enumerate(x)] + [float(threads - 1)]
    p = r["gpu_path"]
    return (sum(c * v for c, v in zip(fits["gpu"][p], x, strict=True)) * 1e6,
            sum(c * v for c, v in zip(fits["cpu"][p], cx, strict=True)) * 1e6)


def main(paths: list[str]) -> int:
    """Print each run's ratios (predicted / measured, GPU / CPU; * outside 2x) and the total."""
    total = within = 0
    for path in paths:
        model, rows = load(path)
        fits, feats = refit(model)
        out = []
        for r in rows:
            g, c = predict(fits, feats, r)
            mg = r["world_gpu_us"][1] if "world_gpu_us" in r else r["gpu_us_measured"]
            mc = r["world_cpu_us"][1] if "world_cpu_us" in r else max(r["cpu_us_measured"],
                                                                       r.get("cpu_us_again_best", 0.0))
            ok = all(0.5 <= q <= 2.0 for q in (g / mg, c / mc))
            total, within = total + 1, within + ok
            out.append(f"{r['size']} {g / mg:.2f}/{c / mc:.2f}{'' if ok else '*'}")
        print(os.path.basename(path) + ": " + ", ".join(out))
    print(json.dumps({"sizes": total, "within_2x": within}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
