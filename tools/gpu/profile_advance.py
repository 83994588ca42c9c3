"""Where does a GPU advance spend its time? Host recording, waiting for the GPU, the rest.

For each configuration (network x kernel path x per-brain workgroup size) this times
``GpuBackend.advance`` for ``k`` steps and for 1 step (median of repeats), and splits the
k-step advance into: host time until the submission (uploads + recording), time blocked
in the map of the read-back (the GPU's work after the submission), and the host time
after it (copy-out, sorting the spike list). Prints one JSON object per configuration.

``python tools/gpu/profile_advance.py --brains 1000 --steps 17``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "sdk"), str(ROOT)]

from spikeforge import World  # noqa: E402
from spikeforge.bench.crowd import npc_circuit  # noqa: E402
from spikeforge.bench.gpu_kernels import cuba_circuit  # noqa: E402
from spikeforge.engine import wgpu_backend as G  # noqa: E402


def profile(net: str, count: int, steps: int, repeats: int, fused: bool | None, wg: int,
            ring: bool = True) -> dict[str, Any]:
    os.environ["SPIKEFORGE_GPU_BRAIN_WG"] = str(wg)
    os.environ["SPIKEFORGE_GPU_WG_RING"] = "1" if ring else "0"
    w = World(dt=0.001 if net == "crowd" else 0.0001, backend="numpy", seed=1)
    w.spawn(npc_circuit() if net == "crowd" else cuba_circuit(count), count if net == "crowd" else 1)
    L = w.layout
    if L.sensor_values.size:
        L.sensor_values[...] = np.random.default_rng(1).random(L.sensor_values.size, dtype=np.float32)
    be = G.GpuBackend(L, fused=fused)
    marks: dict[str, float] = {}
    submit, mapr = be._submit, be._map_readback

    def t_submit(cb: Any) -> None:
        marks["submit"] = time.perf_counter()
        submit(cb)

    def t_map(nbytes: int) -> Any:
        t = time.perf_counter()
        out = mapr(nbytes)
        marks["wait"] = time.perf_counter() - t
        return out

    be._submit = t_submit  # type: ignore[method-assign,assignment]
    be._map_readback = t_map  # type: ignore[method-assign]
    done = 0
    for _ in range(3):
        be.advance(steps, done, None)
        done += steps
    rows: dict[str, list[float]] = {"wall": [], "record": [], "wait": [], "post": [], "wall1": []}
    spikes = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        rec = be.advance(steps, done, None)
        t1 = time.perf_counter()
        done += steps
        spikes += rec.neurons.size
        rows["wall"].append(t1 - t0)
        rows["record"].append(marks["submit"] - t0)
        rows["wait"].append(marks["wait"])
        rows["post"].append(t1 - marks["submit"] - marks["wait"])
        t0 = time.perf_counter()
        be.advance(1, done, None)
        rows["wall1"].append(time.perf_counter() - t0)
        done += 1
    med = {k: statistics.median(v) * 1e3 for k, v in rows.items()}
    out = {"net": net, "brains" if net == "crowd" else "neurons": count, "steps": steps, "fused": be.fused,
           "brain_wg": wg, "wg_ring": be.wg_ring, "raw": G._RAW is not None, "ms_advance": round(med["wall"], 4),
           "ms_record": round(med["record"], 4), "ms_gpu_wait": round(med["wait"], 4),
           "ms_post": round(med["post"], 4), "ms_advance_1_step": round(med["wall1"], 4),
           "ms_per_extra_step": round((med["wall"] - med["wall1"]) / max(steps - 1, 1), 4),
           "spikes_per_advance": round(spikes / repeats, 1)}
    be.close()
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brains", default="1000", help="comma list of crowd sizes")
    ap.add_argument("--cuba", default="4000", help="comma list of CUBA sizes (one brain)")
    ap.add_argument("--steps", type=int, default=17)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--wgs", default="64,128,256", help="per-brain workgroup sizes to try")
    a = ap.parse_args(argv)
    print(json.dumps({"adapter": G.adapter_summary()}), flush=True)
    for b in (int(x) for x in a.brains.split(",") if x):
        for wg in (int(x) for x in a.wgs.split(",")):
            print(json.dumps(profile("crowd", b, a.steps, a.repeats, True, wg)), flush=True)
        print(json.dumps(profile("crowd", b, a.steps, a.repeats, True, 256, ring=False)), flush=True)
        print(json.dumps(profile("crowd", b, a.steps, a.repeats, False, 256)), flush=True)
    for n in (int(x) for x in a.cuba.split(",") if x):
        for fused in (True, False):
            print(json.dumps(profile("cuba", n, 100, a.repeats, fused, 256)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
