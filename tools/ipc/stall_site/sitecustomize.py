"""Stall tracing for ``tools/ipc/stall_trace.py`` (loaded as ``sitecustomize`` by every Python
process started with this folder on PYTHONPATH, i.e. the bench and the ``spikeforge serve`` it
starts). Does nothing unless ``SF_STALL_TRACE`` names a file prefix; then appends one JSON line
per event to ``<prefix>.<pid>.jsonl``:

* ``gc``: a garbage collection (generation, start, seconds, objects collected);
* ``late``: a watcher thread that sleeps 1 ms woke more than 5 ms late (another thread held the
  GIL, or the process did not get a core), with the process CPU seconds used meanwhile (a core's
  worth: a thread of this process was computing; ~0: the process was descheduled or waiting)
  and, when over 20 ms late, the innermost frames of every other thread right then (just after
  what held the GIL).

Timestamps are ``time.perf_counter()`` (CLOCK_MONOTONIC on Linux: comparable across processes).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time

_prefix = os.environ.get("SF_STALL_TRACE")


def _frames(f: object) -> list[object]:
    out = []
    while f is not None:
        out.append(f)
        f = f.f_back  # type: ignore[attr-defined]
    return out


def _where(f: object) -> str:
    code = f.f_code  # type: ignore[attr-defined]
    return f"{code.co_filename.rsplit('/', 2)[-1]}:{f.f_lineno} {code.co_name}"  # type: ignore[attr-defined]


def _install(prefix: str) -> None:
    path = f"{prefix}.{os.getpid()}.jsonl"
    out = open(path, "a", buffering=1, encoding="utf-8")  # lives as long as the process
    lock = threading.Lock()
    who = " ".join(sys.argv[:4])

    def emit(rec: dict[str, object]) -> None:
        rec["pid"] = os.getpid()
        with lock:
            out.write(json.dumps(rec) + "\n")

    emit({"ev": "start", "argv": who, "t": time.perf_counter()})
    started: list[float] = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            t = time.perf_counter()
            if t - started[0] > 0.001 or info["generation"] == 2:
                emit({"ev": "gc", "gen": info["generation"], "t": started[0], "s": t - started[0],
                      "collected": info["collected"], "objects": len(gc.get_objects(info["generation"]))
                      if info["generation"] == 2 else -1})

    gc.callbacks.append(on_gc)

    def watch() -> None:
        while True:
            t = time.perf_counter()
            c = time.process_time()
            time.sleep(0.001)
            late = time.perf_counter() - t - 0.001
            if late > 0.005:
                rec: dict[str, object] = {"ev": "late", "t": t, "s": late, "cpu": time.process_time() - c}
                if late > 0.02:  # where the other threads are now (just after what held the GIL)
                    me = threading.get_ident()
                    rec["stacks"] = {str(k): [_where(f) for f in _frames(v)][:8]
                                     for k, v in sys._current_frames().items() if k != me}
                emit(rec)

    threading.Thread(target=watch, daemon=True, name="stall-watch").start()


if _prefix:
    _install(_prefix)
