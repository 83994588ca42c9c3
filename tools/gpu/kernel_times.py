"""How long does each GPU kernel of an advance take on the GPU? Timestamp queries between dispatches.

Runs ``GpuBackend.advance`` as the SDK does (wgpu-py's checked calls, not the raw C calls, so
that the commands can be observed) with a timestamp written at the start of the compute pass
and after every dispatch; the difference between consecutive timestamps is charged to the
kernel just dispatched (on Vulkan a timestamp inside a pass is written once the commands before
it have finished). Prints one JSON object per configuration: for each kernel its GPU time per
advance (median over the repeats), how many dispatches, the whole pass's GPU time, and the
advance's wall time beside it (host work + GPU + read-back); before that, the wall time of the same
advances on the SDK's own path (raw C calls, ``raw_wall_us``). ``--pace HZ`` starts each advance on
a clock, as a game's frames (the GPU idles between them).

Needs the adapter's ``timestamp-query-inside-passes`` feature (NVIDIA and lavapipe have it);
timestamps are taken as nanoseconds (Vulkan's timestampPeriod is 1 ns on both; the pass total
is printed next to the wall time so a different period shows).

``python tools/gpu/kernel_times.py --net scale --n 1200000 --steps 20``
``python tools/gpu/kernel_times.py --net crowd --brains 1000 --steps 17``
``SPIKEFORGE_GPU_...=... python tools/gpu/kernel_times.py ...`` times a variant (see wgpu_backend).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

os.environ["SPIKEFORGE_GPU_TIMESTAMPS"] = "1"  # before the device is made
ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "sdk"), str(ROOT)]

import wgpu  # noqa: E402
from pacing import FrameClock  # noqa: E402

from spikeforge import World  # noqa: E402
from spikeforge.bench import cuba_circuit as scale_circuit  # noqa: E402
from spikeforge.bench.crowd import npc_circuit  # noqa: E402
from spikeforge.bench.gpu_kernels import cuba_circuit  # noqa: E402
from spikeforge.engine import wgpu_backend as G  # noqa: E402

MAX_QUERIES = 4096


class _TimedPass:
    """A compute pass that writes a timestamp after every dispatch and notes which pipeline ran."""

    def __init__(self, cp: Any, qs: Any, names: dict[int, str], marks: list[str]) -> None:
        self.cp, self.qs, self.names, self.marks = cp, qs, names, marks
        self.current = "?"
        self._stamp("start")

    def _stamp(self, label: str) -> None:
        if len(self.marks) >= MAX_QUERIES:
            raise RuntimeError(f"more than {MAX_QUERIES} timestamps in one advance: use fewer --steps")
        self.cp._write_timestamp(self.qs, len(self.marks))
        self.marks.append(label)

    def set_pipeline(self, pipe: Any) -> None:
        self.current = self.names.get(id(pipe), "?")
        self.cp.set_pipeline(pipe)

    def dispatch_workgroups(self, *grid: int) -> None:
        self.cp.dispatch_workgroups(*grid)
        self._stamp(self.current)

    def dispatch_workgroups_indirect(self, buf: Any, offset: int) -> None:
        self.cp.dispatch_workgroups_indirect(buf, offset)
        self._stamp(self.current)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cp, name)


class _TimedEncoder:
    """A command encoder whose compute pass is a _TimedPass; finish() resolves the timestamps."""

    def __init__(self, enc: Any, probe: _Probe) -> None:
        self.enc, self.probe = enc, probe

    def begin_compute_pass(self, **kw: Any) -> _TimedPass:
        self.probe.marks = []
        return _TimedPass(self.enc.begin_compute_pass(**kw), self.probe.qs, self.probe.names, self.probe.marks)

    def finish(self, **kw: Any) -> Any:
        n = len(self.probe.marks)
        if n:
            self.enc.resolve_query_set(self.probe.qs, 0, n, self.probe.resolved, 0)
            self.enc.copy_buffer_to_buffer(self.probe.resolved, 0, self.probe.readable, 0, 8 * n)
        return self.enc.finish(**kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.enc, name)


class _Probe:
    """Stands in for the backend's device: hands out timed encoders, forwards the rest."""

    def __init__(self, be: G.GpuBackend) -> None:
        self.dev = be.dev
        self.qs = self.dev.create_query_set(type=wgpu.QueryType.timestamp, count=MAX_QUERIES)
        U = wgpu.BufferUsage
        self.resolved = self.dev.create_buffer(size=8 * MAX_QUERIES, usage=U.QUERY_RESOLVE | U.COPY_SRC)
        self.readable = self.dev.create_buffer(size=8 * MAX_QUERIES, usage=U.COPY_SRC | U.COPY_DST)
        # (FOLD's odd-step variants "neuron1", "propagate1" count under "neuron", "propagate")
        self.names = {id(p): G.KERNEL_BASE.get(k, k) for k, p in be._pipes.items()}
        self.marks: list[str] = []

    def create_command_encoder(self, **kw: Any) -> _TimedEncoder:
        return _TimedEncoder(self.dev.create_command_encoder(**kw), self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.dev, name)

    def kernel_ns(self) -> tuple[dict[str, int], dict[str, int], int]:
        """(GPU ns per kernel, dispatches per kernel, whole pass ns) of the last advance."""
        n = len(self.marks)
        t = np.frombuffer(self.dev.queue.read_buffer(self.readable, 0, 8 * n), np.uint64).astype(np.int64)
        ns: dict[str, int] = defaultdict(int)
        count: dict[str, int] = defaultdict(int)
        for i in range(1, n):
            ns[self.marks[i]] += int(t[i] - t[i - 1])
            count[self.marks[i]] += 1
        return dict(ns), dict(count), int(t[n - 1] - t[0]) if n > 1 else 0


def build(net: str, n: int, brains: int) -> tuple[Any, float]:
    """The layout of ``net`` (on a numpy world, not stepped) and its dt in seconds."""
    if net == "crowd":
        w = World(dt=0.001, backend="numpy", seed=1)
        w.spawn(npc_circuit(), brains)
    elif net == "scale":  # `spikeforge bench scale`'s network
        w = World(dt=0.0001, backend="numpy", seed=1)
        w.spawn(scale_circuit(n, indegree=80))
    else:  # one CUBA brain as `bench cuba`
        w = World(dt=0.0001, backend="numpy", seed=1)
        w.spawn(cuba_circuit(n))
    L = w.layout
    if L.sensor_values.size:
        L.sensor_values[...] = np.random.default_rng(1).random(L.sensor_values.size, dtype=np.float32)
    return L, w.dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--net", choices=("scale", "crowd", "cuba"), default="scale")
    ap.add_argument("--n", type=int, default=1_200_000, help="neurons (scale, cuba)")
    ap.add_argument("--brains", type=int, default=1000, help="brains (crowd)")
    ap.add_argument("--steps", type=int, default=20, help="steps per advance")
    ap.add_argument("--repeats", type=int, default=7, help="timed advances (medians are reported)")
    ap.add_argument("--label", default="", help="a name for this configuration in the output")
    ap.add_argument("--pace", type=float, default=0.0,
                    help="start each timed advance on a clock of this many Hz, as a game does (0: back to back)")
    args = ap.parse_args()
    L, dt = build(args.net, args.n, args.brains)
    be = G.GpuBackend(L)
    done = 0
    for _ in range(3):  # warm: compile, clocks, spike-list capacity
        be.advance(args.steps, done, None)
        done += args.steps

    # the SDK's own path first (raw C calls after the first advance): its wall time only
    raw_walls: list[float] = []
    clock = FrameClock(args.pace)
    for _ in range(args.repeats):
        clock.wait()
        t0 = time.perf_counter()
        be.advance(args.steps, done, None)
        raw_walls.append(time.perf_counter() - t0)
        done += args.steps
    probe = _Probe(be)
    real_dev = be.dev
    be.dev = probe
    per_kernel: dict[str, list[int]] = defaultdict(list)
    counts: dict[str, int] = {}
    pass_ns: list[int] = []
    walls: list[float] = []
    spikes = 0
    try:
        clock = FrameClock(args.pace)
        for _ in range(args.repeats):
            clock.wait()
            be._raw_ok = False  # (an advance turns the raw calls on again)
            t0 = time.perf_counter()
            rec = be.advance(args.steps, done, None)
            walls.append(time.perf_counter() - t0)
            done += args.steps
            spikes += rec.neurons.size
            ns, counts, total = probe.kernel_ns()
            for k, v in ns.items():
                per_kernel[k].append(v)
            pass_ns.append(total)
    finally:
        be.dev = real_dev
    med = {k: statistics.median(v) / 1e3 for k, v in per_kernel.items()}
    out = {
        "label": args.label, "net": args.net, "neurons": int(L.n_neurons), "synapses": int(L.n_synapses),
        "brains": int(L.n_brains), "steps": args.steps, "dt_s": dt, "adapter": be.adapter,
        "path": "per-brain" if be.fused else "per-step", "fold_prep": be.fold,
        "spikes_per_step": spikes / (args.repeats * args.steps),
        "kernel_us_per_advance": {k: round(v, 2) for k, v in sorted(med.items(), key=lambda kv: -kv[1])},
        "dispatches_per_advance": counts,
        "kernel_us_per_step": {k: round(v / args.steps, 3) for k, v in med.items()},
        "pass_us": round(statistics.median(pass_ns) / 1e3, 2),
        "pass_us_per_step": round(statistics.median(pass_ns) / 1e3 / args.steps, 3),
        "pass_us_p10_p90": [round(float(np.percentile(pass_ns, q)) / 1e3, 2) for q in (10, 90)],
        "wall_us": round(statistics.median(walls) * 1e6, 1),
        "wall_us_p10_p90": [round(float(np.percentile(walls, q)) * 1e6, 1) for q in (10, 90)],
        "raw_wall_us": round(statistics.median(raw_walls) * 1e6, 1),
        "raw_wall_us_p10_p90": [round(float(np.percentile(raw_walls, q)) * 1e6, 1) for q in (10, 90)],
        "pace_hz": args.pace,
        "env": {k: v for k, v in os.environ.items()
                if k.startswith("SPIKEFORGE_GPU_") and k != "SPIKEFORGE_GPU_TIMESTAMPS"},
    }
    print(json.dumps(out), flush=True)
    be.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
