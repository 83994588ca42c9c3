"""Samples the threads of a process from outside (no GIL of its own to share): every
``--period`` seconds, for each thread of ``--pid``, its state (R running or runnable, S sleeping,
...), CPU time and run-queue wait (``/proc/PID/task/TID/schedstat``, ns). Written to ``--out`` as
JSON lines ``{"t", "tid", "st", "cpu", "rq"}`` when the process has exited. Started by
``handoff_site/sitecustomize.py``; read by ``tools/ipc/handoff_trace.py``."""

from __future__ import annotations

import argparse
import json
import os
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--period", type=float, default=0.001)
    args = ap.parse_args()
    base = f"/proc/{args.pid}/task"
    rows: list[tuple[float, int, str, int, int]] = []
    while os.path.exists(base):
        t = time.perf_counter()
        try:
            tids = os.listdir(base)
        except OSError:
            break
        for tid in tids:
            try:
                with open(f"{base}/{tid}/schedstat", encoding="ascii") as f:
                    cpu, rq, _ = f.read().split()
                with open(f"{base}/{tid}/stat", encoding="ascii") as f:
                    st = f.read().rsplit(")", 1)[1].split()[0]
            except (OSError, ValueError):
                continue
            rows.append((t, int(tid), st, int(cpu), int(rq)))
        time.sleep(args.period)
    with open(args.out, "w", encoding="utf-8") as out:
        for t, tid, st, cpu, rq in rows:
            out.write(json.dumps({"t": t, "tid": tid, "st": st, "cpu": cpu, "rq": rq}) + "\n")


if __name__ == "__main__":
    main()
