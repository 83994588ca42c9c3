"""``spikeforge bench godot``: the Godot foragers sample in real headless Godot 4 (default)
or Godot 3 (``--engine 3``).

Runs ``samples/godot_foragers`` in Godot 4.2+ (found by :func:`find_godot4`: ``$GODOT4``,
``godot`` on PATH, or the private root ``make godot4`` caches under ``.venv/godot4-root``)
or ``samples/godot3_foragers`` in Debian's ``godot3-server``, headless with ``--fixed-fps
60`` (physics frames back to back, 1/60 s of game time each), against a real ``spikeforge
serve``, and measures two things:

``learning``
    Food per forager per minute of game time with reward-modulated STDP on against the
    *same* initial brains frozen (same server seed, same arena seed), over the last
    ``--eval-fraction`` of ``--minutes`` game minutes, for every ``--seeds`` seed. The
    brains (``make_genome.py``) have no innate food reflex: they must learn to steer to
    food. Goal: learning clearly beats frozen (ratio > 1.5) in every seed.
``exchange``
    The per-frame cost of the adapter: the breakdown ``SpikeforgeWorld.timings`` measures
    in GDScript (µs), for ``frame_dt = 0`` (the server runs no step: the exchange path
    alone), ``frame_dt = 1/60`` (a game frame: 16-17 steps of 1 ms) and the same with a
    ``SpikeSignal`` on every forager. ``exchange`` = packing + encode + round trip +
    decode + slicing, i.e. the whole frame minus the scene's own work and minus the
    server's simulation time. ``scene_sense`` is the scene's own GDScript work outside
    the adapter: finding every forager's nearest food and computing its reward.

Example
-------
``spikeforge bench godot --parts learning --minutes 4 --seeds 3``
``spikeforge bench godot --parts exchange --agents 100 --frames 600 --json``
``spikeforge bench godot --engine 3 --parts exchange``
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
GODOT3_SAMPLE = REPO / "samples" / "godot3_foragers"
GODOT4_SAMPLE = REPO / "samples" / "godot_foragers"
GODOT4_ROOT = REPO / ".venv" / "godot4-root"
"""Where ``make godot4`` (``integrations/godot/install_godot4.py``) caches Debian sid's Godot 4."""
GODOT4_MIN = (4, 2)
PARTS = ("learning", "exchange")
ERROR_MARKERS = ("SCRIPT ERROR", "Parse Error", "Invalid call", "Invalid get index", "Invalid set index")
ERROR_MARKERS_4 = (*ERROR_MARKERS, "ERROR:")
"""Godot 4 prefixes every engine and script error (push_error included) with ``ERROR:``."""


def godot_version(cmd: str) -> tuple[int, int] | None:
    """(major, minor) that ``cmd --headless --version`` prints; None when it does not run."""
    try:
        proc = subprocess.run([cmd, "--headless", "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = proc.stdout.strip().splitlines()
    m = re.match(r"(\d+)\.(\d+)", lines[-1] if lines else "")
    if proc.returncode != 0 or m is None:
        return None
    return int(m.group(1)), int(m.group(2))


def find_godot4() -> str | None:
    """The Godot 4.2+ command to run, or None.

    Looks, in order, at ``$GODOT4`` (an executable or wrapper; when set it must work),
    ``godot`` and ``godot4`` on PATH (taken when ``--version`` says 4.2+), and the wrapper
    ``.venv/godot4-root/godot4`` that ``make godot4`` writes.
    """
    env = os.environ.get("GODOT4", "").strip()
    if env:
        path = shutil.which(env) or env
        version = godot_version(path)
        return path if version is not None and version >= GODOT4_MIN else None
    for name in ("godot", "godot4"):
        found = shutil.which(name)
        if found is not None:
            version = godot_version(found)
            if version is not None and version >= GODOT4_MIN:
                return found
    wrapper = GODOT4_ROOT / "godot4"
    if wrapper.exists() and godot_version(str(wrapper)) is not None:
        return str(wrapper)
    return None


GODOT4_MISSING = ("no Godot 4.2+ found: set GODOT4 to a Godot 4 executable, put `godot` 4.2+ on PATH, "
                  "or run `make godot4` (Debian sid's godot unpacked under .venv/godot4-root)")


def import_godot4_project(godot: str, project: Path, tmp: Path, timeout: float = 180) -> str:
    """``godot --headless --import``: build a copied Godot 4 project's class cache (``class_name``
    registry) and imports; returns the output; raises RuntimeError on errors or a timeout."""
    cmd = [*timeout_prefix(timeout), godot, "--headless", "--import", "--path", str(project)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 15, env=godot_env(tmp))
    out = proc.stdout + proc.stderr
    bad = errors_in(out, engine=4)
    if proc.returncode != 0 or bad:
        raise RuntimeError(f"godot --import of {project} failed (rc={proc.returncode}): {bad[:10]}\n{out[-3000:]}")
    if not (project / ".godot" / "global_script_class_cache.cfg").exists():
        raise RuntimeError(f"godot --import wrote no class cache for {project}:\n{out[-3000:]}")
    return out
FPS = 60
FOOD_EVERY = 600
"""Physics frames between two ``SPIKEFORGE_FOOD`` lines of the scene (10 s of game time)."""


def godot_env(tmp: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a Godot run: private XDG/HOME dirs under ``tmp``, C.UTF-8 locale,
    ``extra`` variables."""
    home = tmp / "godot-home"
    (home / "data").mkdir(parents=True, exist_ok=True)
    (home / "config").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update({"XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config"),
                "HOME": str(home), "LANG": "C.UTF-8"})
    env.update(extra or {})
    return env


def copy_project(src: Path, dest: Path) -> Path:
    """Copy a Godot project (resolving the addon symlink) to ``dest``; returns ``dest``."""
    shutil.copytree(src, dest, symlinks=False, ignore=shutil.ignore_patterns(".import", "*.import", "__pycache__"))
    return dest


def timeout_prefix(seconds: float) -> list[str]:
    """``timeout -k 5 N`` (coreutils) when available, so a hung Godot is killed by the OS."""
    exe = shutil.which("timeout")
    return [exe, "-k", "5", str(int(seconds))] if exe else []


def errors_in(output: str, engine: int = 3) -> list[str]:
    """Lines of Godot output that report an error (Godot 4: every ``ERROR:`` line too)."""
    markers = ERROR_MARKERS_4 if engine == 4 else ERROR_MARKERS
    return [line for line in output.splitlines() if any(m in line for m in markers)]


@dataclass
class GodotRun:
    """The outcome of one Godot run (``markers``: text after each ``SPIKEFORGE_<NAME>`` line)."""

    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool
    markers: dict[str, list[str]] = field(default_factory=dict)
    engine: int = 3

    def script_errors(self) -> list[str]:
        """Runtime GDScript errors reported during the run (they never stop Godot)."""
        return errors_in(self.stdout + self.stderr, self.engine)


def run_godot(godot: str, project: Path, tmp: Path, env_extra: dict[str, str], timeout: float,
              args: list[str] | None = None, on_line: Callable[[str], None] | None = None,
              engine: int = 3) -> GodotRun:
    """Run the project's main scene headless under a hard timeout (s), streaming stdout.

    ``on_line`` is called with each stdout line as it arrives. Marker lines
    (``SPIKEFORGE_<NAME> rest``) are collected into ``GodotRun.markers``. ``engine=4``
    adds ``--headless`` (Godot 3's server build is headless already) and counts every
    ``ERROR:`` line as an error.
    """
    head = ["--headless"] if engine == 4 else []
    cmd = [*timeout_prefix(timeout + 10), godot, *head, "--path", str(project), *(args or [])]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=godot_env(tmp, env_extra), start_new_session=True)
    out_lines: list[str] = []
    err_lines: list[str] = []
    markers: dict[str, list[str]] = {}

    def pump_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err_lines.append(line)

    def pump_out() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            out_lines.append(line)
            m = re.match(r"(SPIKEFORGE_[A-Z_]+) ?(.*)$", line.rstrip("\n"))
            if m:
                markers.setdefault(m.group(1), []).append(m.group(2))
            if on_line is not None:
                on_line(line)

    threads = [threading.Thread(target=pump_err, daemon=True), threading.Thread(target=pump_out, daemon=True)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    timed_out = False
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    for t in threads:
        t.join(10)
    return GodotRun(proc.returncode, "".join(out_lines), "".join(err_lines), time.monotonic() - t0, timed_out,
                    markers, engine)


def scene_args(engine: int, frames: int) -> list[str]:
    """Command-line arguments of a scene run: ``--fixed-fps 60`` (frames back to back) and,
    on Godot 4, ``--quit-after`` a safety bound of main-loop iterations beyond ``frames``
    exchanges (generous: frames without a server, e.g. while one restarts, pass fast; the
    scene's wall-clock limit and the process timeout are the real bounds)."""
    args = ["--fixed-fps", str(FPS)]
    if engine == 4:
        args += ["--quit-after", str(2 * frames + 300 * FPS)]
    return args


def _run_scene(godot: str, project: Path, tmp: Path, env: dict[str, str], backend: str, seed: int,
               timeout: float, engine: int = 3) -> tuple[dict[str, Any], GodotRun]:
    """Start a server (``seed``), run the scene with ``env``; returns (SPIKEFORGE_DONE json, run)."""
    from spikeforge.ipc.testing import start_server

    tmp.mkdir(parents=True, exist_ok=True)
    srv = start_server(tmp / "server", genomes=[project / "brains"], backend=backend, seed=seed)
    try:
        run = run_godot(godot, project, tmp, {"SPIKEFORGE_PORT": str(srv.port),
                                              "SPIKEFORGE_TOKEN_FILE": str(srv.token_path),
                                              "SPIKEFORGE_REPLY_TIMEOUT": "60", **env},
                        timeout=timeout, args=scene_args(engine, int(env.get("SPIKEFORGE_EXCHANGES", "0"))),
                        engine=engine)
    finally:
        srv.stop()
    done = run.markers.get("SPIKEFORGE_DONE")
    if not done or run.script_errors():
        raise RuntimeError(f"Godot did not finish cleanly (errors: {run.script_errors()[:5]}):\n"
                           f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return json.loads(done[-1]), run


def measure_exchange(godot: str, project: Path, tmp: Path, agents: int, frames: int, frame_dt: float,
                     spikes: bool, backend: str, seed: int, engine: int = 3) -> dict[str, Any]:
    """One exchange-timing run; returns the scene's timing summary (µs) plus the settings."""
    summary, _ = _run_scene(godot, project, tmp / f"exchange-{frame_dt:.4f}-{spikes}", {
        "SPIKEFORGE_AGENTS": str(agents), "SPIKEFORGE_EXCHANGES": str(frames),
        "SPIKEFORGE_TIME_LIMIT": "600", "SPIKEFORGE_FRAME_DT": repr(frame_dt),
        "SPIKEFORGE_SPIKES": "1" if spikes else "0",
    }, backend, seed, timeout=900, engine=engine)
    return {"bench": "godot", "part": "exchange", "engine": engine, "agents": agents, "frames": summary["exchanges"],
            "frame_dt": frame_dt, "spike_signals": spikes, "backend": backend, "seed": seed,
            "sensor_floats": agents * sensor_floats_per_agent(project), "actuator_floats": agents * 2,
            "timings_us": summary["timings"]}


def sensor_floats_per_agent(project: Path) -> int:
    """Sensor channels of the sample's forager genome (floats sent per agent and frame)."""
    genome = json.loads((project / "brains" / "forager.json").read_text(encoding="utf-8"))
    return int(sum(int(o["channels"]) for o in genome["circuit"]["organs"] if o["organ"] == "sensor"))


def food_rate(food_lines: list[str], agents: int, frames: int,
              eval_fraction: float) -> tuple[float, float, list[float]]:
    """From the scene's ``SPIKEFORGE_FOOD <frame> <food total> <wall-contact total>`` lines:
    (food per forager per minute over the last ``eval_fraction`` of the run, the fraction
    of forager-frames touching a wall in that window, the food rate per ``FOOD_EVERY``
    frames)."""
    points = [(0, 0, 0)]
    for line in food_lines:
        parts = line.split()
        if len(parts) != 3:
            raise RuntimeError(f"malformed SPIKEFORGE_FOOD line: {line!r}")
        points.append((int(parts[0]), int(parts[1]), int(parts[2])))
    points = [p for p in points if p[0] <= frames]
    if len(points) < 3:
        raise RuntimeError(f"too few SPIKEFORGE_FOOD lines ({len(points) - 1}) for {frames} frames")
    curve = [(b1 - b0) / agents / ((f1 - f0) / FPS / 60.0)
             for (f0, b0, _), (f1, b1, _) in itertools.pairwise(points)]
    end_f, end_b, end_c = points[-1]
    start = end_f - max(FOOD_EVERY, round(end_f * eval_fraction / FOOD_EVERY) * FOOD_EVERY)
    start_f, start_b, start_c = next(p for p in points if p[0] >= start)
    rate = (end_b - start_b) / agents / ((end_f - start_f) / FPS / 60.0)
    contact = (end_c - start_c) / agents / (end_f - start_f)
    return rate, contact, curve


def measure_learning(godot: str, project: Path, tmp: Path, agents: int, minutes: float, learning: bool,
                     backend: str, seed: int, eval_fraction: float, engine: int = 3) -> dict[str, Any]:
    """One foragers run (learning on or frozen); food per forager per game minute."""
    frames = max(2 * FOOD_EVERY, round(minutes * 60.0 * FPS / FOOD_EVERY) * FOOD_EVERY)
    t0 = time.perf_counter()
    summary, run = _run_scene(godot, project, tmp / f"learning-{seed}-{learning}", {
        "SPIKEFORGE_AGENTS": str(agents), "SPIKEFORGE_EXCHANGES": str(frames),
        "SPIKEFORGE_TIME_LIMIT": str(max(600, int(frames / 20))), "SPIKEFORGE_SEED": str(seed),
        "SPIKEFORGE_SPIKES": "0", "SPIKEFORGE_LEARNING": "1" if learning else "0",
    }, backend, seed, timeout=max(900.0, frames / 15.0), engine=engine)
    if summary["timed_out"]:
        raise RuntimeError(f"Godot hit its time limit after {summary['exchanges']} of {frames} frames")
    rate, contact, curve = food_rate(run.markers.get("SPIKEFORGE_FOOD", []), agents, frames, eval_fraction)
    return {"bench": "godot", "part": "learning", "engine": engine, "mode": "learn" if learning else "frozen",
            "seed": seed,
            "backend": backend, "agents": agents, "minutes": frames / FPS / 60.0, "eval_fraction": eval_fraction,
            "food_per_forager_min": round(rate, 3), "wall_contact": round(contact, 4), "eaten": summary["eaten"],
            "curve_food_per_forager_min": [round(c, 2) for c in curve], "wall_s": round(time.perf_counter() - t0, 1)}


def main(argv: list[str]) -> int:
    """Run ``spikeforge bench godot``: the Godot foragers sample in real headless Godot (learning and exchange cost).

    See the module docstring for the setup and what each figure means. Prints a table, or one JSON
    object per measurement with ``--json``.

    Parameters
    ----------
    argv : list of str
        The arguments after ``spikeforge bench godot`` (``--help`` lists them).

    Returns
    -------
    int
        Exit status: 0; 1 when Godot is not installed or a run failed; 2 for invalid arguments.
    """
    ap = argparse.ArgumentParser(prog="spikeforge bench godot", description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", default="learning,exchange", help="comma-separated: learning, exchange")
    ap.add_argument("--agents", type=int, default=None,
                    help="foragers per scene (default 32 for learning, 100 for exchange)")
    ap.add_argument("--minutes", type=float, default=4.0, help="learning: game minutes per run")
    ap.add_argument("--seeds", type=int, default=2, help="learning: seeds (seed, seed+1, ...)")
    ap.add_argument("--eval-fraction", type=float, default=0.25,
                    help="learning: measure food over this last fraction of the run")
    ap.add_argument("--frames", type=int, default=600, help="exchange: physics frames per run")
    ap.add_argument("--engine", type=int, choices=(3, 4), default=4,
                    help="4: samples/godot_foragers in Godot 4.2+ (default); "
                         "3: samples/godot3_foragers in godot3-server")
    ap.add_argument("--project", type=Path, default=None,
                    help="the foragers project (default: the sample of --engine)")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--json", action="store_true", help="one JSON object per measurement")
    args = ap.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        print(f"--parts: unknown part(s) {bad or parts}; choose from {PARTS}", file=sys.stderr)
        return 2
    if not 0.0 < args.eval_fraction <= 1.0:
        print(f"--eval-fraction: must be in (0, 1], got {args.eval_fraction}", file=sys.stderr)
        return 2
    if args.minutes <= 0 or args.seeds < 1 or args.frames < 1 or (args.agents is not None and args.agents < 1):
        print("--minutes, --seeds, --frames, --agents: must be positive", file=sys.stderr)
        return 2
    if args.project is None:
        args.project = GODOT4_SAMPLE if args.engine == 4 else GODOT3_SAMPLE
    if not (args.project / "project.godot").exists():
        print(f"--project: {args.project} is not a Godot project (no project.godot)", file=sys.stderr)
        return 2
    godot = find_godot4() if args.engine == 4 else shutil.which("godot3-server")
    if godot is None:
        print(GODOT4_MISSING if args.engine == 4 else
              "godot3-server is not installed (apt-get install godot3-server)", file=sys.stderr)
        return 1
    rows: list[dict[str, Any]] = []

    def emit(row: dict[str, Any]) -> None:
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            print(f"  done: {row['part']} {row.get('mode', '')} seed {row['seed']}", file=sys.stderr, flush=True)

    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            project = copy_project(args.project, tmp / "project")
            if args.engine == 4:
                import_godot4_project(godot, project, tmp)
            if "learning" in parts:
                agents = args.agents or 32
                for seed in range(args.seed, args.seed + args.seeds):
                    for learning in (True, False):
                        emit(measure_learning(godot, project, tmp, agents, args.minutes, learning, args.backend,
                                              seed, args.eval_fraction, engine=args.engine))
            if "exchange" in parts:
                agents = args.agents or 100
                for frame_dt, spikes in ((0.0, False), (1.0 / 60.0, False), (1.0 / 60.0, True)):
                    emit(measure_exchange(godot, project, tmp, agents, args.frames, frame_dt, spikes,
                                          args.backend, args.seed, engine=args.engine))
    except RuntimeError as exc:
        print(f"bench godot: {exc}", file=sys.stderr)
        return 1
    if not args.json:
        _print_tables(rows, args.engine)
    return 0


def _print_tables(rows: list[dict[str, Any]], engine: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    learn = [r for r in rows if r["part"] == "learning"]
    if learn:
        first = learn[0]
        t = Table(title=f"Godot {engine} foragers: food per forager per game minute (last "
                        f"{first['eval_fraction']:.0%} of {first['minutes']:.1f} min, {first['agents']} agents)")
        for col in ("seed", "learning", "frozen", "ratio", "wall contact learning / frozen"):
            t.add_column(col, justify="right")
        for seed in sorted({r["seed"] for r in learn}):
            on = next(r for r in learn if r["seed"] == seed and r["mode"] == "learn")
            off = next(r for r in learn if r["seed"] == seed and r["mode"] == "frozen")
            a, b = on["food_per_forager_min"], off["food_per_forager_min"]
            t.add_row(str(seed), f"{a:.2f}", f"{b:.2f}", f"{a / b:.2f}x" if b > 0 else "inf",
                      f"{on['wall_contact']:.1%} / {off['wall_contact']:.1%}")
        console.print(t)
    ex = [r for r in rows if r["part"] == "exchange"]
    if ex:
        t = Table(title=f"Godot {engine} adapter, {ex[0]['agents']} agents, {ex[0]['frames']} frames (µs per frame)")
        for col in ("frame_dt", "spikes", "part", "median", "p95", "mean", "max"):
            t.add_column(col, justify="right")
        for row in ex:
            for part in ("exchange", "gdscript", "wait", "io_minus_sim", "sense", "read", "act", "apply", "sim",
                         "total", "scene_sense"):
                st = row["timings_us"].get(part)
                if not st:
                    continue
                t.add_row(f"{row['frame_dt']:.4f}", "yes" if row["spike_signals"] else "no", part,
                          str(st["median"]), str(st["p95"]), f"{st['mean']:.0f}", str(st["max"]))
        console.print(t)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
