"""``spikeforge bench ipc``: exchange round trip of ``spikeforge serve`` over TCP, a Unix
socket and shared memory, excluding simulation time.

Setup (the issue's figure): 100 brains with a 16-channel sensor and an 8-channel actuator,
dt = 1 ms, frames of 1/60 s (16-17 steps per exchange). A real server subprocess is
started on a free loopback port; the reference Python client runs here. For every
exchange the client measures the round trip (send sensors ... actuators read) and the
server reports the time it spent simulating (``sim_us`` of EXCHANGE_RESULT); the IPC cost
of that exchange is the difference. Reported: medians and 90th percentiles (µs). A second
row per transport (``no-steps``) sends the same exchange with ``frame_dt = 0`` (no step
runs), so the round trip there is pure protocol cost with nothing to subtract.

Goals: < 300 µs over TCP, < 150 µs with shared memory.

Example
-------
``spikeforge bench ipc --backend numpy --frames 600`` (``--json``: one JSON object per
transport on stdout).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from spikeforge.ipc.client import Client
from spikeforge.ipc.testing import probe_genome_text, start_server

GOALS_US = {"tcp": 300.0, "unix": 300.0, "shm": 150.0}
CIRCUIT = "bench16x8"


def measure(c: Client, frames: int, warmup: int, frame_dt: float, seed: int) -> dict[str, Any]:
    """Run ``warmup + frames`` exchanges; return medians/p90 of round trip, sim and IPC time (µs)."""
    rng = np.random.default_rng(seed)
    inputs = rng.random((16, c.layout.sensor_floats)).astype(np.float32)
    rtt = np.zeros(frames)
    sim = np.zeros(frames)
    steps = 0
    for i in range(warmup + frames):
        c.sensors[:] = inputs[i % len(inputs)]
        t0 = time.perf_counter()
        res = c.exchange(frame_dt)
        t1 = time.perf_counter()
        if i >= warmup:
            rtt[i - warmup] = (t1 - t0) * 1e6
            sim[i - warmup] = res.sim_us
            steps += res.steps
    ipc = rtt - sim
    return {"frames": frames, "steps_per_frame": steps / frames,
            "rtt_median_us": float(np.median(rtt)), "sim_median_us": float(np.median(sim)),
            "ipc_median_us": float(np.median(ipc)), "ipc_p90_us": float(np.percentile(ipc, 90)),
            "ipc_min_us": float(ipc.min())}


def run(backend: str, seed: int, brains: int, frames: int, warmup: int, frame_dt: float,
        transports: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sf-bench-ipc-") as tmp:
        gdir = Path(tmp) / "bench-genomes"
        gdir.mkdir()
        (gdir / f"{CIRCUIT}.json").write_text(probe_genome_text(CIRCUIT, sensors=16, actuators=8, hidden=32),
                                              encoding="utf-8")
        sock = Path(tmp) / "ipc.sock"
        srv = start_server(Path(tmp), genomes=[gdir], backend=backend, seed=seed,
                           args=["--grace-seconds", "0"])
        # a second server on a Unix socket only if asked
        usrv = None
        try:
            for transport in transports:
                if transport == "unix":
                    if usrv is None:
                        usrv = start_server(Path(tmp) / "u", genomes=[gdir], backend=backend, seed=seed,
                                            args=["--grace-seconds", "0", "--unix", str(sock)])
                    c = Client.connect(unix=sock, token_file=usrv.token_path, name="bench-unix")
                else:
                    c = Client.connect(srv.host, srv.port, token_file=srv.token_path, name=f"bench-{transport}")
                try:
                    c.spawn(CIRCUIT, brains)
                    if transport == "shm":
                        c.open_shm()
                    backend_name = c.stats()["world"]["backend"]
                    goal = GOALS_US[transport]
                    for mode, fdt in (("sim-subtracted", frame_dt), ("no-steps", 0.0)):
                        m = measure(c, frames, warmup, fdt, seed)
                        rows.append({"bench": "ipc", "transport": transport, "mode": mode, "backend": backend_name,
                                     "seed": seed, "brains": brains, "sensor_channels": 16, "actuator_channels": 8,
                                     "dt_s": 0.001, "frame_dt_s": fdt, **m, "goal_us": goal,
                                     "met": m["ipc_median_us"] < goal})
                finally:
                    c.close()
        finally:
            srv.stop()
            if usrv is not None:
                usrv.stop()
    return rows


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="spikeforge bench ipc", description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default="auto", help="server backend (auto, numpy, native, gpu)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="one JSON object per transport on stdout")
    ap.add_argument("--brains", type=int, default=100)
    ap.add_argument("--frames", type=int, default=600, help="measured exchanges per transport")
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--frame-dt", type=float, default=1 / 60, help="game frame time (s)")
    ap.add_argument("--transports", default="tcp,shm,unix", help="comma list of tcp, shm, unix")
    args = ap.parse_args(argv)
    transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    for t in transports:
        if t not in GOALS_US:
            ap.error(f"--transports: unknown transport {t!r}; known: {sorted(GOALS_US)}")
    if args.brains < 1 or args.frames < 1 or args.warmup < 0:
        ap.error("--brains and --frames must be >= 1, --warmup >= 0")
    rows = run(args.backend, args.seed, args.brains, args.frames, args.warmup, args.frame_dt, transports)
    if args.json:
        for r in rows:
            print(json.dumps(r))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"spikeforge bench ipc: {args.brains} brains x 16 sensor / 8 actuator channels, "
                        f"dt 1 ms, frame {args.frame_dt * 1000:.2f} ms")
    for col in ("transport", "mode", "backend", "steps/frame", "round trip µs", "sim µs", "IPC µs (median)", "IPC p90",
                "goal", "met"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["transport"], r["mode"], r["backend"], f"{r['steps_per_frame']:.2f}",
                      f"{r['rtt_median_us']:.0f}", f"{r['sim_median_us']:.0f}",
                      f"{r['ipc_median_us']:.0f}", f"{r['ipc_p90_us']:.0f}",
                      f"< {r['goal_us']:.0f}", "yes" if r["met"] else "NO")
    Console().print(table)
    return 0
