"""``spikeforge bench ipc``: exchange round trip of ``spikeforge serve`` over TCP, a Unix
socket and shared memory, excluding simulation time.

Setup (the issue's figure): 100 brains with a 16-channel sensor and an 8-channel actuator,
dt = 1 ms, frames of 1/60 s (16-17 steps per exchange). A real server subprocess is
started on a free loopback port; the reference Python client runs here. For every
exchange the client measures the round trip (send sensors ... actuators read) and the
server reports the time it spent simulating (``sim_us`` of EXCHANGE_RESULT); the IPC cost
of that exchange is the difference. Reported: medians and 90th percentiles (µs). A second
row per transport (``no-steps``) sends the same exchange with ``frame_dt = 0`` (no step
runs), so the round trip there is pure protocol cost with nothing to subtract. A last
``control`` row runs a plain-socket ping-pong (no spikeforge code) whose server computes
for the median simulation time before replying: the delay the machine's scheduler alone
adds after that much CPU work, to compare the ``sim-subtracted`` rows with. ``server µs``
(``server_overhead_median_us``) is the server's own time per exchange outside the
simulation (decode, checks, scatter, gather, encode), measured inside the server.

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
from spikeforge.ipc.testing import ServerProcess, probe_genome_text, start_server

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


_CONTROL_SERVER = r"""
import socket, sys, time
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(1)
print(ls.getsockname()[1], flush=True)
c, _ = ls.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
while True:
    d = c.recv(8)
    if len(d) < 8:
        break
    busy = int.from_bytes(d, "little") / 1e6
    t = time.perf_counter()
    while time.perf_counter() - t < busy:
        pass
    c.sendall(int((time.perf_counter() - t) * 1e6).to_bytes(4, "little"))
"""


def control(busy_us: float, frames: int) -> dict[str, Any]:
    """Plain-socket ping-pong whose server computes ``busy_us`` before replying: what the
    machine's scheduler alone adds to a reply that follows that much CPU work."""
    import socket
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", _CONTROL_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        with socket.create_connection(("127.0.0.1", port)) as c:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            over = np.zeros(frames)
            for i in range(frames):
                t0 = time.perf_counter()
                c.sendall(int(busy_us).to_bytes(8, "little"))
                got = b""
                while len(got) < 4:
                    got += c.recv(4 - len(got))
                over[i] = (time.perf_counter() - t0) * 1e6 - int.from_bytes(got, "little")
    finally:
        proc.wait(10)
    return {"frames": frames, "steps_per_frame": 0.0, "rtt_median_us": float(np.median(over)) + busy_us,
            "sim_median_us": busy_us, "ipc_median_us": float(np.median(over)),
            "ipc_p90_us": float(np.percentile(over, 90)), "ipc_min_us": float(over.min())}


def run(backend: str, seed: int, brains: int, frames: int, warmup: int, frame_dt: float,
        transports: list[str]) -> list[dict[str, Any]]:
    """Measure the exchange round trip of a real ``spikeforge serve`` subprocess on each transport.

    Parameters
    ----------
    backend : str
        The server's simulation backend.
    seed : int
        World seed (and the seed of the sensor inputs).
    brains : int
        Brains spawned (16-channel sensor, 8-channel actuator each).
    frames : int
        Timed exchanges per row.
    warmup : int
        Untimed exchanges before them.
    frame_dt : float
        Game frame time per exchange, in seconds (1/60 s: 16-17 steps of 1 ms).
    transports : list of str
        Any of ``"tcp"``, ``"unix"``, ``"shm"``.

    Returns
    -------
    list of dict
        Two rows per transport: ``sim-subtracted`` (round trip minus the server's simulation time)
        and ``no-steps`` (``frame_dt = 0``: pure protocol cost); medians and 90th percentiles in µs,
        with the goal and whether it was met.
    """
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
                if transport == "unix" and usrv is None:
                    usrv = start_server(Path(tmp) / "u", genomes=[gdir], backend=backend, seed=seed,
                                        args=["--grace-seconds", "0", "--unix", str(sock)])

                def connect(transport: str = transport, usrv: ServerProcess | None = usrv) -> Client:
                    if transport == "unix":
                        assert usrv is not None
                        return Client.connect(unix=sock, token_file=usrv.token_path, name="bench-unix")
                    return Client.connect(srv.host, srv.port, token_file=srv.token_path, name=f"bench-{transport}")

                for mode, fdt in (("sim-subtracted", frame_dt), ("no-steps", 0.0)):
                    c = connect()  # a fresh session per row: its server-side medians cover this row only
                    try:
                        c.spawn(CIRCUIT, brains)
                        if transport == "shm":
                            c.open_shm()
                        m = measure(c, frames, warmup, fdt, seed)
                        st = c.stats()
                    finally:
                        c.close()
                    goal = GOALS_US[transport]
                    rows.append({"bench": "ipc", "transport": transport, "mode": mode,
                                 "backend": st["world"]["backend"], "seed": seed, "brains": brains,
                                 "sensor_channels": 16, "actuator_channels": 8, "dt_s": 0.001, "frame_dt_s": fdt, **m,
                                 "server_overhead_median_us": st["session"]["exchange_overhead_us_median"],
                                 "goal_us": goal, "met": m["ipc_median_us"] < goal})
        finally:
            srv.stop()
            if usrv is not None:
                usrv.stop()
    return rows


def main(argv: list[str]) -> int:
    """Run ``spikeforge bench ipc``: protocol round-trip cost over TCP, a Unix socket and shm (µs).

    See the module docstring for the setup and what each figure means. Prints a table, or one JSON
    object per measurement with ``--json``.

    Parameters
    ----------
    argv : list of str
        The arguments after ``spikeforge bench ipc`` (``--help`` lists them).

    Returns
    -------
    int
        Exit status: 0.
    """
    ap = argparse.ArgumentParser(prog="spikeforge bench ipc", description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default="auto", help="server backend (auto, numpy, native, gpu)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="one JSON object per transport on stdout")
    ap.add_argument("--brains", type=int, default=100)
    ap.add_argument("--frames", type=int, default=600, help="measured exchanges per transport")
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--frame-dt", type=float, default=1 / 60, help="game frame time (s)")
    ap.add_argument("--transports", default="tcp,shm,unix", help="comma list of tcp, shm, unix")
    ap.add_argument("--no-control", action="store_true",
                    help="skip the control row (plain socket ping-pong after the same CPU time as the simulation)")
    args = ap.parse_args(argv)
    transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    for t in transports:
        if t not in GOALS_US:
            ap.error(f"--transports: unknown transport {t!r}; known: {sorted(GOALS_US)}")
    if args.brains < 1 or args.frames < 1 or args.warmup < 0:
        ap.error("--brains and --frames must be >= 1, --warmup >= 0")
    rows = run(args.backend, args.seed, args.brains, args.frames, args.warmup, args.frame_dt, transports)
    if not args.no_control:
        sims = [r["sim_median_us"] for r in rows if r["mode"] == "sim-subtracted"]
        busy = float(np.median(sims)) if sims else 10_000.0
        rows.append({"bench": "ipc", "transport": "plain-socket", "mode": "control", "backend": "-",
                     "seed": args.seed, **control(busy, min(args.frames, 300)), "goal_us": None,
                     "met": None})
    if args.json:
        for r in rows:
            print(json.dumps(r))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"spikeforge bench ipc: {args.brains} brains x 16 sensor / 8 actuator channels, "
                        f"dt 1 ms, frame {args.frame_dt * 1000:.2f} ms")
    for col in ("transport", "mode", "backend", "steps", "rtt µs", "sim µs", "IPC µs", "IPC p90", "server µs", "goal",
                "met"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["transport"], r["mode"], r["backend"], f"{r['steps_per_frame']:.2f}",
                      f"{r['rtt_median_us']:.0f}", f"{r['sim_median_us']:.0f}",
                      f"{r['ipc_median_us']:.0f}", f"{r['ipc_p90_us']:.0f}",
                      f"{r['server_overhead_median_us']:.0f}" if "server_overhead_median_us" in r else "-",
                      "-" if r["met"] is None else f"< {r['goal_us']:.0f}",
                      "-" if r["met"] is None else ("yes" if r["met"] else "NO"))
    Console().print(table)
    return 0
