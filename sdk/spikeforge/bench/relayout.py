"""``spikeforge bench relayout``: what a re-layout spawn costs other clients of ``spikeforge serve``.

A real ``spikeforge serve`` holds ``--brains`` brains of ``--circuit`` (``probe``: the
14-neuron test circuit of ``ipc.testing``; ``npc256``: the ``bench crowd`` brain) for a
holder client, and 20 probe brains for a player client that exchanges in a loop (1/60 s
frames) on its own thread. The holder then sends SPAWNs that re-lay the world out:

* ``grow``: one more brain of the holder's (full) prototype, so its capacity doubles;
* ``new``: one brain of a circuit new to the world (``--repeat`` times, a new circuit each).

Per spawn: the spawn's round trip seen by the holder, the server's own time for it and
the part of it that held the world lock (STATS ``server.spawns``), and the player's
exchange round trips that overlapped the spawn (count, median, p99, max). The issue-17
goal: the player's p99 <= 5 ms while another client churns spawns.

``--churn SECONDS``: then, for that long, the holder spawns one brain of a new circuit and
despawns it again, back to back (every spawn a re-layout); the player's exchanges over that
window (``churn`` row) are compared with an equally long window without spawns (``quiet``).

``--spawn-count N``: instead of the re-layout spawns, the holder sends ``--repeat`` SPAWNs of
N brains of its circuit into free slots (room made first by spawning and despawning N), no
re-layout; per spawn also the number of lock holds of its commit (``pieces``) and their
sum (``locked_total_s``); ``locked_s`` is the longest single hold.

``--profile``: instead, cProfile one ``new`` re-layout of an in-process World holding the
same brains (no server) and print where the time goes.

Example
-------
``spikeforge bench relayout --brains 10000 --circuit probe``
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from spikeforge.bench import common_args, emit, exchange_until, load_average, make_world, percentile
from spikeforge.bench.crowd import npc_circuit
from spikeforge.model.circuit import Circuit
from spikeforge.model.genome import dumps

PLAYER_BRAINS = 20
GOAL_P99_MS = 5.0


def _circuit(name: str) -> Circuit:
    from spikeforge.ipc.testing import probe_circuit

    if name == "probe":
        return probe_circuit()
    if name == "npc256":
        return npc_circuit()
    raise ValueError(f"--circuit: expected probe or npc256, got {name!r}")


def _profile(args: argparse.Namespace) -> int:
    from spikeforge.ipc.testing import probe_circuit

    world = make_world(args.backend, args.seed, 0.001, args.threads)
    world.spawn(_circuit(args.circuit), args.brains)
    world.step(5)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    world.spawn(probe_circuit("new0"), 1)
    prof.disable()
    wall = time.perf_counter() - t0
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(args.top)
    print(f"re-layout spawn (a new circuit) in a World of {args.brains} {args.circuit} brains, "
          f"{world.backend_name}: {wall:.3f} s")
    print(out.getvalue())
    return 0


def _measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    from spikeforge.ipc.client import Client
    from spikeforge.ipc.testing import probe_circuit, running_server

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sf-relayout-") as tmp:
        gdir = Path(tmp) / "extra"
        gdir.mkdir()
        if args.circuit != "probe":
            (gdir / f"{args.circuit}.json").write_text(dumps(_circuit(args.circuit)), encoding="utf-8")
        n_new = args.repeat + (400 if args.churn > 0 else 0)
        for k in range(n_new):
            (gdir / f"new{k}.json").write_text(dumps(probe_circuit(f"new{k}")), encoding="utf-8")
        with running_server(Path(tmp), genomes=[gdir], backend=args.backend, seed=args.seed,
                            args=["--max-clients", "8", "--client-memory-mb", "0"]) as srv, \
                Client.connect(srv.host, srv.port, token_file=srv.token_path, name="player") as player, \
                Client.connect(srv.host, srv.port, token_file=srv.token_path, name="holder") as holder:
            player.spawn("probe", PLAYER_BRAINS)
            name = "probe" if args.circuit == "probe" else args.circuit
            left = args.brains
            while left > 0:  # at most the protocol's spawn count per request
                n = min(left, 10000)
                holder.spawn(name, n)
                left -= n
            if name != "probe":  # fill the holder prototype's capacity exactly, so that one more grows it
                free = holder.stats()["world"]["slots"] - holder.stats()["world"]["brains"]
                if free > PLAYER_BRAINS:
                    holder.spawn(name, free - PLAYER_BRAINS)
            done: list[tuple[float, float]] = []
            stop = threading.Event()

            if args.spawn_count > 0:  # room for the measured spawns: they then only write slots
                holder.despawn(holder.spawn(name, args.spawn_count))
            th = threading.Thread(target=exchange_until, args=(player, stop, done), daemon=True)
            th.start()
            try:
                time.sleep(0.5)
                if args.spawn_count > 0:
                    rows += _bulk(args, holder, name, done)
                    return rows
                plan = [("grow", name)] + [("new", f"new{k}") for k in range(args.repeat)]
                for kind, circ in plan:
                    before = holder.stats()["world"]
                    t0 = time.perf_counter()
                    holder.spawn(circ, 1)
                    t1 = time.perf_counter()
                    time.sleep(0.3)
                    st = holder.stats()
                    waits = [(e - s) * 1e3 for s, e in list(done) if e >= t0 and s <= t1]
                    rows.append({
                        "kind": kind, "brains": int(before["brains"]), "slots_before": int(before["slots"]),
                        "slots_after": int(st["world"]["slots"]), "spawn_s": t1 - t0,
                        "server_s": st["server"]["spawns"]["last_s"],
                        "locked_s": st["server"]["spawns"]["last_locked_s"],
                        "exchanges": len(waits), "median_ms": percentile(waits, 50), "p99_ms": percentile(waits, 99),
                        "max_ms": max(waits) if waits else float("nan"), "load": load_average(),
                        "backend": args.backend, "circuit": args.circuit,
                    })
                if args.churn > 0:
                    rows += _churn(args, holder, done, args.repeat, n_new)
            finally:
                stop.set()
                th.join(30)
    return rows


def _bulk(args: argparse.Namespace, holder: Any, name: str, done: list[tuple[float, float]]
          ) -> list[dict[str, Any]]:
    """The ``bulk`` rows: ``--repeat`` spawns of ``--spawn-count`` brains into free slots."""
    rows = []
    for _ in range(max(args.repeat, 1)):
        before = holder.stats()["world"]
        t0 = time.perf_counter()
        ids = holder.spawn(name, args.spawn_count)
        t1 = time.perf_counter()
        time.sleep(0.3)
        st = holder.stats()
        sp = st["server"]["spawns"]
        waits = [(e - s) * 1e3 for s, e in list(done) if e >= t0 and s <= t1]
        rows.append({
            "kind": "bulk", "spawns": args.spawn_count, "brains": int(before["brains"]),
            "slots_before": int(before["slots"]), "slots_after": int(st["world"]["slots"]), "spawn_s": t1 - t0,
            "server_s": sp["last_s"], "locked_s": sp["last_locked_s"],
            "locked_total_s": sp.get("last_locked_total_s", sp["last_locked_s"]), "pieces": sp.get("last_pieces", 1),
            "exchanges": len(waits), "median_ms": percentile(waits, 50), "p99_ms": percentile(waits, 99),
            "max_ms": max(waits) if waits else float("nan"), "load": load_average(),
            "backend": args.backend, "circuit": args.circuit,
        })
        holder.despawn(ids)
        time.sleep(0.2)
    return rows


def _churn(args: argparse.Namespace, holder: Any, done: list[tuple[float, float]], first: int, last: int
           ) -> list[dict[str, Any]]:
    """The ``quiet`` and ``churn`` rows (see the module docstring)."""
    t0 = time.perf_counter()
    time.sleep(args.churn)
    t1 = time.perf_counter()
    spawns = 0
    locked: list[float] = []
    k = first
    while time.perf_counter() - t1 < args.churn and k < last:
        ids = holder.spawn(f"new{k}", 1)
        locked.append(float(holder.stats()["server"]["spawns"]["last_locked_s"]))
        holder.despawn(ids)
        spawns += 1
        k += 1
    t2 = time.perf_counter()
    rows = []
    for kind, a, b, n in (("quiet", t0, t1, 0), ("churn", t1, t2, spawns)):
        waits = [(e - s) * 1e3 for s, e in list(done) if s >= a and e <= b]
        rows.append({"kind": kind, "spawn_s": b - a, "spawns": n,
                     "locked_s": max(locked) if kind == "churn" and locked else 0.0,
                     "exchanges": len(waits), "median_ms": percentile(waits, 50), "p99_ms": percentile(waits, 99),
                     "max_ms": max(waits) if waits else float("nan"), "load": load_average(),
                     "backend": args.backend, "circuit": args.circuit})
    return rows


def main(argv: list[str]) -> int:
    """Run ``spikeforge bench relayout``: another client's exchange latency during re-layout spawns.

    See the module docstring for the setup and what each figure means. Prints a table, or one JSON
    object per measured spawn with ``--json``.

    Parameters
    ----------
    argv : list of str
        The arguments after ``spikeforge bench relayout`` (``--help`` lists them).

    Returns
    -------
    int
        Exit status: 0.
    """
    ap = argparse.ArgumentParser(prog="spikeforge bench relayout", description=__doc__.split("\n\n")[0])
    common_args(ap)
    ap.add_argument("--brains", type=int, default=1000, help="brains the holder client owns (default 1000)")
    ap.add_argument("--circuit", choices=("probe", "npc256"), default="probe",
                    help="the holder's circuit: probe (14 neurons, default) or npc256 (the crowd brain)")
    ap.add_argument("--repeat", type=int, default=3, help="spawns of a new circuit (default 3)")
    ap.add_argument("--churn", type=float, default=0.0,
                    help="then churn re-layout spawns for this many seconds (and as long quiet; default 0: no)")
    ap.add_argument("--spawn-count", type=int, default=0,
                    help="instead: --repeat spawns of this many brains into free slots (default 0: no)")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile one new-circuit re-layout of an in-process World instead")
    ap.add_argument("--top", type=int, default=25, help="--profile: functions listed (default 25)")
    args = ap.parse_args(argv)
    if args.brains < 1 or args.repeat < 0 or args.churn < 0 or args.spawn_count < 0:
        ap.error("--brains: >= 1; --repeat, --churn, --spawn-count: >= 0")
    if args.profile:
        return _profile(args)
    # both clients live in this process: a short GIL switch interval, so that the player's
    # thread is not held up for 5 ms (Python's default) by the holder's reply decoding
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        rows = _measure(args)
    finally:
        sys.setswitchinterval(before)
    emit(rows, args.json, f"relayout: {args.brains} {args.circuit} brains held, {args.backend}; player "
                          f"{PLAYER_BRAINS} probe brains exchanging (goal p99 <= {GOAL_P99_MS:g} ms)",
         [("kind", "spawn"), ("spawns", "spawns"), ("slots_before", "slots"), ("slots_after", "after"),
          ("spawn_s", "spawn s"), ("server_s", "server s"), ("locked_s", "locked s"),
          ("locked_total_s", "locked sum s"), ("pieces", "pieces"), ("exchanges", "player exch."),
          ("median_ms", "median ms"), ("p99_ms", "p99 ms"), ("max_ms", "max ms"), ("load", "load")])
    return 0
