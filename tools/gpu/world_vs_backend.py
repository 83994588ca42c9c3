"""Does a ``World`` frame cost more than its backend's advance? One world, the two timed alternately.

On an H100 (docs/performance.md, 2026-12-07) crowd 10,000's ``World.advance(1/60)`` paced at 60 Hz
took 5.7-6.2 ms per frame while ``tools/gpu/kernel_times.py``'s ``GpuBackend.advance`` of the same
network took 1.6-2.0 ms; for scale the gap was the world's draw-ahead of a second brain. This builds
the bench's world (``make_world``, as ``spikeforge bench crowd`` / ``scale`` do) and times, frame by
frame and alternately, ``World.advance`` (crowd: with the sensor write and actuator read of the
bench's frame) or ``World.step`` (scale) and ``world.backend.advance`` of as many steps. Prints one
JSON object with both medians.

``PYTHONPATH=sdk:. python tools/gpu/world_vs_backend.py --net crowd --brains 10000 --pace 60``
``... --draw-ahead 0`` turns the world's draw-ahead off before the spawn; ``1`` (the default) also
lifts its size limit (``world.DRAW_AHEAD_MAX_NEURONS``), so scale's brain is drawn ahead as it was
before that limit. ``--world-only`` times the World's own part of a crowd frame: its backend's
advance replaced by one that returns a fixed record of 10,000 spikes at once (no GPU needed:
``--backend numpy``). ``--kinds world`` times World frames only (no backend frames between them: a
backend frame runs the world frame's step count without the World's hint, so it spoils the commands
the GPU backend recorded ahead for the next world frame, ``GpuBackend(prerecord=...)``). On the GPU
backend ``world_wait_ms`` is the time a world frame waits in the read-back's map (the GPU's work
after the submission), ``world_host_ms`` the rest of the frame, ``world_until_submit_ms`` the part of
it before the advance's submission (the World's own work, uploads, recording) and
``world_prerecord_ms`` the part spent recording the next advance's commands between the submission
and the wait (hidden behind the GPU's work where that takes longer): on lavapipe, where the "GPU" is
the CPU and its time dominates, the host figures are the meaningful ones.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from pacing import FrameClock

from spikeforge.bench import cuba_circuit, make_world
from spikeforge.bench.crowd import npc_circuit
from spikeforge.engine.backend import SpikeRecord
from spikeforge.runtime import world as world_module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--net", choices=("crowd", "scale"), default="crowd")
    ap.add_argument("--brains", type=int, default=1000, help="crowd brains")
    ap.add_argument("--n", type=int, default=1_200_000, help="scale neurons")
    ap.add_argument("--steps", type=int, default=50, help="scale: steps per call")
    ap.add_argument("--frames", type=int, default=60, help="timed frames of each kind")
    ap.add_argument("--pace", type=float, default=0.0, help="start frames on a clock of this many Hz (0: back to back)")
    ap.add_argument("--draw-ahead", type=int, choices=(0, 1), default=1)
    ap.add_argument("--backend", default="gpu")
    ap.add_argument("--world-only", action="store_true",
                    help="crowd: time World.advance around a backend advance that returns at once")
    ap.add_argument("--kinds", choices=("world,backend", "world"), default="world,backend",
                    help="which frames to time, alternately")
    ap.add_argument("--spikes", type=float, default=2.5,
                    help="--world-only: the fixed record's rate in Hz over every neuron and 17 steps of 1 ms "
                         "(the crowd bench fires at 2.47 Hz: ~107,000 spikes a frame at 10,000 brains)")
    args = ap.parse_args()
    crowd = args.net == "crowd"
    world = make_world(args.backend, 1, 0.001 if crowd else 0.0001, None)
    world.draw_ahead = bool(args.draw_ahead)
    if args.draw_ahead:  # as before DRAW_AHEAD_MAX_NEURONS: scale's 1.2 M-neuron brain drawn ahead too
        world_module.DRAW_AHEAD_MAX_NEURONS = 1 << 62
    if crowd:
        world.spawn(npc_circuit(), count=args.brains)
        group = world.group("npc256")
        eyes, legs = group.sensor("eyes"), group.actuator("legs")
    else:
        world.spawn(cuba_circuit(args.n, indegree=80))
    rng = np.random.default_rng(1)
    values = [rng.random(eyes.shape, dtype=np.float32) for _ in range(8)] if crowd else []
    sink = 0.0
    frame_no = 0

    def world_frame() -> int:
        nonlocal sink, frame_no
        if not crowd:
            world.step(args.steps)
            return int(args.steps)
        before = world.step_count
        eyes[...] = values[frame_no % len(values)]  # drawn before the timing, as bench crowd does
        frame_no += 1
        world.advance(1.0 / 60)
        sink += float(legs[0, 0])
        return int(world.step_count - before)

    inner: list[float] = []  # time inside the backend's advance during each World frame
    backend_advance = world.backend.advance

    def timed_advance(*a: object) -> object:
        t = time.perf_counter()
        try:
            return backend_advance(*a)  # type: ignore[arg-type]
        finally:
            inner.append((time.perf_counter() - t) * 1e3)

    world.backend.advance = timed_advance  # type: ignore[method-assign]
    # per World frame (GPU backend): the read-back map's wait, the time from the frame's start to the
    # first submission, the time recording the next advance's commands ahead
    waits: list[float] = []
    until_submit: list[float] = []
    prerec: list[float] = []
    in_world = [False]
    frame_t0 = [0.0]
    be = world.backend
    map_readback = getattr(be, "_map_readback", None)
    if map_readback is not None:
        def timed(f: object, into: list[float]) -> object:
            def call(*a: object) -> object:
                t = time.perf_counter()
                try:
                    return f(*a)  # type: ignore[operator]
                finally:
                    if in_world[0]:
                        into[-1] += (time.perf_counter() - t) * 1e3
            return call

        def submitted(f: object) -> object:
            def call(*a: object) -> object:
                if in_world[0] and until_submit[-1] < 0:
                    until_submit[-1] = (time.perf_counter() - frame_t0[0]) * 1e3
                return f(*a)  # type: ignore[operator]
            return call

        be._map_readback = timed(map_readback, waits)
        be._submit = submitted(be._submit)
        if hasattr(be, "_prerecord"):
            be._submit_kept = submitted(be._submit_kept)
            be._prerecord = timed(be._prerecord, prerec)
    if args.world_only:
        n_spk = int(args.spikes * world.layout.n_neurons * 17 * 1e-3)
        pick = np.random.default_rng(2)
        steps_ = np.sort(pick.integers(0, 17, n_spk)).astype(np.int64)
        neurons_ = pick.integers(0, world.layout.n_neurons, n_spk).astype(np.int32)
        order_ = np.lexsort((neurons_, steps_))
        fixed = SpikeRecord(steps_[order_], neurons_[order_])
        backend_advance = lambda *a: fixed  # noqa: E731

    expect = getattr(be, "expect_steps", lambda n: None)  # (a checkout before the hint: none)
    if "backend" in args.kinds and crowd:
        # alternating: the advance after a World frame's is the backend frame of as many steps (what
        # the backend predicts without a hint), and after that comes the next World frame: the hint
        # goes with the backend frame, so a buffer recorded ahead is used as in a game
        be.expect_steps = lambda n: None  # type: ignore[method-assign]

    def backend_frame(steps: int) -> None:
        if crowd:
            expect(world.clock.peek(1.0 / 60))
        backend_advance(steps, world.step_count, None)  # (the world's step counter is not moved on)

    for _ in range(5):
        world_frame()
    inner.clear()
    times: dict[str, list[float]] = {"world": [], "backend": []}
    clock = FrameClock(args.pace)
    for _ in range(args.frames):
        for kind in args.kinds.split(","):
            clock.wait()
            t0 = time.perf_counter()
            if kind == "world":
                waits.append(0.0)
                prerec.append(0.0)
                until_submit.append(-1.0)
                frame_t0[0] = t0
                in_world[0] = True
                steps = world_frame()
                in_world[0] = False
            else:
                backend_frame(steps)
            times[kind].append((time.perf_counter() - t0) * 1e3)
    host = [t - w for t, w in zip(times["world"], waits, strict=True)] if map_readback is not None else []
    pre = getattr(world.backend, "prerecord_stats", None)
    ahead = getattr(world, "_ahead", None)
    print(json.dumps({
        "net": args.net, "backend": world.backend.name, "brains": world.layout.n_brains,
        "neurons": int(world.layout.n_neurons), "pace_hz": args.pace, "draw_ahead": args.draw_ahead,
        "world_only": args.world_only,
        "world_ms": round(float(np.median(times["world"])), 3),
        "world_ms_p90": round(float(np.percentile(times["world"], 90)), 3),
        "world_inner_backend_ms": round(float(np.median(inner)), 3) if inner else None,
        "world_wait_ms": round(float(np.median(waits)), 3) if host else None,
        "world_host_ms": round(float(np.median(host)), 3) if host else None,
        "world_host_ms_p90": round(float(np.percentile(host, 90)), 3) if host else None,
        "world_until_submit_ms": round(float(np.median(until_submit)), 3) if host else None,
        "world_prerecord_ms": round(float(np.median(prerec)), 3) if host else None,
        "backend_ms": round(float(np.median(times["backend"])), 3) if times["backend"] else None,
        "backend_ms_p90": round(float(np.percentile(times["backend"], 90)), 3) if times["backend"] else None,
        "prerecord": dict(pre) if pre is not None else None,
        "draw_ahead_running_at_end": bool(ahead is not None and not ahead[3].done()),
    }))


if __name__ == "__main__":
    main()
