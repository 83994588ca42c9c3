"""Run real headless Godot 3 (Debian's ``godot3-server``) on a project, safely.

The traps (see ENVIRONMENT.md) and how this module handles them:

* a runtime ``SCRIPT ERROR`` never stops Godot, and a parse error can exit 0: every run
  is under a hard timeout, every script is first checked with ``--check-only``, and a run
  only counts when stdout has our own success marker and no ``SCRIPT ERROR``;
* Godot writes user data and logs: ``XDG_DATA_HOME``/``HOME`` point into a temp folder and
  the projects disable file logging;
* the checkout must stay clean: projects are copied (symlinks resolved) into a temp
  folder before Godot touches them (it writes ``.import/`` and rewrites project.godot).

If ``godot3-server`` is missing the tests skip, except under CI (``CI=true``) where they
fail: CI installs it through ``make apt``. Godot 4 is found by
:func:`spikeforge.bench.godot.find_godot4` (``$GODOT4``, ``godot`` 4.2+ on PATH, or the
private root ``make godot4`` caches under ``.venv/godot4-root``); missing, the Godot 4
tests skip, and fail under CI.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from spikeforge.bench.godot import (
    GODOT4_MISSING,
    copy_project,
    errors_in,
    find_godot4,
    godot_env,
    import_godot4_project,
    timeout_prefix,
)
from spikeforge.bench.godot import GodotRun as _BenchGodotRun
from spikeforge.bench.godot import run_godot as _bench_run_godot

__all__ = ["copy_project", "errors_in", "godot_env", "import_godot4_project", "timeout_prefix"]

REPO = Path(__file__).resolve().parents[3]
GODOT3_ADDON = REPO / "integrations" / "godot3" / "addons" / "spikeforge"
GODOT4_ADDON = REPO / "integrations" / "godot" / "addons" / "spikeforge"
GODOT3_SAMPLE = REPO / "samples" / "godot3_foragers"
GODOT4_SAMPLE = REPO / "samples" / "godot_foragers"
FRAMES_DIR = GODOT4_ADDON / "tests" / "frames"



def godot3_binary() -> str:
    """Path of ``godot3-server``; skip the test (fail under CI) when it is missing."""
    path = shutil.which("godot3-server")
    if path is None:
        message = "godot3-server is not installed (apt-get install godot3-server; `make apt` does it)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


_GODOT4: list[str | None] = []


def godot4_binary() -> str:
    """The Godot 4.2+ command (``find_godot4``); skip the test (fail under CI) when none."""
    if not _GODOT4:
        _GODOT4.append(find_godot4())
    path = _GODOT4[0]
    if path is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(GODOT4_MISSING)
        pytest.skip(GODOT4_MISSING)
    return path


def check_scripts(godot: str, project: Path, tmp: Path, only: list[str] | None = None) -> dict[str, str]:
    """``--check-only`` every .gd of ``project`` (or the relative paths ``only``); returns
    {relative path: error output} for the scripts that fail."""
    failures: dict[str, str] = {}
    for script in sorted(project.rglob("*.gd")):
        rel = script.relative_to(project).as_posix()
        if only is not None and rel not in only:
            continue
        proc = subprocess.run([*timeout_prefix(60), godot, "--path", str(project), "--check-only", "-s", rel],
                              capture_output=True, text=True, timeout=70, env=godot_env(tmp))
        out = proc.stdout + proc.stderr
        if proc.returncode != 0 or errors_in(out):
            failures[rel] = "\n".join(errors_in(out)) or out[-2000:]
    return failures


def class_registry(project_godot: str) -> list[dict[str, str]]:
    """The ``_global_script_classes`` entries of a project.godot text, as dicts."""
    m = re.search(r"_global_script_classes=\[(.*?)\]\n", project_godot, re.S)
    if not m:
        return []
    entries = re.findall(r"\{(.*?)\}", m.group(1), re.S)
    out = []
    for e in entries:
        out.append(dict(re.findall(r'"(\w+)": "([^"]*)"', e)))
    return sorted(out, key=lambda d: d.get("class", ""))


@dataclass
class GodotRun(_BenchGodotRun):
    """The outcome of one Godot run (``spikeforge.bench.godot.GodotRun``) with a test helper."""

    def marker(self, name: str) -> str:
        """Text after the last ``name`` marker line; fails the test with the output when absent."""
        values = self.markers.get(name)
        if not values:
            pytest.fail(f"Godot printed no {name} line (rc={self.returncode}, timed out={self.timed_out}).\n"
                        f"stdout:\n{self.stdout[-4000:]}\nstderr:\n{self.stderr[-4000:]}")
        return values[-1]


def run_godot(godot: str, project: Path, tmp: Path, env_extra: dict[str, str], timeout: float,
              args: list[str] | None = None,
              on_line: Callable[[str], None] | None = None, engine: int = 3) -> GodotRun:
    """Run the project's main scene headless under a hard timeout, streaming stdout
    (``spikeforge.bench.godot.run_godot``); ``on_line`` gets each stdout line as it arrives."""
    run = _bench_run_godot(godot, project, tmp, env_extra, timeout, args=args, on_line=on_line, engine=engine)
    return GodotRun(**{f.name: getattr(run, f.name) for f in fields(run)})


SLOW_MACHINE = {"SPIKEFORGE_REPLY_TIMEOUT": "60"}
"""A loaded 2-core CI machine can take more than the default 10 s to spawn 100 brains; a
client whose SPAWN reply times out reconnects and spawns again (two brains per agent)."""


# ---------------------------------------------------------------------- records
@dataclass
class Record:
    """One exchange as the Godot side saw it."""

    session: int
    epoch: int
    steps: int
    frame_dt: float
    sensors: npt.NDArray[np.float32]
    reward_ids: npt.NDArray[np.uint32]
    rewards: npt.NDArray[np.float32]
    spikes: int
    actuators: npt.NDArray[np.float32]


def read_records(path: Path) -> list[Record]:
    """Parse the record file written by the foragers scene (``SPIKEFORGE_RECORD``)."""
    data = path.read_bytes()
    pos = 0
    out: list[Record] = []

    def take(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(data):
            raise ValueError(f"record file {path}: truncated at byte {pos} (wanted {n} more)")
        chunk = data[pos:pos + n]
        pos += n
        return chunk

    while pos < len(data):
        magic, session, epoch, steps = struct.unpack("<IIII", take(16))
        if magic != 0x31434552:
            raise ValueError(f"record file {path}: bad magic {magic:#x} at record {len(out)}")
        (frame_dt,) = struct.unpack("<d", take(8))
        (n_s,) = struct.unpack("<I", take(4))
        sensors = np.frombuffer(take(4 * n_s), "<f4").copy()
        (n_r,) = struct.unpack("<I", take(4))
        reward_ids = np.frombuffer(take(4 * n_r), "<u4").copy()
        rewards = np.frombuffer(take(4 * n_r), "<f4").copy()
        (spikes, n_a) = struct.unpack("<II", take(8))
        actuators = np.frombuffer(take(4 * n_a), "<f4").copy()
        out.append(Record(session, epoch, steps, frame_dt, sensors, reward_ids, rewards, spikes, actuators))
    return out


def replay(host: str, port: int, token_path: Path, spawns: list[tuple[str, int]],
           records: list[Record], spike_population: str = "",
           spike_brains: list[int] | None = None) -> list[tuple[npt.NDArray[np.float32], int]]:
    """Replay ``records`` (one session) through the Python reference client on a fresh server.

    ``spawns`` is the (genome JSON text, count) sequence the Godot side spawned, in its
    order (so the brain ids match); subscribes to ``spike_population`` (when given) of
    ``spike_brains`` (None: all) as the scene's SpikeSignal nodes do, then for each record
    sends its rewards and its sensor
    array with its frame time; returns (actuator array, spike count) per exchange.
    """
    from spikeforge.ipc.client import Client
    from spikeforge.ipc.protocol import RemoteError

    out = []
    rejected: list[str] = []
    with Client.connect(host, port, token_file=token_path, name="python-replay") as client:
        for genome_text, count in spawns:
            info = client.upload_genome(genome_text)
            client.spawn(info.name, count)
        if spike_population:
            client.subscribe(spike_population, spike_brains or [])
        for rec in records:
            if rec.reward_ids.size:
                try:
                    client.reward([int(i) for i in rec.reward_ids], rec.rewards)
                except RemoteError as exc:  # Godot got the same non-fatal error and went on
                    rejected.append(str(exc))
            res = client.exchange(rec.frame_dt, rec.sensors)
            spikes = sum(len(b) for b in res.batches)
            out.append((np.asarray(res.actuators, np.float32).copy(), spikes))
    REWARD_ERRORS.extend(rejected)
    return out


REWARD_ERRORS: list[str] = []
"""Error texts of REWARD requests the server refused during replays (reported by the tests)."""


def timing_table(summary: dict[str, Any]) -> str:
    """Readable lines of the timing summary printed by the foragers scene (µs)."""
    rows = []
    for key, st in summary.get("timings", {}).items():
        if st:
            rows.append(f"{key:>13}: median {st['median']:>7} µs  p95 {st['p95']:>7} µs  mean {st['mean']:>9.1f} µs"
                        f"  max {st['max']:>7} µs")
    return "\n".join(rows)
