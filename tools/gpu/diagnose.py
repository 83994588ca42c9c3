"""Where does the GPU step depart from numpy? Per-step ULP differences from identical state.

For each test network and for both shader variants (``no_contract`` on: every product kept
out of fused multiply-adds; off: the driver may contract ``a*b+c``), this

1. **identical state, one step at a time**: copies the numpy world's whole state into the
   GPU world, advances both one step with the same sensor values, and records, per state
   array, the largest difference in ULP (and in value), the number of elements that differ,
   and whether the spikes of that step are identical;
2. **free run**: advances both from the same start for ``--steps`` steps and reports the
   first step whose spikes differ and both mean rates.

Prints one JSON object per (network, variant, part); ``--out FILE`` also writes them there.
Run on the device by ``tools/gpu/device_run.sh``; here (lavapipe) every difference is 0.

``python tools/gpu/diagnose.py --steps 300 --out diag.jsonl``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "sdk"), str(ROOT)]

from spikeforge import World  # noqa: E402
from spikeforge.engine import wgpu_backend as G  # noqa: E402
from spikeforge.model import Circuit  # noqa: E402


def nets() -> dict[str, Callable[[World], None]]:
    """Network builders: name -> spawn into a world."""
    from tests.engine.native_nets import feature_net, learning_net, lif_net

    from spikeforge.bench.crowd import npc_circuit
    from spikeforge.bench.gpu_kernels import cuba_circuit

    def spawn(*parts: tuple[Circuit, int]) -> Callable[[World], None]:
        def f(w: World) -> None:
            for c, k in parts:
                w.spawn(c, k)
        return f

    return {"features": spawn((feature_net(), 3), (lif_net(), 2)),
            "learning": spawn((learning_net(), 4)),
            "cuba4k": spawn((cuba_circuit(4000), 1)),
            "crowd": spawn((npc_circuit(), 20))}


def ordered(a: np.ndarray) -> np.ndarray:
    """float32 -> int64 whose difference counts ULPs (monotone across zero)."""
    i = np.ascontiguousarray(a, np.float32).view(np.int32).astype(np.int64)
    return np.where(i < 0, np.int64(-(2**31)) - i, i)


def state_arrays(w: World) -> dict[str, np.ndarray]:
    L = w.layout
    out = {f"neuron.{k}": a for k, a in L.neuron.items()}
    out.update({f"synapse.{k}": L.synapse[k] for k in ("w", "elig") if k in L.synapse})
    out.update(ring=L.ring, act_counts=L.act_counts, act_out=L.act_out, dopamine=L.dopamine,
               dopamine_sum=L.dopamine_sum, brain_step=L.brain_step)
    return out


def drive(w: World, step: int) -> None:
    sv = w.layout.sensor_values
    if sv.size:
        sv[...] = np.random.default_rng(1000 + step).uniform(-0.2, 1.2, sv.size).astype(np.float32)


def make(name: str, backend: str, build: Callable[[World], None], nc: bool = True) -> World:
    """A world of network ``name``; GPU worlds get the shader variant ``nc``."""
    os.environ["SPIKEFORGE_GPU_CONTRACT"] = "0" if nc else "1"
    w = World(dt=0.0001 if name == "cuba4k" else 0.001, backend=backend, seed=3)
    build(w)
    assert w.backend.name == backend, w.backend.name
    return w


def identical_state(name: str, build: Callable[[World], None], steps: int, nc: bool) -> dict[str, Any]:
    ref = make(name, "numpy", build)
    gpu = make(name, "gpu", build, nc)
    be = gpu.backend
    assert isinstance(be, G.GpuBackend) and be.no_contract == nc
    worst: dict[str, dict[str, Any]] = {}
    spike_steps_differ = 0
    differing_spikes = 0
    for t in range(steps):
        be.pull_state()
        for k, a in state_arrays(ref).items():
            state_arrays(gpu)[k][...] = a
        be._shadow = None  # push everything: the host arrays are the truth
        be.push_state()
        drive(ref, t)
        drive(gpu, t)
        r1 = ref.step(1)
        r2 = gpu.step(1)
        if r1.neurons.tobytes() != r2.neurons.tobytes():
            spike_steps_differ += 1
            differing_spikes += int(np.setxor1d(r1.neurons, r2.neurons).size)
        gpu.backend.pull_state()
        A, B = state_arrays(ref), state_arrays(gpu)
        for k in A:
            a, b = A[k].reshape(-1), B[k].reshape(-1)
            if a.dtype != np.float32:
                nd = int(np.count_nonzero(a != b))
                rec = worst.setdefault(k, {"max_ulp": 0, "max_abs": 0.0, "n_diff": 0, "steps_with_diff": 0})
                rec["n_diff"] += nd
                rec["steps_with_diff"] += int(nd > 0)
                if nd:
                    rec["max_abs"] = max(rec["max_abs"], float(np.max(np.abs(a.astype(np.int64) - b.astype(np.int64)))))
                continue
            u = np.abs(ordered(a) - ordered(b))
            rec = worst.setdefault(k, {"max_ulp": 0, "max_abs": 0.0, "n_diff": 0, "steps_with_diff": 0,
                                       "at_value": None, "subnormal_ref": 0})
            nd = int(np.count_nonzero(u))
            rec["n_diff"] += nd
            rec["steps_with_diff"] += int(nd > 0)
            tiny = (a != 0) & (np.abs(a) < np.finfo(np.float32).tiny)
            rec["subnormal_ref"] += int(np.count_nonzero(tiny))
            if nd:
                i = int(np.argmax(u))
                if int(u[i]) > rec["max_ulp"]:
                    rec["max_ulp"] = int(u[i])
                    rec["at_value"] = [float(a[i]), float(b[i]), t]
                rec["max_abs"] = max(rec["max_abs"], float(np.nanmax(np.abs(a.astype(np.float64) - b))))
    gpu.backend.close()
    return {"net": name, "part": "identical_state", "no_contract": nc, "steps": steps,
            "spike_steps_differ": spike_steps_differ, "differing_spikes": differing_spikes,
            "arrays": {k: v for k, v in worst.items() if v["n_diff"] or v.get("subnormal_ref")}}


def free_run(name: str, build: Callable[[World], None], steps: int, nc: bool) -> dict[str, Any]:
    ref = make(name, "numpy", build)
    gpu = make(name, "gpu", build, nc)
    first = None
    counts = [0, 0]
    frame = 10
    for t in range(0, steps, frame):
        drive(ref, t)
        drive(gpu, t)
        r1, r2 = ref.step(frame), gpu.step(frame)
        counts[0] += r1.neurons.size
        counts[1] += r2.neurons.size
        if first is None and (r1.neurons.tobytes() != r2.neurons.tobytes() or r1.steps.tobytes() != r2.steps.tobytes()):
            a = set(zip(r1.steps.tolist(), r1.neurons.tolist(), strict=True))
            b = set(zip(r2.steps.tolist(), r2.neurons.tolist(), strict=True))
            first = min(a ^ b)[0]
    gpu.backend.pull_state()
    same_state = all(x.tobytes() == y.tobytes() for x, y in zip(state_arrays(ref).values(),
                                                                 state_arrays(gpu).values(), strict=True))
    n = ref.layout.n_neurons
    secs = steps * ref.dt
    gpu.backend.close()
    return {"net": name, "part": "free_run", "no_contract": nc, "steps": steps, "first_differing_step": first,
            "state_identical_at_end": same_state, "rate_numpy_hz": round(counts[0] / (n * secs), 4),
            "rate_gpu_hz": round(counts[1] / (n * secs), 4)}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=200, help="identical-state steps per network")
    ap.add_argument("--free-steps", type=int, default=2000, help="free-run steps per network")
    ap.add_argument("--nets", default="", help="comma-separated subset of " + ",".join(nets()))
    ap.add_argument("--variants", default="1,0", help="no_contract values to run (1 on, 0 off)")
    ap.add_argument("--out", default="", help="also write the JSON lines here")
    a = ap.parse_args(argv)
    print(json.dumps({"adapter": G.adapter_summary()}), flush=True)
    sink = open(a.out, "w", encoding="utf-8") if a.out else None
    chosen = {k: v for k, v in nets().items() if not a.nets or k in a.nets.split(",")}
    for nc in (v == "1" for v in a.variants.split(",")):
        for name, build in chosen.items():
            for row in (identical_state(name, build, a.steps, nc), free_run(name, build, a.free_steps, nc)):
                t = json.dumps(row)
                print(t, flush=True)
                if sink:
                    sink.write(t + "\n")
                    sink.flush()
    if sink:
        sink.close()
    return 0


if __name__ == "__main__":
    t0 = time.time()
    rc = main(sys.argv[1:])
    print(json.dumps({"diagnose_s": round(time.time() - t0, 1)}))
    sys.exit(rc)
