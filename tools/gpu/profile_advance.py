"""Where does a GPU advance spend its time? Host recording, waiting for the GPU, the rest.

For each configuration (network x kernel path x per-brain workgroup size) this times
``GpuBackend.advance`` for ``k`` steps and for 1 step (median of repeats), and splits the
k-step advance into: host time until the submission (uploads + recording), the submit call,
time blocked in the map of the read-back (the GPU's work after the submission), and the host
time after it (copy-out, sorting the spike list, unmap; and the next advance's commands recorded
ahead between the submission and the wait, ``ms_prerecord``, see ``GpuBackend(prerecord=...)``).
Prints one JSON object per configuration.

Each repeat runs a k-step and a 1-step advance; each advance is told the next one's step count
(``expect_steps``, as ``World.advance`` does), so the commands recorded ahead are used
(``prerecord`` in the output: recorded / used / missed / dropped; ``SPIKEFORGE_GPU_PRERECORD=0``
is the A/B). ``--root`` of a checkout without ``expect_steps`` runs without the hints.

``python tools/gpu/profile_advance.py --brains 1000 --steps 17``

``--paths default`` times only the configuration the backend picks by default (per-brain
kernel, 256 invocations, global ring; CUBA on it too); ``--root DIR`` imports spikeforge from
another checkout (e.g. main, for before/after runs of this same script); ``--calls BRAINS``
first times each raw wgpu-native call of the per-advance path (the rest is Python and numpy);
``--floor N`` first times N round trips of an EMPTY frame through the same raw calls (a 64-byte
upload write, one copy into the read-back, finish, submit, map with the wait, unmap): the floor
under any advance's wall time on this device and driver, no GPU work in it.
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
if "--root" in sys.argv[:-1]:
    ROOT = Path(sys.argv[sys.argv.index("--root") + 1]).resolve()
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
    submit_kept = getattr(be, "_submit_kept", None)
    prerecord = getattr(be, "_prerecord", None)
    hint = getattr(be, "expect_steps", lambda n: None)

    def t_submit(cb: Any) -> None:
        marks["submit"] = time.perf_counter()
        submit(cb)
        marks["submit_call"] = time.perf_counter() - marks["submit"]

    def t_submit_kept(kept: Any) -> None:
        marks["submit"] = time.perf_counter()
        assert submit_kept is not None
        submit_kept(kept)
        marks["submit_call"] = time.perf_counter() - marks["submit"]

    def t_prerecord(*a: Any) -> None:
        t = time.perf_counter()
        assert prerecord is not None
        prerecord(*a)
        marks["prerecord"] = time.perf_counter() - t

    def t_map(nbytes: int) -> Any:
        t = time.perf_counter()
        out = mapr(nbytes)
        marks["wait"] = time.perf_counter() - t
        return out

    be._submit = t_submit  # type: ignore[method-assign,assignment]
    be._map_readback = t_map  # type: ignore[method-assign]
    if submit_kept is not None:
        be._submit_kept = t_submit_kept  # type: ignore[method-assign]
        be._prerecord = t_prerecord  # type: ignore[method-assign]
    done = 0
    for _ in range(3):
        hint(1)
        be.advance(steps, done, None)
        done += steps
        hint(steps)
        be.advance(1, done, None)
        done += 1
    rows: dict[str, list[float]] = {"wall": [], "record": [], "submit": [], "wait": [], "post": [], "wall1": [],
                                    "prerecord": []}
    spikes = 0
    for _ in range(repeats):
        marks["prerecord"] = 0.0
        hint(1)  # the advance after this one: 1 step
        t0 = time.perf_counter()
        rec = be.advance(steps, done, None)
        t1 = time.perf_counter()
        done += steps
        spikes += rec.neurons.size
        rows["wall"].append(t1 - t0)
        rows["record"].append(marks["submit"] - t0)
        rows["wait"].append(marks["wait"])
        rows["submit"].append(marks["submit_call"])
        rows["post"].append(t1 - marks["submit"] - marks["submit_call"] - marks["wait"])
        rows["prerecord"].append(marks["prerecord"])
        hint(steps)
        t0 = time.perf_counter()
        be.advance(1, done, None)
        rows["wall1"].append(time.perf_counter() - t0)
        done += 1
    med = {k: statistics.median(v) * 1e3 for k, v in rows.items()}
    out = {"net": net, "brains" if net == "crowd" else "neurons": count, "steps": steps, "fused": be.fused,
           "brain_wg": wg, "wg_ring": be.wg_ring, "raw": G._RAW is not None,
           **{k: getattr(be, k) for k in ("reg_state", "wg_mask", "order", "span") if hasattr(be, k)},
           "ms_advance": round(med["wall"], 4),
           "ms_record": round(med["record"], 4), "ms_submit": round(med["submit"], 4),
           "ms_gpu_wait": round(med["wait"], 4),
           "ms_post": round(med["post"], 4), "ms_prerecord": round(med["prerecord"], 4),
           "ms_advance_1_step": round(med["wall1"], 4),
           "ms_per_extra_step": round((med["wall"] - med["wall1"]) / max(steps - 1, 1), 4),
           "spikes_per_advance": round(spikes / repeats, 1),
           "prerecord": dict(getattr(be, "prerecord_stats", {}))}
    be.close()
    return out


class _TimedLib:
    """Stands in for wgpu-native's cffi ``lib`` in the backend's raw path: sums each C call's time."""

    def __init__(self, lib: Any, totals: dict[str, float]) -> None:
        self._lib, self._totals = lib, totals

    def __getattr__(self, name: str) -> Any:
        f = getattr(self._lib, name)
        if not callable(f):
            return f
        totals = self._totals

        def timed(*args: Any) -> Any:
            t = time.perf_counter()
            try:
                return f(*args)
            finally:
                totals[name] = totals.get(name, 0.0) + time.perf_counter() - t

        return timed


def call_costs(brains: int, steps: int, repeats: int) -> dict[str, Any]:
    """Mean microseconds per advance in each raw wgpu-native call of the default crowd path
    (``wgpuDevicePoll`` is the wait for the GPU), and the host time outside the wait."""
    raw = G._RAWX
    if raw is None:
        return {"calls": "raw path unavailable (SPIKEFORGE_GPU_RAW=0 or another wgpu build)"}
    os.environ["SPIKEFORGE_GPU_WG_RING"] = "0"
    w = World(dt=0.001, backend="numpy", seed=1)
    w.spawn(npc_circuit(), brains)
    L = w.layout
    L.sensor_values[...] = np.random.default_rng(1).random(L.sensor_values.size, dtype=np.float32)
    be = G.GpuBackend(L)
    totals: dict[str, float] = {}
    done = 0
    for _ in range(3):
        be.advance(steps, done, None)
        done += steps
    lib = raw.lib
    raw.lib = _TimedLib(lib, totals)
    try:
        t0 = time.perf_counter()
        for _ in range(repeats):
            be.advance(steps, done, None)
            done += steps
        wall = time.perf_counter() - t0
    finally:
        raw.lib = lib
        be.close()
    wait = totals.get("wgpuDevicePoll", 0.0)
    return {"calls_brains": brains, "steps": steps,
            "us_host_outside_wait": round((wall - wait) / repeats * 1e6, 1),
            "us_per_call": {k: round(v / repeats * 1e6, 1) for k, v in sorted(totals.items(), key=lambda x: -x[1])}}


def round_trip_floor(repeats: int) -> dict[str, Any]:
    """Median and 10th/90th percentile microseconds of one empty frame's round trip (see the module
    docstring), through the backend's own raw-call helpers on a one-brain crowd backend."""
    raw = G._RAWX
    if raw is None:
        return {"floor": "raw path unavailable (SPIKEFORGE_GPU_RAW=0 or another wgpu build)"}
    w = World(dt=0.001, backend="numpy", seed=1)
    w.spawn(npc_circuit(), 1)
    be = G.GpuBackend(w.layout)
    be.advance(1, 0, None)  # the raw path is used after one checked advance
    lib, null = raw.lib, raw.null
    dev_h, q_h = be.dev._internal, be.dev.queue._internal
    up, ctl, rb = be._bufs["upload"][0]._internal, be._bufs["ctl"][0]._internal, be._readback._internal
    words = np.zeros(16, np.uint32)
    times: list[float] = []
    try:
        for i in range(repeats + 20):
            t0 = time.perf_counter()
            words[0] = i
            lib.wgpuQueueWriteBuffer(q_h, up, 0, raw.ffi.from_buffer(words), words.nbytes)
            enc = lib.wgpuDeviceCreateCommandEncoder(dev_h, null)
            lib.wgpuCommandEncoderCopyBufferToBuffer(enc, up, 0, ctl, 0, words.nbytes)
            lib.wgpuCommandEncoderCopyBufferToBuffer(enc, ctl, 0, rb, 0, words.nbytes)
            cb = lib.wgpuCommandEncoderFinish(enc, null)
            lib.wgpuCommandEncoderRelease(enc)
            be._submit(cb)
            got = be._map_readback(words.nbytes)
            ok = int(got[0]) == i
            be._unmap_readback()
            if not ok:
                raise RuntimeError("round trip read back the wrong word")
            if i >= 20:  # after a warm-up
                times.append(time.perf_counter() - t0)
    finally:
        be.close()
    us = np.asarray(times) * 1e6
    return {"floor_us": round(float(np.median(us)), 1), "floor_us_p10": round(float(np.percentile(us, 10)), 1),
            "floor_us_p90": round(float(np.percentile(us, 90)), 1), "round_trips": repeats}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brains", default="1000", help="comma list of crowd sizes")
    ap.add_argument("--cuba", default="4000", help="comma list of CUBA sizes (one brain)")
    ap.add_argument("--steps", type=int, default=17)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--wgs", default="64,128,256", help="per-brain workgroup sizes to try")
    ap.add_argument("--paths", choices=("all", "default"), default="all",
                    help="all: every kernel path and workgroup size; default: the backend's default only")
    ap.add_argument("--root", default=str(ROOT), help="checkout whose sdk/ is imported (default: this one)")
    ap.add_argument("--calls", type=int, default=0, metavar="BRAINS",
                    help="also time each raw wgpu-native call of a crowd of BRAINS brains' advances")
    ap.add_argument("--floor", type=int, default=0, metavar="N",
                    help="also time N round trips of an empty frame (write, copy, submit, map, unmap)")
    a = ap.parse_args(argv)
    print(json.dumps({"adapter": G.adapter_summary(), "root": str(ROOT)}), flush=True)
    if a.floor:
        print(json.dumps(round_trip_floor(a.floor)), flush=True)
    if a.calls:
        print(json.dumps(call_costs(a.calls, a.steps, a.repeats)), flush=True)
    if a.paths == "default":
        for b in (int(x) for x in a.brains.split(",") if x):
            print(json.dumps(profile("crowd", b, a.steps, a.repeats, True, 256, ring=False)), flush=True)
        for n in (int(x) for x in a.cuba.split(",") if x):
            print(json.dumps(profile("cuba", n, 100, a.repeats, True, 256, ring=False)), flush=True)
        return 0
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
