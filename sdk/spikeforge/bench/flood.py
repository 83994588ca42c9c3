"""``spikeforge bench flood``: a well-behaved client's exchanges while another client floods ``spikeforge serve``.

A real ``spikeforge serve`` holds ``--brains`` probe brains for a holder client and 20 for a
player client that exchanges in a loop (1/60 s frames) on its own thread. Then, for ``--seconds``
each: a quiet window (the player alone), and one window per ``--kinds`` entry in which a
separate flooder *process* (its own interpreter: it competes for the cores, not for this
process's GIL, as a hostile client would) does, as fast as it can:

* ``connect``: connect, HELLO with the token, BYE, again (the cap refuses some: counted);
* ``preauth``: open up to ``--preauth`` TCP connections that never send HELLO, hold them 0.5 s,
  close them, again (the server's pre-HELLO cap and handshake deadline are what meet them);
* ``upload``: from one connection, upload genomes of circuits new to the server, each a
  64-population circuit under a new name (refused uploads, e.g. by the client's quota, counted);
* ``cpu``: the control: no connection at all, a busy loop that takes one core (what the other
  kinds cost the player through the cores alone, where the machine has few).

Per window: the player's exchange round trips (count, median, p99, max) and the flooder's
operations and refusals. The issue-17 goal: the player's p99 <= 5 ms while another client
floods connections, churns spawns (``spikeforge bench relayout --churn``) or uploads genomes.

Example
-------
``spikeforge bench flood --seconds 5 --kinds connect,preauth,upload,cpu``
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from spikeforge.bench import common_args, emit, exchange_until, load_average, percentile

PLAYER_BRAINS = 20
GOAL_P99_MS = 5.0
KINDS = ("connect", "preauth", "upload", "cpu")


def _upload_genome(k: int) -> dict[str, Any]:
    """A genome document new to the server: 64 small populations in a chain (its flat form,
    figures and checks are the server's work per upload)."""
    from spikeforge.model.circuit import Circuit
    from spikeforge.model.genome import dumps
    from spikeforge.model.neurons import LIF
    from spikeforge.model.synapses import FixedProbability

    c = Circuit(f"flood{os.getpid()}_{k}")
    for i in range(64):
        c.add_population(f"p{i}", 4, LIF())
        if i:
            c.connect(f"p{i - 1}", f"p{i}", FixedProbability(0.5), weight=1.0)
    doc: dict[str, Any] = json.loads(dumps(c))
    return doc


def flooder(kind: str, host: str, port: int, token_file: str, seconds: float, preauth: int) -> dict[str, Any]:
    """Flood the server at ``host:port`` with ``kind`` for ``seconds``; return the counts."""
    from spikeforge.ipc.client import Client

    ops = refused = 0
    end = time.perf_counter() + seconds
    if kind == "connect":
        while time.perf_counter() < end:
            try:
                Client.connect(host, port, token_file=token_file, name="flood", timeout=5.0).close()
                ops += 1
            except Exception:  # refused by the client cap, or reset: the flood goes on
                refused += 1
    elif kind == "preauth":
        while time.perf_counter() < end:
            socks = []
            for _ in range(preauth):
                try:
                    socks.append(socket.create_connection((host, port), timeout=2.0))
                    ops += 1
                except OSError:
                    refused += 1
            time.sleep(0.5)
            for s in socks:
                s.close()
    elif kind == "upload":
        with Client.connect(host, port, token_file=token_file, name="flood-upload") as c:
            k = 0
            doc = _upload_genome(0)  # made before the window: the flood is the upload
            while time.perf_counter() < end:
                doc["circuit"]["name"] = f"flood{os.getpid()}_{k}"
                try:
                    c.upload_genome(json.dumps(doc))
                    ops += 1
                except Exception:  # refused (quota, circuit cap): counted, the flood goes on
                    refused += 1
                k += 1
    elif kind == "cpu":
        while time.perf_counter() < end:
            ops += 1
    else:
        raise ValueError(f"--kinds: expected one of {', '.join(KINDS)}, got {kind!r}")
    return {"ops": ops, "refused": refused}


def _measure(args: argparse.Namespace, kinds: list[str]) -> list[dict[str, Any]]:
    from spikeforge.ipc.client import Client
    from spikeforge.ipc.testing import running_server

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sf-flood-") as tmp, \
            running_server(Path(tmp), backend=args.backend, seed=args.seed) as srv, \
            Client.connect(srv.host, srv.port, token_file=srv.token_path, name="player") as player, \
            Client.connect(srv.host, srv.port, token_file=srv.token_path, name="holder") as holder:
        player.spawn("probe", PLAYER_BRAINS)
        left = args.brains
        while left > 0:
            n = min(left, 10000)
            holder.spawn("probe", n)
            left -= n
        done: list[tuple[float, float]] = []
        stop = threading.Event()

        th = threading.Thread(target=exchange_until, args=(player, stop, done), daemon=True)
        th.start()
        try:
            time.sleep(0.5)
            for kind in ["quiet", *kinds]:
                counts: dict[str, Any] = {}
                proc = None
                if kind != "quiet":
                    proc = subprocess.Popen(
                        [sys.executable, "-m", "spikeforge.bench.flood", "--flooder", kind, "--host", srv.host,
                         "--port", str(srv.port), "--token-file", str(srv.token_path),
                         "--seconds", str(args.seconds), "--preauth", str(args.preauth)],
                        stdout=subprocess.PIPE, text=True)
                    time.sleep(0.3)  # the flooder's interpreter starts before the window opens
                t0 = time.perf_counter()
                time.sleep(args.seconds if proc is None else max(args.seconds - 0.6, 0.1))
                t1 = time.perf_counter()
                if proc is not None:
                    out, _ = proc.communicate(timeout=args.seconds + 60)
                    counts = json.loads(out.strip().splitlines()[-1]) if out.strip() else {"ops": -1}
                    time.sleep(1.0)  # the server settles (closed sockets, deadlines) before the next window
                waits = [(e - s) * 1e3 for s, e in list(done) if s >= t0 and e <= t1]
                rows.append({"kind": kind, "window_s": t1 - t0, "exchanges": len(waits),
                             "median_ms": percentile(waits, 50), "p99_ms": percentile(waits, 99),
                             "max_ms": max(waits) if waits else float("nan"),
                             "flood_ops": counts.get("ops", 0), "flood_refused": counts.get("refused", 0),
                             "goal_met": bool(waits) and percentile(waits, 99) <= GOAL_P99_MS,
                             "load": load_average(), "backend": args.backend, "brains": args.brains})
            alive = holder.stats()["world"]["brains"]
            rows.append({"kind": "after", "brains_alive": int(alive), "player_alive": th.is_alive()})
        finally:
            stop.set()
            th.join(30)
    return rows


def main(argv: list[str]) -> int:
    """Run ``spikeforge bench flood``: a player's exchange latency while another client floods the server.

    See the module docstring for the setup and what each figure means. Prints a table, or one JSON
    object per window with ``--json``.

    Parameters
    ----------
    argv : list of str
        The arguments after ``spikeforge bench flood`` (``--help`` lists them).

    Returns
    -------
    int
        Exit status: 0.
    """
    ap = argparse.ArgumentParser(prog="spikeforge bench flood", description=__doc__.split("\n\n")[0])
    common_args(ap)
    ap.add_argument("--brains", type=int, default=1000, help="probe brains a holder client owns (default 1000)")
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each window in s (default 5)")
    ap.add_argument("--kinds", default=",".join(KINDS), help=f"comma list of {', '.join(KINDS)} (default all)")
    ap.add_argument("--preauth", type=int, default=256, help="preauth: connections held per round (default 256)")
    ap.add_argument("--flooder", default="", help=argparse.SUPPRESS)  # the flooder process's own entry
    ap.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--token-file", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.flooder:
        print(json.dumps(flooder(args.flooder, args.host, args.port, args.token_file, args.seconds, args.preauth)))
        return 0
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or args.brains < 1 or args.seconds <= 0.7 or args.preauth < 1:
        ap.error(f"--kinds: of {', '.join(KINDS)} (unknown {bad}); --brains >= 1; --seconds > 0.7; --preauth >= 1")
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)  # as in `bench relayout`: the player's thread is not held up by the holder's
    try:
        rows = _measure(args, kinds)
    finally:
        sys.setswitchinterval(before)
    emit(rows, args.json, f"flood: {args.brains} probe brains held, {args.backend}; player {PLAYER_BRAINS} "
                          f"probe brains exchanging (goal p99 <= {GOAL_P99_MS:g} ms)",
         [("kind", "window"), ("exchanges", "player exch."), ("median_ms", "median ms"), ("p99_ms", "p99 ms"),
          ("max_ms", "max ms"), ("flood_ops", "flood ops"), ("flood_refused", "refused"), ("load", "load")])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
