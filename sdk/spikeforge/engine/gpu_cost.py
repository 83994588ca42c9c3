"""Calibrated cost model that decides whether ``backend="auto"`` should use the GPU.

At first use (a world large enough to matter) it times one step of synthetic networks
on the GPU and on the best CPU backend here at four sizes, fits per-step seconds as
``t = a + b * neurons + c * synapses`` for each, and caches the fit in
``$SPIKEFORGE_CACHE_DIR`` or ``$XDG_CACHE_HOME/spikeforge`` or ``~/.cache/spikeforge``
(``gpu_cost.json``), keyed by adapter and CPU backend. The GPU is chosen when it is
predicted at least ``GAIN_MARGIN`` times faster than the CPU backend. On lavapipe (a CPU
emulation of a GPU) it normally predicts no gain.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from spikeforge.engine.layout import Layout

log = logging.getLogger("spikeforge.engine.gpu")

MIN_NEURONS = 4096          # below this the GPU never pays for its launches; no calibration
GAIN_MARGIN = 1.25          # GPU must be predicted this many times faster than the CPU
# (brains, neurons per brain, synapses per neuron): one big brain and crowds of 256-neuron
# brains, up to the sizes where the choice matters (CPU backends parallelize over brains, so a
# single-brain calibration alone mispredicted crowds by ~7x on an H200 host)
CAL_SIZES = ((1, 4096, 16), (1, 65536, 32), (64, 256, 32), (512, 256, 32))
CAL_STEPS = 10
CAL_REPEATS = 5
CACHE_VERSION = 2

_MODEL: dict[str, Any] | None = None
_FAILED: str | None = None  # why calibration failed in this process (then no gain is predicted)


def cache_path() -> Path:
    """Where the calibration is cached (see module docstring)."""
    base = os.environ.get("SPIKEFORGE_CACHE_DIR")
    if base:
        return Path(base) / "gpu_cost.json"
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg) if xdg else Path.home() / ".cache"
    return root / "spikeforge" / "gpu_cost.json"


def _key() -> str:
    from spikeforge.engine.backend import best_cpu_backend
    from spikeforge.engine.wgpu_backend import gpu_device

    info = gpu_device().info
    return (f"v{CACHE_VERSION}|{info.get('device', '?')}|{info.get('description', '?')}|"
            f"{info.get('backend_type', '?')}|cpu={best_cpu_backend()}")


def _synthetic_layout(n: int, k: int, brains: int = 1) -> Layout:
    """The layout of ``brains`` recurrently connected LIF brains of ``n`` neurons, ``k`` inputs each."""
    from spikeforge.engine.compiler import compile_prototype, instantiate, max_delay, proj_channels
    from spikeforge.engine.layout import assemble
    from spikeforge.model import LIF, Circuit, FixedInDegree

    c = Circuit(f"cal{n}x{k}")
    c.add_population("e", n, LIF(bias=16.0), v_init=(-65.0, -50.0))
    c.connect("e", "e", FixedInDegree(k), weight=0.5, delay=(1, 4))
    proto = compile_prototype(c, 0, 1.0, 0, 0)
    depth = max(1, max_delay(proto))
    blocks = [instantiate(proto, i, 1 + i, 1, depth) for i in range(brains)]
    return assemble(1.0, depth, [proto], blocks, np.asarray(proj_channels(proto), np.int32))


def _time_backend(name: str, layout: Layout) -> float:
    """Seconds per step: the best of ``CAL_REPEATS`` advances of ``CAL_STEPS`` steps."""
    from spikeforge.engine.backend import create_backend

    be = create_backend(name, layout)
    try:
        be.advance(CAL_STEPS, 0, None)  # warm-up: pipelines, threads, page faults, GPU clocks
        best = float("inf")
        for r in range(CAL_REPEATS):
            t0 = time.perf_counter()
            be.advance(CAL_STEPS, (1 + r) * CAL_STEPS, None)
            best = min(best, (time.perf_counter() - t0) / CAL_STEPS)
        return best
    finally:
        be.close()


def _fit(rows: list[tuple[int, int, float]]) -> list[float]:
    """Least-squares ``t = a + b*n + c*s`` with a, b, c >= 0 (best over the sign-feasible subsets)."""
    a = np.array([[1.0, n, s] for n, s, _ in rows], dtype=np.float64)
    t = np.array([x for _, _, x in rows], dtype=np.float64)
    scale = np.abs(a).max(axis=0)
    a = a / scale
    best: tuple[float, np.ndarray] | None = None
    for mask in range(1, 8):
        cols = [j for j in range(3) if mask >> j & 1]
        coef, *_ = np.linalg.lstsq(a[:, cols], t, rcond=None)
        if np.any(coef < 0):
            continue
        full = np.zeros(3)
        full[cols] = coef
        err = float(np.sum((a @ full - t) ** 2))
        if best is None or err < best[0]:
            best = (err, full)
    full = best[1] if best is not None else np.array([float(t.max()), 0.0, 0.0])
    return [float(x) for x in full / scale]


def calibrate() -> dict[str, Any]:
    """Measure both backends at ``CAL_SIZES``, fit, cache and return the model."""
    from spikeforge.engine.backend import best_cpu_backend

    cpu = best_cpu_backend()
    gpu_rows: list[tuple[int, int, float]] = []
    cpu_rows: list[tuple[int, int, float]] = []
    t_start = time.perf_counter()
    for brains, n_per, k in CAL_SIZES:
        layout = _synthetic_layout(n_per, k, brains)
        n, s = layout.n_neurons, layout.n_synapses
        # each backend starts from the same host state; the timed copy is discarded
        snap = {key: a.copy() for key, a in layout.neuron.items()}
        ring = layout.ring.copy()
        cpu_rows.append((n, s, _time_backend(cpu, layout)))
        for key, a in snap.items():
            layout.neuron[key][...] = a
        layout.ring[...] = ring
        gpu_rows.append((n, s, _time_backend("gpu", layout)))
    model = {"key": _key(), "cpu_backend": cpu, "gpu": _fit(gpu_rows), "cpu": _fit(cpu_rows),
             "samples": {"gpu": gpu_rows, "cpu": cpu_rows},
             "calibration_seconds": time.perf_counter() - t_start}
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(model, indent=1), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # a read-only home is not fatal: keep the model in memory
        log.warning("could not cache the GPU cost model at %s: %s", path, exc)
    log.info("GPU cost model calibrated in %.1f s: %s", model["calibration_seconds"], model)
    return model


def cost_model(recalibrate: bool = False) -> dict[str, Any]:
    """The cached model for this adapter (calibrating on first use)."""
    global _MODEL
    key = _key()
    if not recalibrate and _MODEL is not None and _MODEL.get("key") == key:
        return _MODEL
    if not recalibrate:
        try:
            m = json.loads(cache_path().read_text(encoding="utf-8"))
            if isinstance(m, dict) and m.get("key") == key and len(m.get("gpu", [])) == 3 \
                    and len(m.get("cpu", [])) == 3:
                _MODEL = m
                return m
        except (OSError, ValueError):
            pass
    _MODEL = calibrate()
    return _MODEL


def predicted_seconds(n_neurons: int, n_synapses: int) -> tuple[float, float]:
    """Predicted seconds per step (gpu, cpu) for a layout of this size."""
    m = cost_model()
    g, c = m["gpu"], m["cpu"]
    return (g[0] + g[1] * n_neurons + g[2] * n_synapses, c[0] + c[1] * n_neurons + c[2] * n_synapses)


def predict_gain(n_neurons: int, n_synapses: int) -> bool:
    """Whether the GPU is predicted ``GAIN_MARGIN`` times faster than the CPU backend here."""
    if n_neurons < MIN_NEURONS:
        return False
    from spikeforge.engine.wgpu_backend import gpu_unavailable

    if gpu_unavailable() is not None:
        return False
    global _FAILED
    if _FAILED is not None:
        return False
    try:
        gpu, cpu = predicted_seconds(n_neurons, n_synapses)
    except Exception as exc:  # a broken driver must not break World creation: no gain, once
        _FAILED = f"{type(exc).__name__}: {exc}"
        log.warning("GPU cost model unavailable (%s); not using the GPU for 'auto'", _FAILED)
        return False
    return gpu * GAIN_MARGIN < cpu
