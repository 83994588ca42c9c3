"""Benchmarks run by ``spikeforge bench NAME`` (each module has ``main(argv) -> int``).

Shared helpers of the CPU benchmarks (``cuba``, ``scale``, ``crowd``, ``overhead``):
the common options (``--backend``, ``--seed``, ``--json``), the CUBA circuit, timing
of wall and CPU time, and output (one JSON object per measurement, or a rich table).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from spikeforge.model import LIF, Circuit, FixedInDegree, FixedProbability

# Brian2's CUBA example (Vogels & Abbott 2005): mV and ms
CUBA_MODEL = LIF(tau_m=20.0, tau_e=5.0, tau_i=10.0, v_rest=-49.0, v_reset=-60.0, v_thresh=-50.0, t_ref=5.0)
CUBA_WE = 60 * 0.27 / 10  # 1.62 mV
CUBA_WI = -20 * 4.5 / 10  # -9 mV


def cuba_circuit(n: int, p: float | None = None, indegree: int | None = None) -> Circuit:
    """The CUBA network of ``n`` LIF neurons (80 % excitatory).

    Parameters
    ----------
    n : int
        Neurons (>= 10).
    p : float or None
        Connection probability (Bernoulli, as Brian2's example; default 0.02).
    indegree : int or None
        If given, a fixed in-degree per neuron instead (80 % from excitatory sources);
        used for large networks where it is cheaper to draw.
    """
    if n < 10:
        raise ValueError(f"--n: a CUBA network needs at least 10 neurons, got {n}")
    n_exc = round(0.8 * n)
    c = Circuit(f"cuba{n}")
    c.add_population("exc", n_exc, CUBA_MODEL, v_init=(-60.0, -50.0))
    c.add_population("inh", n - n_exc, CUBA_MODEL, v_init=(-60.0, -50.0))
    for pre, w in (("exc", CUBA_WE), ("inh", CUBA_WI)):
        for post in ("exc", "inh"):
            if indegree is not None:
                k_exc = round(0.8 * indegree)
                rule: Any = FixedInDegree(k_exc if pre == "exc" else indegree - k_exc)
            else:
                rule = FixedProbability(0.02 if p is None else p)
            c.connect(pre, post, rule, weight=w, delay=1, name=f"{pre}->{post}")
    return c


def common_args(ap: argparse.ArgumentParser, backend: str = "native") -> None:
    """Add ``--backend``, ``--seed``, ``--json`` and ``--threads``."""
    ap.add_argument("--backend", default=backend, help=f"backend (default {backend}; 'auto', 'numpy', 'gpu')")
    ap.add_argument("--seed", type=int, default=1, help="world seed (default 1)")
    ap.add_argument("--json", action="store_true", help="one JSON object per measurement on stdout")
    ap.add_argument("--threads", type=int, default=None,
                    help="native backend: most threads (default SPIKEFORGE_THREADS or all cores)")


def make_world(backend: str, seed: int, dt: float, threads: int | None, max_substeps: int = 64) -> Any:
    """A World on ``backend``; ``threads`` caps the native backend's worker threads."""
    from spikeforge import World

    if threads is not None:
        if threads < 1:
            raise ValueError(f"--threads: must be >= 1, got {threads}")
        os.environ["SPIKEFORGE_THREADS"] = str(threads)
    return World(dt=dt, backend=backend, seed=seed, max_substeps=max_substeps)


def threads_used(world: Any) -> int:
    """Threads the backend's last advance used (native), else 1."""
    return int(getattr(world.backend, "last_threads", 1)) or 1


@dataclass
class Timer:
    """Wall and process CPU time (s) of a block (CPU time shows contention from other jobs)."""

    wall: float = 0.0
    cpu: float = 0.0


@contextmanager
def timed() -> Iterator[Timer]:
    """Time a block: ``with timed() as t: ...``, then ``t.wall`` and ``t.cpu`` in seconds.

    Yields
    ------
    Timer
        Filled in when the block ends (also when it raises). CPU time is this process's; a wall
        time well above it means other processes competed for the cores.
    """
    t = Timer()
    w0, c0 = time.perf_counter(), time.process_time()
    try:
        yield t
    finally:
        t.wall = time.perf_counter() - w0
        t.cpu = time.process_time() - c0


def load_average() -> float:
    """1-minute load average (other processes competing for the cores), or -1."""
    try:
        return float(os.getloadavg()[0])
    except OSError:
        return -1.0


def max_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (``ru_maxrss``; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def percentile(xs: list[float], q: float) -> float:
    """The ``q``-th percentile of ``xs`` (NaN when empty)."""
    import numpy as np

    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


def exchange_until(client: Any, stop: threading.Event, done: list[tuple[float, float]]) -> None:
    """A player's loop for the server benches: random sensor values, ``exchange(1/60)`` back to
    back until ``stop`` is set, each round trip's ``(start, end)`` (``perf_counter``) appended to
    ``done``. Run it on its own thread."""
    import numpy as np

    rng = np.random.default_rng(0)
    while not stop.is_set():
        client.sensors[:] = rng.random(client.sensors.size, dtype=np.float32)
        t = time.perf_counter()
        client.exchange(1 / 60)
        done.append((t, time.perf_counter()))


def emit(rows: list[dict[str, Any]], as_json: bool, title: str, columns: list[tuple[str, str]]) -> None:
    """Print ``rows``: JSON lines, or a rich table of ``columns`` (key, header)."""
    if as_json:
        for r in rows:
            print(json.dumps(r), flush=True)
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for _, header in columns:
        t.add_column(header, justify="right")
    for r in rows:
        t.add_row(*[_fmt(r.get(k)) for k, _ in columns])
    Console().print(t)


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)
