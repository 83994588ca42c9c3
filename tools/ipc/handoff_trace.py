"""Where a client's exchange waits while another client's large spawn is committed in pieces
(issue 17: on a quiet 2-core host the player's exchange waited for all the pieces).

Runs ``spikeforge bench relayout`` with the arguments given (in this process, its server as a
child) with ``tools/ipc/handoff_site/sitecustomize.py`` loaded in the server: it records when
the event loop read each request, when an EXCHANGE entered ``ServerCore.handle``, got the world
lock and was answered, each spawn piece, and each pause between pieces with the number of
requests waiting for the lock. Every player exchange slower than ``--slow-ms`` is then broken
down on the common CLOCK_MONOTONIC clock:

* ``to_read``: from the player's send to the event loop reading bytes (the loop busy, or no GIL);
* ``to_handle``: from that read to ``ServerCore.handle`` (parsing, Endpoint);
* ``to_lock``: from ``handle`` to holding the world lock (spawn pieces run meanwhile: how many,
  and what the pauses between them saw);
* ``in_lock``: the exchange itself; ``to_reply``: from its end to the player reading the reply.

With ``--sample SECONDS`` a separate process samples the server's threads (state, CPU time,
run-queue wait from ``/proc``) and each slow exchange lists what the event loop thread
(``loop``) and the worker (``worker``) did meanwhile: a loop asleep (S) while the worker ran
waits for the GIL; a thread with run-queue time waits for a core.

Usage::

    PYTHONPATH=sdk python tools/ipc/handoff_trace.py --slow-ms 20 -- \\
        --backend native --brains 1000 --spawn-count 3000 --repeat 3
"""

from __future__ import annotations

import argparse
import bisect
import glob
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SITE = Path(__file__).resolve().parent / "handoff_site"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--slow-ms", type=float, default=20.0, help="exchanges slower than this are broken down")
    ap.add_argument("--json", action="store_true", help="one JSON line per slow exchange (else text)")
    ap.add_argument("--sample", type=float, default=0.0,
                    help="sample the server's threads from another process every this many seconds (0: off)")
    ap.add_argument("bench", nargs=argparse.REMAINDER, help="-- then the bench relayout arguments")
    args = ap.parse_args()
    bench_args = [a for a in args.bench if a != "--"]
    tmp = tempfile.mkdtemp(prefix="sf-handoff-")
    prefix = os.path.join(tmp, "trace")
    os.environ["SF_HANDOFF_TRACE"] = prefix
    if args.sample > 0:
        os.environ["SF_HANDOFF_SAMPLE"] = repr(args.sample)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(SITE), os.environ.get("PYTHONPATH", "")])

    from spikeforge.bench import relayout
    from spikeforge.ipc.client import Client

    ex: list[tuple[float, float]] = []
    plain = Client.exchange

    def timed(self: Client, *a: Any, **k: Any) -> Any:
        t = time.perf_counter()
        try:
            return plain(self, *a, **k)
        finally:
            ex.append((t, time.perf_counter()))

    Client.exchange = timed  # type: ignore[method-assign]
    relayout.main([*bench_args, "--json"])
    events: list[dict[str, Any]] = []
    samples: dict[int, list[dict[str, Any]]] = {}  # tid -> the sampler's rows, by time
    server_pid = 0
    for f in glob.glob(prefix + ".*.jsonl"):
        rows = [json.loads(line) for line in Path(f).read_text(encoding="utf-8").splitlines()]
        if ".sampler." in f:
            for r in rows:
                samples.setdefault(r["tid"], []).append(r)
        else:
            events += rows
            server_pid = int(f.rsplit(".", 2)[-2])
    if not events:
        print("no server trace (was the server stopped by SIGTERM?)", file=sys.stderr)
        return 1
    events.sort(key=lambda e: e["t"])
    times = [e["t"] for e in events]
    slow = [(a, b) for a, b in ex if (b - a) * 1e3 > args.slow_ms]
    pieces = sum(1 for e in events if e["ev"] == "pc0")
    thr: dict[int, int] = {}
    for e in events:
        if e["ev"] == "thr":
            thr[e["v"]] = thr.get(e["v"], 0) + 1
    print(f"{len(ex)} exchanges, {len(slow)} slower than {args.slow_ms:g} ms; {pieces} spawn pieces traced; "
          f"exchanges by native threads used: {dict(sorted(thr.items()))}", flush=True)
    for a, b in slow:
        win = events[bisect.bisect_left(times, a):bisect.bisect_right(times, b)]
        rx = next((e["t"] for e in win if e["ev"] == "rx"), None)
        ex0 = next((e for e in win if e["ev"] == "ex0"), None)
        ex1 = next((e for e in win if e["ev"] == "ex1" and ex0 is not None and e["v"] == ex0["v"]), None)
        ex2 = next((e for e in win if e["ev"] == "ex2" and ex0 is not None and e["v"] == ex0["v"]), None)
        t_h = ex0["t"] if ex0 else None
        t_l = ex1["t"] if ex1 else None
        before_lock = [e for e in win if t_h is not None and t_h <= e["t"] <= (t_l or b)]
        pcs = [e for e in before_lock if e["ev"] == "pc0"]
        bps = [(e0, e1) for e0, e1 in zip([e for e in before_lock if e["ev"] == "bp0"],
                                           [e for e in before_lock if e["ev"] == "bp1"], strict=False)]
        ms = lambda x, y: None if x is None or y is None else round((y - x) * 1e3, 2)  # noqa: E731
        rec = {
            "t_send": round(a, 6),  # CLOCK_MONOTONIC s (perf record -k CLOCK_MONOTONIC stamps compare)
            "exchange_ms": ms(a, b), "to_read": ms(a, rx), "to_handle": ms(rx, t_h), "to_lock": ms(t_h, t_l),
            "in_lock": ms(t_l, ex2["t"] if ex2 else None), "to_reply": ms(ex2["t"] if ex2 else None, b),
            "pieces_while_waiting": len(pcs),
            "pauses_seen_waiters": [e0["v"] for e0, _ in bps][:12],
            "pauses_ms": [ms(e0["t"], e1["t"]) for e0, e1 in bps][:12],
            "pieces_in_window": sum(1 for e in win if e["ev"] == "pc0"),
            "threads": next((e["v"] for e in win if e["ev"] == "thr"), None),
            "switch_interval_us": [e["v"] for e in events if e["ev"] == "sw" and e["t"] <= a][-1:],
            # the spawn's steps around the wait: (event, ms after the player's send)
            "spawn_steps": [(e["ev"], ms(a, e["t"])) for e in events
                            if e["ev"][:2] in ("sp", "rs", "dr", "rl") and a - 1.0 <= e["t"] <= b + 0.05],
        }
        if samples:  # each server thread meanwhile: CPU ms, run-queue wait ms, states sampled
            worker = next((e["th"] for e in events if e["ev"] == "sp0"), None)
            threads = {}
            for tid, rows in samples.items():
                w = [r for r in rows if a <= r["t"] <= b]
                if len(w) < 2:
                    continue
                name = "loop" if tid == server_pid else "worker" if tid == worker else str(tid)
                states: dict[str, int] = {}
                for r in w:
                    states[r["st"]] = states.get(r["st"], 0) + 1
                cpu = (w[-1]["cpu"] - w[0]["cpu"]) / 1e6
                if name in ("loop", "worker") or cpu > 1.0:
                    threads[name] = {"cpu_ms": round(cpu, 1), "runqueue_ms": round((w[-1]["rq"] - w[0]["rq"]) / 1e6, 1),
                                     "states": states}
            rec["server_threads"] = threads
        if args.json:
            print(json.dumps(rec), flush=True)
        else:
            print(f"exchange at {rec['t_send']:.6f}: {rec['exchange_ms']} ms: to_read {rec['to_read']}, "
                  f"to_handle {rec['to_handle']}, to_lock {rec['to_lock']} ({rec['pieces_while_waiting']} pieces "
                  f"meanwhile, pauses saw waiters {rec['pauses_seen_waiters']} for {rec['pauses_ms']} ms), "
                  f"in_lock {rec['in_lock']}, to_reply {rec['to_reply']}; native threads {rec['threads']}; "
                  f"pieces in window {rec['pieces_in_window']}, switch interval {rec['switch_interval_us']} us; "
                  f"spawn steps (ms after the send) {rec['spawn_steps']}; "
                  f"server threads {rec.get('server_threads')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
