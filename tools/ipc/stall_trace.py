"""Find what stops a client's exchange during ``spikeforge bench relayout`` (issue 17).

Runs ``spikeforge bench relayout`` with the arguments given (in this process, its server as a
child) with ``tools/ipc/stall_site/sitecustomize.py`` loaded in both processes: garbage
collections and late wake-ups of a 1 ms watcher thread (GIL held by another thread, or no core)
are logged with CLOCK_MONOTONIC stamps, and so is every player exchange. Then prints each
exchange slower than ``--slow-ms`` with the events of either process that overlapped it.

Usage::

    PYTHONPATH=sdk python tools/ipc/stall_trace.py --slow-ms 20 -- \\
        --backend native --brains 1000 --spawn-count 3000 --repeat 3
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SITE = Path(__file__).resolve().parent / "stall_site"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--slow-ms", type=float, default=20.0, help="exchanges slower than this are explained")
    ap.add_argument("bench", nargs=argparse.REMAINDER, help="-- then the bench relayout arguments")
    args = ap.parse_args()
    bench_args = [a for a in args.bench if a != "--"]
    tmp = tempfile.mkdtemp(prefix="sf-stall-")
    print("trace in", tmp, flush=True)
    prefix = os.path.join(tmp, "trace")
    os.environ["SF_STALL_TRACE"] = prefix
    os.environ["PYTHONPATH"] = os.pathsep.join([str(SITE), os.environ.get("PYTHONPATH", "")])
    spec = importlib.util.spec_from_file_location("sf_stall_site", SITE / "sitecustomize.py")
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))  # the tracer in this process too

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
    procs: dict[int, str] = {}
    for f in glob.glob(prefix + ".*.jsonl"):
        for line in Path(f).read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            if rec["ev"] == "start" or rec["pid"] not in procs:
                procs[rec["pid"]] = "bench" if rec["pid"] == os.getpid() else "server"
            else:
                events.append(rec)
    slow = [(a, b) for a, b in ex if (b - a) * 1e3 > args.slow_ms]
    print(f"{len(ex)} exchanges, {len(slow)} slower than {args.slow_ms:g} ms; "
          f"gen-2 collections: " + ", ".join(
              f"{procs.get(e['pid'], e['pid'])} {e['s'] * 1e3:.1f} ms ({e['objects']} objects)"
              for e in sorted(events, key=lambda e: e["t"]) if e["ev"] == "gc" and e["gen"] == 2))
    def overlaps(e: dict[str, Any], a: float, b: float) -> bool:
        return bool(e["t"] <= b and e["t"] + e["s"] >= a)

    gcs = [e for e in events if e["ev"] == "gc" and procs.get(e["pid"]) == "server"]
    hit = [(a, b) for a, b in slow if any(overlaps(e, a, b) for e in gcs)]
    print(f"slow exchanges overlapping a server garbage collection: {len(hit)} of {len(slow)} "
          f"({sum((b - a) for a, b in hit) * 1e3:.0f} of {sum((b - a) for a, b in slow) * 1e3:.0f} ms); "
          f"server collections > 5 ms while exchanging: "
          f"{sum(1 for e in gcs if e['s'] > 0.005 and ex and e['t'] > ex[0][0])}")
    t_ref = ex[0][0] if ex else 0.0
    for a, b in slow:
        print(f"exchange at {a - t_ref:8.3f} s: {(b - a) * 1e3:7.1f} ms")
        for e in sorted(events, key=lambda e: e["t"]):
            if overlaps(e, a, b):
                who = procs.get(e["pid"], str(e["pid"]))
                extra = (f"gen {e['gen']}, collected {e['collected']}" if e["ev"] == "gc" else
                         f"cpu {e['cpu'] * 1e3:.1f} ms" if e["ev"] == "late" else str(e.get("msg", "")))
                print(f"    {who:6s} {e['ev']:4s} at {e['t'] - t_ref:8.3f} s, {e['s'] * 1e3:7.1f} ms ({extra})")
                for tid, st in e.get("stacks", {}).items():
                    if st and not any("selectors" in x or ("threading.py" in x and "wait" in x) for x in st[:2]):
                        print(f"        thread {tid}: " + " <- ".join(st[:6]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
