"""``spikeforge bench unity``: the per-frame exchange cost a Unity (C#) host pays, per mode.

Compiles the Unity package's client core (``integrations/unity/com.spikeforge.unity/
Runtime/Client``) and its benchmark program (``Tests/Mono/ExchangeBench.cs``) with Mono's
``mcs``, then runs it with ``mono`` for each mode:

* ``tcp``: a real ``spikeforge serve`` subprocess, arrays inline in the frames;
* ``shm``: the same server, arrays in a shared-memory block;
* ``inprocess``: CPython embedded in the C# process through pythonnet, calling ``World``.

The figure is the C# wall time of one ``Exchange`` for all agents minus the simulation
time the spikeforge side reports for it (µs): protocol, copies, interpreter crossings.
The module also holds the build helpers the Unity tests use (:func:`build_program`).

Example
-------
``spikeforge bench unity --agents 100 --frames 2000`` (add ``--json`` for JSON lines).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
PACKAGE_DIR = REPO_ROOT / "integrations" / "unity" / "com.spikeforge.unity"
NETSTANDARD = Path("/usr/lib/mono/4.5/Facades/netstandard.dll")
DEFAULT_GENOME = REPO_ROOT / "samples" / "genomes" / "wanderer.json"
MODES = ("tcp", "shm", "inprocess")


class ToolchainError(RuntimeError):
    """Mono (``mcs``/``mono``), pythonnet or the Unity package sources are missing."""


@dataclass(frozen=True)
class Toolchain:
    """Paths of the tools that build and run the C# side.

    Attributes
    ----------
    mcs, mono : str
        Mono's C# compiler and runtime.
    python_runtime : Path
        pythonnet's ``Python.Runtime.dll`` (netstandard2.0).
    """

    mcs: str
    mono: str
    python_runtime: Path


def find_toolchain() -> Toolchain:
    """Locate ``mcs``, ``mono`` and pythonnet's runtime DLL, or raise :class:`ToolchainError`."""
    mcs, mono = shutil.which("mcs"), shutil.which("mono")
    if mcs is None or mono is None:
        raise ToolchainError("mono: `mcs` and `mono` are needed (apt-get install mono-devel; `make apt` does it)")
    if not PACKAGE_DIR.is_dir():
        raise ToolchainError(f"unity package: no folder {PACKAGE_DIR} (needs a source checkout)")
    try:
        import pythonnet
    except ImportError:
        raise ToolchainError("pythonnet: not installed (pip install 'spikeforge[unity]')") from None
    dll = Path(pythonnet.__file__).parent / "runtime" / "Python.Runtime.dll"
    if not dll.is_file():
        raise ToolchainError(f"pythonnet: no Python.Runtime.dll at {dll}")
    return Toolchain(mcs, mono, dll)


def client_sources(inprocess: bool) -> list[Path]:
    """The client core's C# files (plus the pythonnet session when ``inprocess``)."""
    client = PACKAGE_DIR / "Runtime" / "Client"
    files = sorted(client.glob("*.cs"))
    if inprocess:
        files += sorted((client / "InProcess").glob("*.cs"))
    return files


def build_program(sources: list[Path], out: Path, inprocess: bool = False, extra_refs: list[Path] | None = None,
                  target: str = "exe", toolchain: Toolchain | None = None, defines: list[str] | None = None) -> Path:
    """Compile ``sources`` with the client core into ``out`` (C# 7.2, unsafe allowed).

    With ``inprocess`` the pythonnet session is included and ``Python.Runtime.dll`` is copied
    beside ``out``; ``defines`` are conditional-compilation symbols. Raises
    :class:`ToolchainError` with the compiler's output on failure.
    """
    tc = toolchain or find_toolchain()
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [tc.mcs, "-langversion:7.2", "-unsafe", "-warnaserror+", f"-target:{target}",
           f"-out:{out}"]
    if inprocess:
        cmd += [f"-r:{tc.python_runtime}", f"-r:{NETSTANDARD}", "-r:System.Numerics"]
        shutil.copy2(tc.python_runtime, out.parent / tc.python_runtime.name)
    for ref in extra_refs or []:
        cmd.append(f"-r:{ref}")
    if defines:
        cmd.append("-define:" + ";".join(defines))
    cmd += [str(p) for p in client_sources(inprocess) + sources]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise ToolchainError(f"mcs failed ({res.returncode}):\n{res.stdout}{res.stderr}")
    return out


def mono_sources(*names: str) -> list[Path]:
    """Files of ``Tests/Mono`` by name (the shared helpers are always included)."""
    base = PACKAGE_DIR / "Tests" / "Mono"
    wanted = ["Check.cs", "Scenario.cs", *names]
    return [base / n for n in dict.fromkeys(wanted)]


def python_home_ok() -> bool:
    """True when this interpreter has the shared libpython that embedding needs."""
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    name = sysconfig.get_config_var("INSTSONAME") or ""
    return bool(name) and (Path(libdir) / name).is_file()


def run_bench(modes: list[str], genome: Path, agents: int, frames: int, backend: str, seed: int,
              workdir: Path, frame_dts: tuple[float, ...] = (0.0, 1 / 60), wait: str = "block"
              ) -> list[dict[str, Any]]:
    """Build the benchmark program and run it per mode and frame time; return its JSON records.

    ``frame_dt = 0`` runs no simulation step: the figure is the exchange path alone. ``1/60``
    is a game frame (16 steps of 1 ms): the figure is wall time minus the reported simulation.
    """
    from spikeforge.ipc.testing import start_server

    exe = build_program(mono_sources("Sessions.cs", "ExchangeBench.cs"), workdir / "bench" / "ExchangeBench.exe",
                        inprocess=True)
    tc = find_toolchain()
    common = ["--genome", str(genome), "--brains", str(agents), "--frames", str(frames), "--backend", backend,
              "--seed", str(seed)]
    records: list[dict[str, Any]] = []
    server = None
    try:
        for frame_dt in frame_dts:
            for mode in modes:
                args = [tc.mono, str(exe), "--mode", mode, *common, "--frame-dt", repr(frame_dt), "--wait", wait]
                if mode in ("tcp", "shm"):
                    if server is None:
                        server = start_server(workdir / "server", backend=backend, seed=seed)
                    args += ["--port", str(server.port), "--token-file", str(server.token_path)]
                else:
                    args += ["--python", sys.executable]
                res = subprocess.run(args, capture_output=True, text=True, check=False, timeout=900)
                if res.returncode != 0:
                    raise RuntimeError(f"bench program failed in mode {mode}:\n{res.stdout}{res.stderr}")
                line = [ln for ln in res.stdout.splitlines() if ln.startswith("{")][-1]
                records.append(json.loads(line))
    finally:
        if server is not None:
            server.stop()
    return records


GOALS_US = {"tcp": 300.0, "shm": 150.0, "inprocess": 200.0}


def main(argv: list[str]) -> int:
    """Entry point of ``spikeforge bench unity``."""
    ap = argparse.ArgumentParser(prog="spikeforge bench unity", description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default="native", help="simulation backend of the world (default native)")
    ap.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    ap.add_argument("--json", action="store_true", help="print one JSON object per mode")
    ap.add_argument("--agents", type=int, default=100, help="brains exchanged per frame (default 100)")
    ap.add_argument("--frames", type=int, default=2000, help="timed frames per mode (default 2000)")
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of tcp,shm,inprocess")
    ap.add_argument("--genome", type=Path, default=DEFAULT_GENOME, help="genome of the agents (default wanderer)")
    ap.add_argument("--frame-dt", type=float, action="append", default=None,
                    help="frame time(s) in s (repeatable; default 0 = exchange only, and 1/60)")
    ap.add_argument("--wait", choices=["block", "poll"], default="block", help="protocol reply wait (default block)")
    args = ap.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad:
        print(f"--modes: unknown mode(s) {bad}; known: {list(MODES)}", file=sys.stderr)
        return 2
    if args.agents < 1 or args.frames < 10:
        print("--agents must be >= 1 and --frames >= 10", file=sys.stderr)
        return 2
    if not args.genome.is_file():
        print(f"--genome: no file at {args.genome}", file=sys.stderr)
        return 2
    try:
        find_toolchain()
    except ToolchainError as exc:
        print(f"spikeforge bench unity: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="sf-unity-bench-") as tmp:
        dts = tuple(args.frame_dt) if args.frame_dt else (0.0, 1 / 60)
        if any(not 0 <= d <= 1 for d in dts):
            print("--frame-dt: must be within 0..1 s", file=sys.stderr)
            return 2
        records = run_bench(modes, args.genome, args.agents, args.frames, args.backend, args.seed, Path(tmp), dts,
                            args.wait)
    for r in records:
        r["goal_us"] = GOALS_US[str(r["mode"])]
        r["seed"] = args.seed
    if args.json:
        for r in records:
            print(json.dumps(r))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Unity adapter: per-frame exchange cost from C# for {args.agents} agents "
                        f"(excluding simulation; backend {args.backend})")
    for col in ("mode", "frame dt", "median µs", "p90 µs", "p99 µs", "goal µs", "wall median µs", "floats in/out"):
        table.add_column(col, justify="right" if col != "mode" else "left")
    for r in records:
        dt = float(r["frame_dt"])
        table.add_row(str(r["mode"]), "0 (no step)" if dt == 0 else f"{dt * 1000:.1f} ms",
                      f"{r['overhead_us_median']:.1f}", f"{r['overhead_us_p90']:.1f}", f"{r['overhead_us_p99']:.1f}",
                      f"{r['goal_us']:.0f}", f"{r['wall_us_median']:.1f}",
                      f"{r['sensor_floats']}/{r['actuator_floats']}")
    Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))


__all__ = ["GOALS_US", "MODES", "PACKAGE_DIR", "REPO_ROOT", "Toolchain", "ToolchainError", "build_program",
           "client_sources", "find_toolchain", "main", "mono_sources", "python_home_ok", "run_bench"]
