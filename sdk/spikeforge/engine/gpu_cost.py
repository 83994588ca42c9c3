"""Calibrated cost model that decides whether ``backend="auto"`` should use the GPU.

At first use (a world large enough to matter) it times advances of synthetic networks on the GPU
and on the best CPU backend here and fits seconds per step as a non-negative sum over the
``FEATURES`` columns (a constant, neurons, synapses, brains, learning synapses, the largest
brain's neurons and synapses, and the synaptic events its Poisson sensors are expected to
cause), for each backend and each of two paths: crowds of small brains (the GPU's per-brain
kernel, one workgroup per brain, for brains of up to ``wgpu_backend.BRAIN_MAX_NEURONS`` neurons
without gap junctions; the CPU's threads over brains) and big brains (the GPU's per-step
kernels; the CPU's threads within a brain). Per neuron the paths' costs differ by 2-4x, in
opposite directions on an H200 and on lavapipe. The fit is cached in ``$SPIKEFORGE_CACHE_DIR``
or ``$XDG_CACHE_HOME/spikeforge`` or ``~/.cache/spikeforge`` (``gpu_cost.json``), keyed by
adapter and CPU backend. The GPU is chosen when it is predicted at least ``GAIN_MARGIN`` times
faster than the CPU backend. On lavapipe (a CPU emulation of a GPU) it normally predicts no
gain.

A slope needs samples above the floor: a real GPU takes every small sample in about the same
time (its per-advance cost), so after a path's small samples (``CAL_SIZES``) bigger ones
(``CAL_GROW_SIZES``, up to about 1 M neurons) are timed until the path's samples span
``CAL_SPREAD`` times from fastest to slowest on both backends (on the per-brain path, the crowds
among them: a big single brain's serial work says nothing of when a GPU's workgroups queue); a
slow device such as lavapipe gets there early and spares the big ones' minutes.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from spikeforge.engine.layout import SENSOR_KIND_ID, Layout

log = logging.getLogger("spikeforge.engine.gpu")

MIN_NEURONS = 4096          # below this the GPU never pays for its launches; no calibration
GAIN_MARGIN = 1.25          # GPU must be predicted this many times faster than the CPU
PATHS = ("brain", "step")   # crowds of small brains / big brains (see the module docstring)
# (brains, neurons per brain, synapses per neuron, learning, sensor max rate in Hz), for each path.
# "brain": one brain of 4,096 neurons at in-degrees 16 and 80 (CUBA 4k's kind: one workgroup runs it
# all, so its neurons and synapses are serial work; the two in-degrees separate the columns), crowds
# of 256-neuron brains firing as the crowd bench's (20 Hz sensors; CPU backends parallelize over
# brains, so a single-brain calibration alone mispredicted crowds by ~7x on an H200 host), a crowd
# of 128-neuron brains with 40 Hz sensors (twice the spikes: toward the learning bench's small
# brains, which fire at ~6x the crowd bench's and cost ~3x per neuron on native; the fit has no
# activity column, so it settles between the kinds) and one crowd with reward-STDP on every synapse;
# "step": single brains past wgpu_backend.BRAIN_MAX_NEURONS with two in-degrees (synapse vs neuron
# cost), one of them learning.
CAL_SIZES = {"brain": ((1, 4096, 16, False, 20.0), (1, 4096, 80, False, 20.0), (64, 256, 32, False, 20.0),
                       (512, 256, 32, False, 20.0), (256, 128, 16, False, 40.0), (64, 256, 32, True, 40.0)),
             "step": ((1, 32768, 16, False, 20.0), (1, 65536, 64, False, 20.0), (1, 32768, 16, True, 40.0))}
# then, while a path's samples span less than CAL_SPREAD on either backend (all on a floor), the
# next of these, up to about 1 M neurons (built from a few drawn brains repeated: ~1 s to build)
CAL_GROW_SIZES = {"brain": ((2048, 256, 32, False, 20.0), (4096, 256, 32, False, 20.0)),
                  "step": ((4, 65536, 48, False, 20.0), (16, 65536, 48, False, 20.0))}
# a fit's columns, in order. The last two are the largest brain's: on the GPU's per-brain path one
# workgroup runs a whole brain, so totals (which parallel workgroups share) cannot see a single big
# brain's serial work (CUBA 4k on an H200: 152 us measured against 30 predicted from the totals)
FEATURES = ("1", "neurons", "synapses", "brains", "learning synapses", "largest brain neurons",
            "largest brain synapses", "sensor events")
# the CPU fit's columns: the native engine runs a world on a varying number of threads (one per so many
# neuron-steps, see native_backend.planned_threads: from 1 for CUBA 4k to 16 for a big crowd on an H200
# host), so the totals' work is shared by the advance's threads (columns "/ threads"; the constant and
# the largest brain's, serial work, are not) and every extra thread costs its wake-up and meetings
# ("extra threads"). Without it a calibration whose small crowds ran on 8-16 threads and whose single
# brains on one under-predicted the bench crowds 4-6x on an H100 host (2026-12-05)
CPU_FEATURES = ("1", "neurons / threads", "synapses / threads", "brains / threads", "learning synapses / threads",
                "largest brain neurons", "largest brain synapses", "sensor events / threads", "extra threads")
_SHARED = (1, 2, 3, 4, 7)  # FEATURES columns the CPU's threads share
# "sensor events": the synaptic events per step that Poisson sensors are expected to cause (their
# neurons x max rate x dt x SENSOR_MEAN x the mean out-degree; see sensor_events). The activity a
# world will have is unknown when auto decides, but a sensor-driven crowd's is mostly its sensors':
# the learning bench's crowd (80 % of its neurons under 40 Hz sensors) fires 15.6 spikes per 1,000
# neuron-steps, the crowd bench's (25 % under 20 Hz) 2.5, and without this column the learning
# crowds' native cost was under-predicted 3-6x on a 2-core host (2026-12-06). Only the per-brain
# path uses it (its samples run at 20 and 40 Hz); a world without Poisson sensors has 0 there.
SENSOR_MEAN = 0.5  # the sensor value assumed (the benches and the calibration draw uniform [0, 1))
CAL_STEPS = 16              # steps per timed advance: one 60 Hz frame at dt = 1 ms
CAL_REPEATS = 3             # timed advances per sample and backend (the best is kept)
# the CPU's, after two untimed: a 16-thread advance that meets at every step stalls while any other
# thread holds one of its cores, and right after a GPU timing (the driver's own threads at work) an
# H200 host's best of three was 3-7x its best of seven taken a moment later (2026-12-06); CPU
# advances are cheap beside the GPU's on the hosts where this matters
CAL_CPU_REPEATS = 7
CAL_WARM_S = 0.25           # untimed advances before the timed ones, for at least this long (s) ...
CAL_WARM_MAX = 200          # ... and at most this many (on 2026-12-06 an H100's crowd of 1,000 timed 63 us per
                            # step after one untimed advance, 26 us in `bench crowd` a minute later, which
                            # the calibration had predicted: the samples ran back to back, the check's after
                            # each size's build)
CAL_SPREAD = 4.0            # slowest / fastest sample time from which a path's slope shows
CAL_SLOW_S = 0.5            # an untimed advance slower than this: one timed advance, not CAL_REPEATS
CAL_DISTINCT = 8            # distinct drawn brains in a synthetic crowd (the rest repeat them)
CACHE_VERSION = 14

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


def _synthetic_layout(n: int, k: int, brains: int = 1, learning: bool = False, sensor_hz: float = 20.0) -> Layout:
    """The layout of ``brains`` LIF brains of ``n`` neurons, ``k`` recurrent inputs each, shaped as
    the crowd bench's NPC brains: a quarter of the neurons take a 16-channel Poisson sensor (values
    drawn uniform in [0, 1) as the benches draw them; encoding it is a per-neuron cost a network
    without sensors misses, ~3x per neuron on native), the rest only synapses. ``CAL_DISTINCT``
    brains are drawn, the others are copies of them: the cost is the same, the build fast. The
    sensor fires at up to ``sensor_hz`` (20: ~2.4 spikes per 1,000 neuron-steps, as the crowd
    bench). With ``learning``, reward-STDP on every synapse (updates every 10 steps)."""
    from spikeforge.engine.compiler import compile_prototype, instantiate, max_delay, proj_channels
    from spikeforge.engine.layout import assemble
    from spikeforge.model import LIF, Circuit, FixedInDegree, RewardSTDP

    rule = RewardSTDP(w_min=0.0, w_max=1.0, lr=0.001, tau_c=1000.0, tau_dopamine=200.0,
                      update_every=10) if learning else None
    c = Circuit(f"cal{n}x{k}")
    n_eyes, k_eyes = max(16, n // 4), max(1, k // 4)
    m = LIF(tau_m=20.0, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0, t_ref=2.0, bias=8.0)
    c.add_population("eyes", n_eyes, m, v_init=(-65.0, -52.0))
    c.add_population("rest", n - n_eyes, m, v_init=(-65.0, -52.0))
    for post in ("eyes", "rest"):
        c.connect("eyes", post, FixedInDegree(k_eyes), weight=1.0, delay=(1, 4), plasticity=rule)
        c.connect("rest", post, FixedInDegree(k - k_eyes), weight=1.0, delay=(1, 4), plasticity=rule)
    c.add_sensor("eyes", "eyes", channels=16, kind="poisson", max_rate=sensor_hz)
    proto = compile_prototype(c, 0, 1.0, 0, 0)
    depth = max(1, max_delay(proto))
    drawn = [instantiate(proto, i, 1 + i, 1, depth) for i in range(min(brains, CAL_DISTINCT))]
    blocks = [drawn[i % len(drawn)] for i in range(brains)]
    layout = assemble(1.0, depth, [proto], blocks, np.asarray(proj_channels(proto), np.int32))
    layout.sensor_values[...] = np.random.default_rng(n * 1_000_003 + k).random(layout.sensor_values.size,
                                                                               dtype=np.float32)
    return layout


def gpu_path(layout: Layout) -> str:
    """The path (fit) of ``layout``: the GPU kernel path it takes by default, ``"brain"`` (the per-brain kernel: no gap
    junctions, no brain over ``wgpu_backend.BRAIN_MAX_NEURONS`` neurons) or ``"step"`` (the per-step kernels).
    Learning layouts with a brain of more than ``wgpu_backend.BRAIN_MAX_RS_SYNAPSES`` reward-STDP
    synapses also take the per-step kernels; the model does not look that far (such brains are
    mostly bigger than ``BRAIN_MAX_NEURONS`` too)."""
    from spikeforge.engine.wgpu_backend import per_brain_kernel_fits

    return "brain" if per_brain_kernel_fits(layout) else "step"


def learning_synapses(layout: Layout) -> int:
    """Synapses of ``layout`` whose projection learns (any rule)."""
    from spikeforge.engine.plasticity import KIND_NONE, PI_KIND, compile_tables

    T = compile_tables(layout)
    if not T.proj_i.size or not layout.n_rows:
        return 0
    learns = T.proj_i[:, PI_KIND][layout.row_proj] != KIND_NONE
    return int(np.diff(layout.row_syn)[learns].sum())


def largest_brain(layout: Layout) -> tuple[int, int]:
    """Neurons and synapses (outgoing, the ones its spikes deliver) of ``layout``'s largest brain
    (by neurons; by synapses for the synapse count): (0, 0) without brains."""
    if not layout.n_brains:
        return 0, 0
    neurons = np.diff(layout.brain_start)
    synapses = np.diff(layout.row_syn[layout.row_ptr[layout.brain_start]])
    return int(neurons.max()), int(synapses.max())


def sensor_events(layout: Layout) -> float:
    """Synaptic events per step ``layout``'s Poisson sensors are expected to cause: the spikes they
    force (neurons under them x max rate x dt x ``SENSOR_MEAN``) times the mean out-degree
    (synapses per neuron); 0 without Poisson sensors. An estimate made before the world runs: the
    sensor values are the game's (see ``SENSOR_MEAN``), and spikes that others cause are not in it."""
    poisson = SENSOR_KIND_ID["poisson"]
    spikes = sum(g.brains * g.channels * g.per_chan * g.rate * layout.dt_ms * 1e-3 * SENSOR_MEAN
                 for g in layout.sensor_groups if g.kind == poisson)
    return float(spikes * layout.n_synapses / max(layout.n_neurons, 1))


def features(layout: Layout) -> tuple[str, list[float]]:
    """``layout``'s path (:func:`gpu_path`) and its ``FEATURES`` row (slots whose brains are free
    count: callers that run only live brains pass a layout of them or use :func:`predicted_seconds`)."""
    big_n, big_s = largest_brain(layout)
    return gpu_path(layout), [1.0, float(layout.n_neurons), float(layout.n_synapses), float(layout.n_brains),
                              float(learning_synapses(layout)), float(big_n), float(big_s), sensor_events(layout)]


def cpu_threads(cpu: str, neurons: int, brains: int) -> int:
    """Threads the CPU backend ``cpu`` runs an advance of ``CAL_STEPS`` steps of ``neurons`` neurons in
    ``brains`` brains on (native: :func:`~spikeforge.engine.native_backend.planned_threads` with its
    default cap; numpy: one)."""
    if cpu != "native":
        return 1
    from spikeforge.engine.native_backend import planned_threads

    return planned_threads(neurons, brains, CAL_STEPS)


def cpu_row(x: list[float], threads: int) -> list[float]:
    """The ``CPU_FEATURES`` row of a ``FEATURES`` row ``x`` run on ``threads`` threads."""
    row = [v / threads if j in _SHARED else v for j, v in enumerate(x)]
    return [*row, float(threads - 1)]


def _time_backend(name: str, layout: Layout, repeats: int = CAL_REPEATS, steps: int = CAL_STEPS,
                  warmups: int = 1) -> float:
    """Seconds per step: the best of ``repeats`` advances of ``steps`` steps, after ``warmups``
    untimed and as many more as fit in ``CAL_WARM_S`` (one timed advance only when the first
    untimed one took over ``CAL_SLOW_S``: a slow device's samples are far above any noise, and
    their repeats cost most of a calibration's time on lavapipe)."""
    from spikeforge.engine.backend import create_backend

    be = create_backend(name, layout)
    try:
        t0 = time.perf_counter()
        be.advance(steps, 0, None)  # warm-up: pipelines, threads, page faults, GPU clocks
        if time.perf_counter() - t0 > CAL_SLOW_S:
            repeats, warmups = 1, 1
        r = 1
        # untimed advances for at least CAL_WARM_S: a GPU that idled through the sample's build
        # (seconds for a big crowd) runs its first milliseconds of work at low clocks
        while r < warmups or (r < CAL_WARM_MAX and time.perf_counter() - t0 < CAL_WARM_S):
            be.advance(steps, r * steps, None)
            r += 1
        warmups = r
        best = float("inf")
        for r in range(repeats):
            t0 = time.perf_counter()
            be.advance(steps, (warmups + r) * steps, None)
            best = min(best, (time.perf_counter() - t0) / steps)
        return best
    finally:
        be.close()


def time_both(layout: Layout, cpu: str, repeats: int = CAL_REPEATS, steps: int = CAL_STEPS) -> tuple[float, float]:
    """Seconds per step of ``layout`` on the GPU and on the CPU backend ``cpu``, each from the same
    host state (the state the CPU backend advances in place is put back before the GPU starts)."""
    snap = {key: a.copy() for key, a in layout.neuron.items()}
    ring = layout.ring.copy()
    t_cpu = _time_backend(cpu, layout, max(repeats, CAL_CPU_REPEATS), steps, warmups=2)
    for key, a in snap.items():
        layout.neuron[key][...] = a
    layout.ring[...] = ring
    return _time_backend("gpu", layout, repeats, steps), t_cpu


# columns a path's fit may use: on the per-step path all brains share each step's dispatches (GPU) or
# threads (CPU), so no brain's work is serial and the largest brain's columns would only alias the
# totals (its samples are single brains) and under-predict worlds of several big brains
PATH_COLUMNS = {"brain": tuple(range(len(FEATURES))), "step": tuple(range(FEATURES.index("largest brain neurons")))}
CPU_PATH_COLUMNS = {p: (*PATH_COLUMNS[p], CPU_FEATURES.index("extra threads")) for p in PATHS}
# the GPU's: its per-step kernels dispatch over the world's neurons and spikes; a brain is only a row of
# the brain table, so the brain count is no cost there. Allowed, it aliased the size: the grown step
# samples are crowds of 65,536-neuron brains whose brain count grows with their neurons, and an H100's
# fit (2026-12-07) rested on brains alone, predicting scale's single 1.2 M-neuron brain at 56 us per
# step against 136 measured (0.41x); on neurons, synapses and learning synapses: 198 us (0.69x)
GPU_PATH_COLUMNS = {"brain": PATH_COLUMNS["brain"],
                    "step": tuple(j for j in PATH_COLUMNS["step"] if FEATURES[j] != "brains")}
# the columns that grow with any world: its neurons, synapses and brains. Not the constant, the CPU's
# thread count, nor sensor events (a world without Poisson sensors has none); nor learning synapses
# or the largest brain's size, which a fit must not rest on alone either: resting on the largest
# brain, it predicts every crowd of one brain size alike (seen on an H100: 120 us per step for 16
# brains of 256 and for 3,906, its per-brain samples nearly flat from 64 to 4,096 brains)
SIZE_COLUMNS = tuple(FEATURES.index(c) for c in ("neurons", "synapses", "brains"))
if not all(CPU_FEATURES[j].startswith(FEATURES[j]) for j in SIZE_COLUMNS):  # the CPU fit takes them too
    raise RuntimeError("gpu_cost: SIZE_COLUMNS are not the same columns of FEATURES and CPU_FEATURES")


def _fit(rows: list[tuple[list[float], float]], columns: tuple[int, ...] | None = None,
         sizes: tuple[int, ...] = ()) -> list[float]:
    """Non-negative least squares of the relative error: ``t ~ x . coef`` over the ``FEATURES`` rows
    ``x`` with every coefficient >= 0 (the sign-feasible column subsets are tried; of those within
    0.05 of the best root-mean-square log error, log(predicted / measured), the one with the fewest
    columns is kept, so that a few samples do not buy an exact but wild fit). Relative error: a
    floor-sized sample counts as much as a big one, as the 2x goal does. Only ``columns`` (indices; default all) may
    be non-zero, and one of ``sizes`` (indices) must be when given: a fit without a size column
    predicts every world alike (seen: a CPU fit of its constant and its thread column under load)."""
    t = np.array([x for _, x in rows], dtype=np.float64)
    a = np.array([f for f, _ in rows], dtype=np.float64) / t[:, None]  # rows scaled: residuals relative
    scale = np.abs(a).max(axis=0)
    scale[scale == 0] = 1.0
    a = a / scale
    width = a.shape[1]
    found: list[tuple[float, int, np.ndarray]] = []
    allowed = set(range(width) if columns is None else columns)
    for mask in range(1, 1 << width):
        cols = [j for j in range(width) if mask >> j & 1]
        if not set(cols) <= allowed or (sizes and not set(cols) & set(sizes)):
            continue
        if len(cols) > len(rows) or not np.any(a[:, cols]):
            continue
        coef, *_ = np.linalg.lstsq(a[:, cols], np.ones_like(t), rcond=None)
        if np.any(coef < 0):
            continue
        full = np.zeros(width)
        full[cols] = coef
        # a subset is judged by the root-mean-square of log(predicted / measured), the measure of the 2x
        # goal: by the plain relative error a fit that gives up one sample by 4.5x could stay within
        # 0.05 of the best and win by having fewer columns (an H100 run of 2026-12-06: the GPU's only
        # big crowd sample dropped, every crowd predicted at the floor, crowd 1,000 at 0.36x)
        ratio = np.maximum(a @ full, 1e-3)
        found.append((float(np.sqrt(np.mean(np.log(ratio) ** 2))), len(cols), full))
    if not found:
        return [float(t.max())] + [0.0] * (width - 1)
    best = min(e for e, _, _ in found)
    full = min((f for f in found if f[0] <= best + 0.05), key=lambda f: (f[1], f[0]))[2]
    return [float(x) for x in full / scale]


def _spread(gpu_rows: list[tuple[list[float], float]], cpu_rows: list[tuple[list[float], float]],
            crowds_only: bool) -> float:
    """Slowest / fastest time of a path's plain samples, the smaller of the two backends' (both rows
    lists in sample order, ``gpu_rows`` holding the ``FEATURES`` rows). A learning sample is left out:
    its time comes from its learning column, so it can span CAL_SPREAD while every plain sample sits
    on the floor (seen on an H100: 146 us learning vs 27-82 us plain, and no big sample was taken).
    With ``crowds_only`` single brains are left out too: on the per-brain path one big brain's serial
    work spans the spread by itself while every crowd sits on the floor of a GPU that runs all their
    workgroups at once (an H100: 23-29 us from 64 to 512 brains, then 74 us at 1,000 and 363 at
    10,000 brains, predicted 26 from the small crowds alone)."""
    brains, learning = FEATURES.index("brains"), FEATURES.index("learning synapses")
    keep = [i for i, (x, _) in enumerate(gpu_rows) if x[learning] == 0 and (not crowds_only or x[brains] > 1)]
    spreads = []
    for rows in (gpu_rows, cpu_rows):
        ts = [rows[i][1] for i in keep]
        spreads.append(max(ts) / min(ts) if ts and min(ts) > 0 else 0.0)
    return min(spreads)


def calibrate() -> dict[str, Any]:
    """Measure both backends at ``CAL_SIZES`` (and ``CAL_GROW_SIZES`` where needed), fit, cache and
    return the model: ``{"gpu": {"brain": [a, b, c], "step": [...]}, "cpu": {...}, ...}``."""
    from spikeforge.engine.backend import best_cpu_backend

    cpu = best_cpu_backend()
    rows: dict[str, dict[str, list[tuple[list[float], float]]]] = {b: {p: [] for p in PATHS} for b in ("gpu", "cpu")}
    grown: dict[str, int] = {p: 0 for p in PATHS}
    t_start = time.perf_counter()

    def sample(brains: int, n_per: int, k: int, learning: bool, sensor_hz: float) -> None:
        layout = _synthetic_layout(n_per, k, brains, learning, sensor_hz)
        t_gpu, t_cpu = time_both(layout, cpu)
        p, x = features(layout)
        rows["gpu"][p].append((x, t_gpu))
        rows["cpu"][p].append((cpu_row(x, cpu_threads(cpu, int(x[1]), int(x[3]))), t_cpu))

    for p in PATHS:
        for size in CAL_SIZES[p]:
            sample(*size)
        for size in CAL_GROW_SIZES[p]:
            if _spread(rows["gpu"][p], rows["cpu"][p], crowds_only=p == "brain") >= CAL_SPREAD:
                break  # the slopes show: spare the time of bigger samples
            sample(*size)
            grown[p] += 1
    model = {"key": _key(), "cpu_backend": cpu,
             "gpu": {p: _fit(rows["gpu"][p], GPU_PATH_COLUMNS[p], SIZE_COLUMNS) for p in PATHS},
             "cpu": {p: _fit(rows["cpu"][p], CPU_PATH_COLUMNS[p], SIZE_COLUMNS) for p in PATHS},
             "samples": rows, "grown": grown,
             "features": list(FEATURES), "cpu_features": list(CPU_FEATURES),
             "steps_per_advance": CAL_STEPS, "calibration_seconds": time.perf_counter() - t_start}
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


def _valid(m: Any, key: str) -> bool:
    """Whether ``m`` (read from the cache) is a model of this version for this adapter."""
    if not isinstance(m, dict) or m.get("key") != key:
        return False
    return all(isinstance(m.get(b), dict) and len(m[b].get(p, [])) == len(cols) for b, cols in
               (("gpu", FEATURES), ("cpu", CPU_FEATURES)) for p in PATHS)


def cost_model(recalibrate: bool = False) -> dict[str, Any]:
    """The cached model for this adapter (calibrating on first use)."""
    global _MODEL
    key = _key()
    if not recalibrate and _MODEL is not None and _MODEL.get("key") == key:
        return _MODEL
    if not recalibrate:
        try:
            m = json.loads(cache_path().read_text(encoding="utf-8"))
            if _valid(m, key):
                _MODEL = dict(m)
                return _MODEL
        except (OSError, ValueError):
            pass
    _MODEL = calibrate()
    return _MODEL


def predicted_seconds(n_neurons: int, n_synapses: int, path: str | None = None, brains: int | None = None,
                      learning_synapses: int = 0, largest: tuple[int, int] | None = None,
                      sensor_events: float = 0.0) -> tuple[float, float]:
    """Predicted seconds per step (gpu, cpu), in advances of ``CAL_STEPS`` steps, for a layout of
    ``n_neurons`` neurons, ``n_synapses`` synapses (``learning_synapses`` of them learning) in
    ``brains`` brains (None: one per 256 neurons, a crowd's, on the "brain" path; one on "step"),
    the largest of which has ``largest`` = (neurons, synapses) (None: an equal share of each), whose
    Poisson sensors cause ``sensor_events`` synaptic events per step (see :func:`sensor_events`).

    ``path`` is the layout's path (:func:`gpu_path`); None (only a size known): the GPU's slower
    and the CPU's faster prediction of the two paths (the GPU must win either way)."""
    if path is not None and path not in PATHS:
        raise ValueError(f"path: must be one of {', '.join(PATHS)} or None, got {path!r}")
    m = cost_model()
    paths = PATHS if path is None else (path,)

    def row(p: str) -> list[float]:
        b = brains if brains is not None else (max(1, -(-n_neurons // 256)) if p == "brain" else 1)
        big = largest if largest is not None else (-(-n_neurons // max(b, 1)), -(-n_synapses // max(b, 1)))
        return [1.0, float(n_neurons), float(n_synapses), float(b), float(learning_synapses), float(big[0]),
                float(big[1]), float(sensor_events)]

    def at(fit: list[float], x: list[float]) -> float:
        return float(sum(c * v for c, v in zip(fit, x, strict=True)))

    def cpu_at(p: str) -> float:
        x = row(p)
        return at(m["cpu"][p], cpu_row(x, cpu_threads(str(m.get("cpu_backend", "")), int(x[1]), int(x[3]))))

    return max(at(m["gpu"][p], row(p)) for p in paths), min(cpu_at(p) for p in paths)


def predicted_for(layout: Layout) -> tuple[float, float]:
    """Predicted seconds per step (gpu, cpu) of ``layout`` (all its brains), on its path."""
    p, x = features(layout)
    return predicted_seconds(int(x[1]), int(x[2]), p, int(x[3]), int(x[4]), (int(x[5]), int(x[6])), x[7])


def predict_gain(n_neurons: int, n_synapses: int, layout: Layout | None = None) -> bool:
    """Whether the GPU is predicted ``GAIN_MARGIN`` times faster than the CPU backend here, for
    ``n_neurons`` / ``n_synapses`` (the live brains'), on ``layout``'s path and with its brains per
    neuron and learning share when given (see :func:`predicted_seconds`)."""
    if n_neurons < MIN_NEURONS:
        return False
    from spikeforge.engine.wgpu_backend import gpu_unavailable

    if gpu_unavailable() is not None:
        return False
    global _FAILED
    if _FAILED is not None:
        return False
    try:
        if layout is None:
            gpu, cpu = predicted_seconds(n_neurons, n_synapses)
        else:  # the layout's shape (brain size, learning share) applied to the live size
            p, x = features(layout)
            brains = max(1, round(x[3] * n_neurons / x[1])) if x[1] else 1
            learn = round(x[4] * n_synapses / x[2]) if x[2] else 0
            events = x[7] * n_neurons / x[1] if x[1] else 0.0
            gpu, cpu = predicted_seconds(n_neurons, n_synapses, p, brains, learn, (int(x[5]), int(x[6])), events)
    except Exception as exc:  # a broken driver must not break World creation: no gain, once
        _FAILED = f"{type(exc).__name__}: {exc}"
        log.warning("GPU cost model unavailable (%s); not using the GPU for 'auto'", _FAILED)
        return False
    return gpu * GAIN_MARGIN < cpu
