"""Benchmark: the per-frame cost of the Godot 3 adapter, measured inside real headless Godot 3.

Runs ``samples/godot3_foragers`` (N foragers, each with 10 raycast sensor channels and a
2-channel motor) against a real ``spikeforge serve`` and reports, per physics frame, the
breakdown that ``SpikeforgeWorld.timings`` measures in GDScript (µs): ``exchange`` =
packing + encode + round trip + decode + slicing, i.e. the whole frame minus the scene's
own work (raycasts inside the sensors, movement inside the actuators) and minus the
server's simulation time. Three runs: ``frame_dt = 0`` (the server runs no step: the
exchange path alone), ``frame_dt = 1/60`` (a game frame: 16-17 steps of 1 ms), and the
same with a ``SpikeSignal`` on every forager (motor spikes delivered per brain).

    .venv/bin/python -m tests.integration.godot_support.bench --agents 100 --frames 600
    .venv/bin/python -m tests.integration.godot_support.bench --json

Conventions of ``spikeforge bench``: ``--backend``, ``--seed``, ``--json`` (one JSON object per
measurement), otherwise a table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.integration.godot_support.harness import GODOT3_SAMPLE, copy_project, run_godot


def measure(godot: str, project: Path, tmp: Path, agents: int, frames: int, frame_dt: float, spikes: bool,
            backend: str, seed: int) -> dict[str, Any]:
    """One run; returns the scene's timing summary (µs) plus the settings."""
    from spikeforge.ipc.testing import start_server

    srv = start_server(tmp / f"server-{frame_dt}-{spikes}", genomes=[GODOT3_SAMPLE / "brains"], backend=backend,
                       seed=seed)
    try:
        run = run_godot(godot, project, tmp, {
            "SPIKEFORGE_PORT": str(srv.port), "SPIKEFORGE_TOKEN_FILE": str(srv.token_path),
            "SPIKEFORGE_AGENTS": str(agents), "SPIKEFORGE_EXCHANGES": str(frames),
            "SPIKEFORGE_TIME_LIMIT": "600", "SPIKEFORGE_FRAME_DT": repr(frame_dt),
            "SPIKEFORGE_SPIKES": "1" if spikes else "0",
        }, timeout=900, args=["--fixed-fps", "60"])
    finally:
        srv.stop()
    done = run.markers.get("SPIKEFORGE_DONE")
    if not done:
        raise RuntimeError(f"Godot did not finish:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    summary = json.loads(done[-1])
    return {"bench": "godot3", "agents": agents, "frames": summary["exchanges"], "frame_dt": frame_dt,
            "spike_signals": spikes,
            "backend": backend, "seed": seed, "sensor_floats": agents * 10, "actuator_floats": agents * 2,
            "timings_us": summary["timings"]}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="godot3 bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--json", action="store_true", help="one JSON object per measurement")
    args = ap.parse_args(argv)
    godot = shutil.which("godot3-server")
    if godot is None:
        print("godot3-server is not installed (apt-get install godot3-server)", file=sys.stderr)
        return 1
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        project = copy_project(GODOT3_SAMPLE, tmp / "project")
        for frame_dt, spikes in ((0.0, False), (1.0 / 60.0, False), (1.0 / 60.0, True)):
            row = measure(godot, project, tmp, args.agents, args.frames, frame_dt, spikes, args.backend, args.seed)
            rows.append(row)
            if args.json:
                print(json.dumps(row), flush=True)
    if not args.json:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"Godot 3 adapter, {args.agents} agents, {args.frames} frames (µs per frame)")
        for col in ("frame_dt", "spikes", "part", "median", "p95", "mean", "max"):
            table.add_column(col, justify="right")
        for row in rows:
            for part in ("exchange", "gdscript", "wait", "io_minus_sim", "sense", "read", "act", "apply", "sim",
                         "total"):
                st = row["timings_us"][part]
                table.add_row(f"{row['frame_dt']:.4f}", "yes" if row["spike_signals"] else "no", part,
                              str(st["median"]), str(st["p95"]), f"{st['mean']:.0f}", str(st["max"]))
        Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
