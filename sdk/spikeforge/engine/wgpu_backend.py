"""The GPU backend: the step of :mod:`spikeforge.engine.numpy_backend` in WGSL, run by wgpu.

The whole layout lives in persistent GPU buffers. One :meth:`GpuBackend.advance`
records every kernel of every step into ONE command submission (brains without gap
junctions: ONE dispatch of the per-brain kernel, shaders/brain.wgsl, runs all steps with
workgroup barriers between phases, learning included (shaders/brain_learn.wgsl); else per
step:) sensor encoders,
actuator reset, then per step gap junctions -> neurons (incl. learning P2-P4) -> prep ->
propagation (indirect dispatch) -> learning (P1, P5-P7 of ``engine/plasticity.py``, only
for layouts that learn), then actuator decoders. A layout that does not learn can leave prep
out (``FOLD``, opt-in, see ``GpuBackend``: propagation then runs on a fixed grid
and hands the step on itself, with the counters of even and odd steps in separate words).
Per frame only the sensor values and a per-brain table (RNG step, ring slot, active/learn
flags; dopamine when learning) go up; the actuator arrays, a few counters and the compact
(step, neuron) spike list come back. With the per-brain kernel, the next advance's commands are
recorded while the device runs this one, and submitted as they are if that advance needs exactly
them (``prerecord``, ``expect_steps``).

Arrays larger than the device's ``max_storage_buffer_binding_size`` (128 MiB on
lavapipe) are split into power-of-two chunks bound side by side; generated accessor
functions (``syn_at``, ``ring_take``, ``ring_add``) pick the chunk.

Host arrays of the layout are brought up to date on demand (:meth:`pull_state`, used by
population views, snapshots and spawn/despawn). Once state has been pulled, writes the
game makes to those host arrays are detected at the next advance (compared with a
shadow copy) and patched into the device. Sensor values are uploaded every advance.

If a submission or a read-back fails (device lost, out of memory, injected failure),
the backend restores the last checkpoint of the host state (the state at the last
pull), replays the frames since then on the best CPU backend -- the step is
deterministic, and the replay log holds each frame's sensor values, active mask and
host patches -- and hands itself over (``Backend.replacement``); the World then goes on
on the CPU with a warning.

Shaders are the files in ``<repo>/shaders`` (editable install, which ``make test``
uses) or, in an installed wheel, the package data ``spikeforge/shaders``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from spikeforge.engine import params as P
from spikeforge.engine import plasticity as PL
from spikeforge.engine.backend import Backend, SpikeRecord, create_backend, register_backend
from spikeforge.engine.layout import Layout
from spikeforge.engine.numpy_backend import (
    GAUSS_LUT,
    channel_prefs,
    gaussian_prefs,
    organ_neurons,
    organ_rows,
)
from spikeforge.engine.slots import organ_ranges, slot_ranges

log = logging.getLogger("spikeforge.engine.gpu")

F32 = npt.NDArray[np.float32]
U32 = npt.NDArray[np.uint32]
BoolA = npt.NDArray[np.bool_]

# per-neuron state packed in two device buffers: float32 and int32 "planes" of n values
FSTATE = ("v", "ie", "ii", "w", "theta", "mod", "iext", "pforce", "xpre", "xpost", "msum")
ISTATE = ("hold", "consec", "burst", "force_once", "shist")
ISTATE_CONST = {"force_once": "FORCE"}  # the shaders' S_<NAME> where it is not the variable's name


def state_planes(names: tuple[str, ...], stored: Mapping[str, object]) -> tuple[dict[str, int], int]:
    """Where each of ``names`` lives in its device array, and how many planes it has: the variables
    the layout stores, in order, then one shared plane for all the others. A variable no population
    of the world keeps is +0 for every neuron and stays +0 (``layout.STATE_KEPT_WHEN``: the neuron
    step neither loads nor stores it, ``STORED_<NAME>`` in neuron.wgsl, and a kernel that writes it
    writes +0), so the ones left out can share one plane: the device holds what
    the layout stores plus one plane, and the kernels read and write no other lines."""
    kept = [k for k in names if k in stored]
    plane = {k: i for i, k in enumerate(kept)}
    plane.update({k: len(kept) for k in names if k not in plane})
    return plane, len(kept) + (len(kept) < len(names))
# out count, step count, k, k of propagation, propagation count, capacity, zero, steps, sorted, and the
# step count and k of odd steps (FOLD: M_STEP and M_K are then those of even steps; see GpuBackend)
META_WORDS = 11
M_OUT, M_STEP, M_K, M_KPROP, M_PCOUNT, M_CAP, M_ZERO, M_NSTEPS, M_ORD, M_STEP1, M_K1 = range(11)
# ctl[M_T0 + k]: spikes of step k of an advance whose list order.wgsl sorts on the device (at most
# ORD_MAX_STEPS steps; longer advances append spike by spike and are sorted here)
M_T0 = META_WORDS
ORD_MAX_STEPS = 256
CTL_WORDS = META_WORDS + ORD_MAX_STEPS
# per-brain words: key, step lo, step hi, ring slot of the first step, flags (1 active, 2 learns),
# brain_step % update_every, update_every (0: no reward-STDP), dopamine decay (f32 bits)
BSTRIDE = 8
WG = 64
MAX_GROUPS = 65535
OUT_CAP_MAX = 1 << 24  # most (step, neuron) entries kept per advance (128 MiB)
SPIKE_GUESS_MIN = 4096  # spike-list entries copied with the counters (more: a second read)
WIDE_FANOUT = 256  # mean synapses per neuron from which one workgroup handles one spike on a CPU adapter
GPU_FANOUT = 8  # ... on a GPU (see GpuBackend.__init__)
BRAIN_WG = 256  # invocations of the per-brain kernel's workgroup (brain.wgsl); SPIKEFORGE_GPU_BRAIN_WG overrides
BRAIN_MAX_NEURONS = 16384  # largest brain the per-brain kernel takes by default (one workgroup per brain)
# most reward-STDP synapses of one brain for which learning runs in the per-brain kernel by default: its
# workgroup sweeps them alone every update_every steps (the per-step kernel spreads them over the GPU)
BRAIN_MAX_RS_SYNAPSES = 65536
KERNELS = ("gap", "neuron", "prep", "propagate", "encode", "reset", "decode")
# FOLD's kernels of odd steps: the same shader files as the even steps' (other ctl words, see GpuBackend)
KERNEL_BASE = {"neuron1": "neuron", "propagate1": "propagate"}
# FOLD: most workgroups of the propagate dispatch (a fixed grid; its invocations grid-stride over the
# step's spikes). About one wave of resident workgroups on an H100 SXM: 132 SMs x 16 workgroups of 64
# invocations (half an SM's 2048 threads, so any kernel of at most 64 registers a thread fits) = 2112
# (a sizing argument, not a measured optimum).
PROP_GRID_MAX = 2048
LEARN_KERNELS = ("learn_brain", "learn_pre", "learn_deliver", "learn_post", "learn_inc", "learn_rs", "learn_reset")
# chunked arrays and their element sizes (bytes)
CHUNKED = {"syn": 8, "ring": 4, "elig": 4, "fstate": 4, "istate": 4}
DIRECT_WRITES = 64  # slot uploads of at most this many ranges: queue writes (no submission of their own)


def _env_flag(name: str, default: bool) -> bool:
    """A switch from the environment: ``default`` when ``name`` is unset, off when it is "0" or
    empty, on otherwise (the ``SPIKEFORGE_GPU_*`` A/B switches)."""
    v = os.environ.get(name)
    return default if v is None else v not in ("0", "")


def kernel_features(layout: Layout) -> dict[str, str]:
    """WGSL constants naming what of the neuron step the layout's parameter rows and projections
    can use (neuron.wgsl leaves the rest out of the kernel: fewer instructions and registers).

    Exact by construction: a part is left out only where no parameter row or projection of the
    layout can take it (its branch is never taken, its ring channel only ever holds 0). The rows
    and projections are fixed for a backend's life (a slot write keeps the slot's prototype; a
    re-layout makes a new backend). ``SPIKEFORGE_GPU_SPECIALIZE=0`` keeps every part (A/B).
    """
    if not _env_flag("SPIKEFORGE_GPU_SPECIALIZE", True):
        return {"MODELS_USED": "0xFFFFFFFFu", "CH_USED": "7u", "USE_POIS": "true", "USE_NOISE": "true",
                "USE_EXCIT": "true"}
    f, i = layout.fparams, layout.iparams
    if not f.size or not i.size:  # no neurons: nothing runs
        f, i = np.ones((0, P.NF), np.float32), np.zeros((0, P.NI), np.int32)
    models = 0
    for m in np.unique(i[:, P.I_MODEL]):
        models |= 1 << int(m) if 0 <= int(m) < 32 else 0
    chans = 0
    for c in np.unique(layout.proj_chan):
        chans |= 1 << int(c) if 0 <= int(c) < 3 else 7  # (an unknown channel: read all)

    def flag(x: bool) -> str:
        return "true" if x else "false"

    return {"MODELS_USED": f"{models}u", "CH_USED": f"{chans}u",
            "USE_POIS": flag(bool(np.any(f[:, P.F_POIS_P] > 0.0))),          # neuron.wgsl: ppois > 0
            "USE_NOISE": flag(bool(np.any(i[:, P.I_NOISE] != 0))),           # nkind != 0
            "USE_EXCIT": flag(bool(np.any(~(f[:, P.F_EXCIT] >= 1.0))))}      # !(excit >= 1), NaN included


def per_brain_kernel_fits(layout: Layout) -> bool:
    """Whether ``layout``'s structure lets the per-brain kernel run it (its default path): no gap
    junctions and no brain over ``BRAIN_MAX_NEURONS`` neurons. Learning adds its own condition
    (``BRAIN_MAX_RS_SYNAPSES``, ``SPIKEFORGE_GPU_LEARN_FUSED``) in the backend."""
    sizes = np.diff(layout.brain_start)
    return layout.gap_a.size == 0 and not (sizes.size and int(sizes.max()) > BRAIN_MAX_NEURONS)


def _ensure_xdg_runtime_dir() -> None:
    """Give the Vulkan loader a valid ``XDG_RUNTIME_DIR`` (a private 0700 temp dir) when the
    environment has none: without it Mesa prints ``error: XDG_RUNTIME_DIR is invalid`` on every
    adapter request, which is harmless (no display is used) but reads like a failure."""
    import stat
    import tempfile

    current = os.environ.get("XDG_RUNTIME_DIR", "")
    try:
        st = os.stat(current) if current else None
    except OSError:
        st = None
    if st is None or not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="spikeforge-xdg-")  # mkdtemp makes it 0700


_ensure_xdg_runtime_dir()

try:  # the extra "gpu"
    import wgpu

    _IMPORT_ERROR: str | None = None
except ImportError as _exc:  # pragma: no cover - depends on the installation
    wgpu = None
    _IMPORT_ERROR = f"wgpu is not installed ({_exc}); pip install 'spikeforge[gpu]'"

# The per-step commands are recorded with wgpu-native's C functions directly (about 0.3 us a
# call instead of ~10 us through wgpu-py's checked wrappers), with arguments already
# validated by the same calls made through wgpu-py when the backend was built.
_RAW: Any = None
if wgpu is not None and _env_flag("SPIKEFORGE_GPU_RAW", True):
    try:
        from wgpu.backends.wgpu_native._ffi import ffi as _raw_ffi
        from wgpu.backends.wgpu_native._ffi import lib as _raw_lib

        _RAW = (_raw_lib.wgpuComputePassEncoderSetPipeline, _raw_lib.wgpuComputePassEncoderSetBindGroup,
                _raw_lib.wgpuComputePassEncoderDispatchWorkgroups,
                _raw_lib.wgpuComputePassEncoderDispatchWorkgroupsIndirect, _raw_ffi.NULL,
                _raw_lib.wgpuCommandEncoderCopyBufferToBuffer)
    except (ImportError, AttributeError):  # pragma: no cover - another wgpu build
        _RAW = None


class _RawAdvance:
    """wgpu-native's C functions for the per-advance commands (encoder, pass, copies, finish,
    submit, the upload write, the read-back's map and unmap): one advance through wgpu-py's
    checked calls costs ~15 of them at ~10 us each plus a thread hand-off per map; these are
    ~1 us each, and the map is waited for by polling the device in the calling thread.
    Arguments are those the checked calls validated on the backend's first advance."""

    def __init__(self) -> None:
        from wgpu.backends.wgpu_native._ffi import ffi, lib

        self.ffi, self.lib = ffi, lib
        self.null = ffi.NULL
        self.cb_slot = ffi.new("WGPUCommandBuffer[1]")
        self.status = [0]

        def mapped(status: int, _msg: Any, _u1: Any, _u2: Any) -> None:
            self.status[0] = int(status)

        # kept alive with the object
        self._mapped = ffi.callback("void(WGPUMapAsyncStatus, WGPUStringView, void *, void *)", mapped)
        self.map_info = ffi.new("WGPUBufferMapCallbackInfo *")
        self.map_info.mode = lib.WGPUCallbackMode_AllowProcessEvents
        self.map_info.callback = self._mapped
        self.mode_read = int(lib.WGPUMapMode_Read)
        # SPIKEFORGE_GPU_SPIN_US=N: wait for an advance by polling without blocking for up to N us before
        # the blocking poll (does a blocking wait wake late on some drivers? tools/gpu/crowd_modes.py)
        self.spin_s = float(os.environ.get("SPIKEFORGE_GPU_SPIN_US", "") or 0) / 1e6
        self.success = int(lib.WGPUMapAsyncStatus_Success)

    def submit(self, queue: Any, cb: Any) -> None:
        self.cb_slot[0] = cb
        self.lib.wgpuQueueSubmit(queue, 1, self.cb_slot)
        self.lib.wgpuCommandBufferRelease(cb)

    def keep(self, cb: Any) -> Any:
        """A finished command buffer held for a later submission: released when dropped
        (:meth:`drop`, :meth:`submit_kept`) or, failing that, when garbage-collected."""
        return self.ffi.gc(cb, self.lib.wgpuCommandBufferRelease)

    def submit_kept(self, queue: Any, kept: Any) -> None:
        """Submit a buffer of :meth:`keep` and release it (it is single-use)."""
        self.cb_slot[0] = kept
        self.lib.wgpuQueueSubmit(queue, 1, self.cb_slot)
        self.cb_slot[0] = self.null
        self.ffi.release(kept)  # wgpuCommandBufferRelease, now

    def drop(self, kept: Any) -> None:
        """Release a buffer of :meth:`keep` without submitting it."""
        self.ffi.release(kept)

    def map_read(self, device: Any, buf: Any, nbytes: int) -> Any:
        """Map ``nbytes`` of ``buf`` for reading (waits for the device); a read-only view of them."""
        self.status[0] = 0
        self.lib.wgpuBufferMapAsync(buf, self.mode_read, 0, nbytes, self.map_info[0])
        if self.spin_s > 0.0:  # SPIKEFORGE_GPU_SPIN_US: poll without blocking first (A/B of the wake-up)
            deadline = time.perf_counter() + self.spin_s
            while self.status[0] == 0 and time.perf_counter() < deadline:
                self.lib.wgpuDevicePoll(device, 0, self.null)
        for _ in range(64):  # each poll waits for the queue; the callback fires in one of them
            if self.status[0] != 0:
                break
            self.lib.wgpuDevicePoll(device, 1, self.null)
        if self.status[0] != self.success:
            raise wgpu.GPUError(f"could not map the read-back buffer (status {self.status[0]})")
        ptr = self.lib.wgpuBufferGetConstMappedRange(buf, 0, nbytes)
        if ptr == self.null:
            raise wgpu.GPUError("the read-back buffer's mapped range is NULL")
        return self.ffi.buffer(ptr, nbytes)


_RAWX: _RawAdvance | None = None
_LITTLE = sys.byteorder == "little"
if _RAW is not None:
    try:
        _RAWX = _RawAdvance()
    except (ImportError, AttributeError):  # pragma: no cover - another wgpu build
        _RAWX = None


# ---------------------------------------------------------------------------- shaders
def shader_dir() -> Path:
    """Directory holding the WGSL files: ``<repo>/shaders`` or the package data copy."""
    repo = Path(__file__).resolve().parents[3] / "shaders"
    if (repo / "neuron.wgsl").is_file():
        return repo
    pkg = Path(str(resources.files("spikeforge"))) / "shaders"
    if (pkg / "neuron.wgsl").is_file():
        return pkg
    raise FileNotFoundError(f"WGSL shaders not found in {repo} nor in {pkg}")


def shader_source(name: str) -> str:
    """Text of ``shaders/<name>.wgsl``."""
    return (shader_dir() / f"{name}.wgsl").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------- device
@dataclass
class GpuDevice:
    """One wgpu adapter + device shared by every GPU backend of the process."""

    adapter: Any
    device: Any
    info: dict[str, Any]
    binding_limit: int
    max_buffers: int
    wg_storage: int = 16384  # max_compute_workgroup_storage_size (bytes)
    pipelines: dict[tuple[str, str], Any] = field(default_factory=dict)

    @property
    def on_cpu(self) -> bool:
        """Whether the adapter is a CPU emulation of a GPU (lavapipe): its costs differ from a GPU's,
        and it keeps float32 subnormals (docs/semantics.md)."""
        return str(self.info.get("adapter_type", "")).upper() == "CPU"


GPU_BACKEND_TYPES = ("Vulkan", "Metal", "D3D12")  # compute-capable wgpu backends we accept
_DEVICE: GpuDevice | None = None
_DEVICE_ERROR: str | None = None


def gpu_device() -> GpuDevice:
    """The process-wide device (created on first use); raises RuntimeError if none."""
    global _DEVICE, _DEVICE_ERROR
    if _DEVICE is not None:
        return _DEVICE
    if wgpu is None:
        raise RuntimeError(_IMPORT_ERROR)
    if _DEVICE_ERROR is not None:
        raise RuntimeError(_DEVICE_ERROR)
    try:
        adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    except Exception as exc:  # wgpu raises various types when no adapter exists
        adapter = None
        _DEVICE_ERROR = f"no wgpu adapter: {exc}"
    if adapter is None:
        _DEVICE_ERROR = _DEVICE_ERROR or "no wgpu adapter"
        raise RuntimeError(_DEVICE_ERROR)
    kind = str(adapter.info.get("backend_type", "?"))
    if kind not in GPU_BACKEND_TYPES:
        # e.g. llvmpipe or an old driver via OpenGL when Vulkan (lavapipe) is missing
        _DEVICE_ERROR = (f"wgpu adapter {adapter.info.get('device', '?')!r} runs on {kind}, not on "
                         f"{'/'.join(GPU_BACKEND_TYPES)} (install mesa-vulkan-drivers for lavapipe)")
        raise RuntimeError(_DEVICE_ERROR)
    lim = adapter.limits
    want = {
        "max-storage-buffers-per-shader-stage": int(lim["max-storage-buffers-per-shader-stage"]),
        "max-storage-buffer-binding-size": int(lim["max-storage-buffer-binding-size"]),
        "max-buffer-size": int(lim["max-buffer-size"]),
        "max-compute-workgroups-per-dimension": int(lim["max-compute-workgroups-per-dimension"]),
        "max-compute-workgroup-storage-size": int(lim["max-compute-workgroup-storage-size"]),
    }
    # SPIKEFORGE_GPU_TIMESTAMPS=1: the device also gets timestamp queries where the adapter has them
    # (tools/gpu/kernel_times.py times each kernel with them; nothing in the SDK writes one)
    feats = [f for f in ("timestamp-query", "timestamp-query-inside-passes") if f in adapter.features] \
        if _env_flag("SPIKEFORGE_GPU_TIMESTAMPS", False) else []
    device = adapter.request_device_sync(required_limits=want, required_features=feats)
    _DEVICE = GpuDevice(adapter, device, dict(adapter.info), want["max-storage-buffer-binding-size"],
                        want["max-storage-buffers-per-shader-stage"], want["max-compute-workgroup-storage-size"])
    return _DEVICE


def forget_device(dev: GpuDevice) -> None:
    """Drop the shared device after it failed, so the next GPU backend requests a new one."""
    global _DEVICE
    if _DEVICE is dev:
        _DEVICE = None


def gpu_unavailable() -> str | None:
    """Why the GPU backend cannot run here, or None."""
    if wgpu is None:
        return _IMPORT_ERROR
    try:
        gpu_device()
    except RuntimeError as exc:
        return str(exc)
    return None


def adapter_summary() -> str:
    """``device (backend_type, adapter_type)`` of the adapter in use, for reports."""
    info = gpu_device().info
    return f"{info.get('device', '?')} ({info.get('backend_type', '?')}, {info.get('adapter_type', '?')})"


# ---------------------------------------------------------------------------- bindings
@dataclass(frozen=True)
class Binding:
    """One logical array bound by a kernel; ``chunked`` arrays expand to several bindings."""

    name: str
    wgsl_type: str      # element type, e.g. "f32", "atomic<i32>", "vec4<u32>"
    write: bool
    chunked: bool = False


def _b(name: str, t: str, write: bool = False, chunked: bool = False) -> Binding:
    return Binding(name, t, write, chunked)


KERNEL_BINDINGS: dict[str, tuple[Binding, ...]] = {
    "gap": (_b("gap", "u32"), _b("binfo", "u32"), _b("ninfo", "vec4<u32>"), _b("fstate", "f32", False, True),
            _b("gap_acc", "atomic<i32>", True)),
    "neuron": (_b("fstate", "f32", True, True), _b("istate", "i32", True, True), _b("ninfo", "vec4<u32>"),
               _b("binfo", "u32"), _b("prm", "u32"), _b("ring", "atomic<i32>", True, True),
               _b("gap_acc", "atomic<i32>", True), _b("act_counts", "atomic<i32>", True),
               _b("ctl", "atomic<u32>", True), _b("step_spk", "u32", True), _b("out_spk", "u32", True)),
    "brain": (_b("fstate", "f32", True, True), _b("istate", "i32", True, True), _b("ninfo", "vec4<u32>"),
              _b("binfo", "u32", True), _b("prm", "u32"), _b("ring", "atomic<i32>", True, True),
              _b("gap_acc", "atomic<i32>", True), _b("act_counts", "atomic<i32>", True),
              _b("ctl", "atomic<u32>", True), _b("step_spk", "u32", True), _b("out_spk", "u32", True),
              _b("row_ptr", "u32"), _b("row_syn", "u32"), _b("row_dc", "u32"), _b("syn", "vec2<u32>", False, True),
              _b("bstart", "u32")),
    "prep": (_b("ctl", "atomic<u32>", True), _b("indirect", "u32", True)),
    "order": (_b("ctl", "u32"), _b("out_spk", "u32"), _b("bstart", "u32"), _b("ord", "u32", True)),
    "propagate": (_b("ctl", "u32"), _b("step_spk", "u32"), _b("ninfo", "vec4<u32>"), _b("binfo", "u32"),
                  _b("row_ptr", "u32"), _b("row_syn", "u32"), _b("row_dc", "u32"),
                  _b("syn", "vec2<u32>", False, True), _b("ring", "atomic<i32>", True, True)),
    "encode": (_b("enc", "vec4<u32>"), _b("binfo", "u32"), _b("sensor_values", "f32"),
               _b("istate", "i32", True, True), _b("fstate", "f32", True, True), _b("gauss_lut", "f32")),
    "reset": (_b("act_brain", "u32"), _b("binfo", "u32"), _b("act_counts", "atomic<i32>", True)),
    "decode": (_b("binfo", "u32"), _b("act_counts", "atomic<i32>", True), _b("act_out", "f32", True)),
    "learn_brain": (_b("binfo", "u32"), _b("dopa", "f32", True)),
    "learn_pre": (_b("ctl", "u32"), _b("step_spk", "u32"), _b("ninfo", "vec4<u32>"), _b("binfo", "u32"),
                  _b("row_ptr", "u32"), _b("row_syn", "u32"), _b("row_dc", "u32"), _b("row_proj", "u32"),
                  _b("pproj", "u32"), _b("fstate", "f32", False, True), _b("syn", "vec2<u32>", True, True),
                  _b("elig", "f32", True, True)),
    "learn_post": (_b("ctl", "u32"), _b("step_spk", "u32"), _b("ninfo", "vec4<u32>"), _b("binfo", "u32"),
                   _b("in_ptr", "u32"), _b("in_tab", "u32"), _b("pproj", "u32"), _b("fstate", "f32", False, True),
                   _b("syn", "vec2<u32>", True, True), _b("elig", "f32", True, True)),
    "learn_deliver": (_b("ctl", "u32"), _b("ninfo", "vec4<u32>"), _b("binfo", "u32"),
                      _b("row_ptr", "u32"), _b("row_syn", "u32"), _b("row_dc", "u32"), _b("row_proj", "u32"),
                      _b("pproj", "u32"), _b("fstate", "f32", False, True), _b("istate", "i32", True, True),
                      _b("syn", "vec2<u32>", True, True), _b("elig", "f32", True, True)),
    "learn_inc": (_b("ctl", "u32"), _b("step_spk", "u32"), _b("fstate", "f32", True, True), _b("ninfo", "vec4<u32>"),
                  _b("prm", "u32"), _b("istate", "i32", True, True)),
    "learn_rs": (_b("ctl", "u32"), _b("rs_tab", "vec4<u32>"), _b("binfo", "u32"), _b("dopa", "f32"),
                 _b("pproj", "u32"), _b("fstate", "f32", False, True), _b("syn", "vec2<u32>", True, True),
                 _b("elig", "f32", True, True)),
    "learn_reset": (_b("ctl", "u32"), _b("ninfo", "vec4<u32>"), _b("binfo", "u32"), _b("fstate", "f32", True, True),
                    _b("dopa", "f32", True)),
}
# the per-brain kernel of a layout that learns: the learning kernels' arrays too (brain_learn.wgsl)
BRAIN_LEARN_BINDINGS: tuple[Binding, ...] = (
    *(_b("syn", "vec2<u32>", True, True) if b.name == "syn" else b for b in KERNEL_BINDINGS["brain"]),
    _b("row_proj", "u32"), _b("pproj", "u32"), _b("in_ptr", "u32"), _b("in_tab", "u32"),
    _b("rs_tab", "vec4<u32>"), _b("rs_ptr", "u32"), _b("elig", "f32", True, True), _b("dopa", "f32", True))
# FOLD's propagation writes the next step's two ctl words (plain stores of one invocation: no atomics)
PROPAGATE_FOLD_BINDINGS: tuple[Binding, ...] = (
    _b("ctl", "u32", True), *(b for b in KERNEL_BINDINGS["propagate"] if b.name != "ctl"))
UNIFORM_GROUP = {"encode", "decode"}  # kernels with a per-organ-group uniform at @group(1)


# SPIKEFORGE_GPU_PROFILE_ABLATE's parts (the ABL bits of neuron.wgsl)
ABLATE_BITS = {"ctl": 1, "ring": 2, "store": 4, "core": 8}


def _f32_const(x: float | np.floating[Any]) -> str:
    """A WGSL expression for the exact float32 value ``x``."""
    v = float(np.float32(x))  # the float32 value, exactly representable as a double
    if not np.isfinite(v):
        raise ValueError(f"constant: {x!r} is not finite")
    return f"f32({v!r})"


def _chunk_accessors(b: Binding, n_chunks: int, shift: int) -> str:
    """WGSL functions reaching element ``i`` of a chunked array (chunk ``i >> shift``)."""
    mask = (1 << shift) - 1
    take = "let x = atomicLoad(&ring_{c}[j]); if (x != 0) {{ atomicStore(&ring_{c}[j], 0); }} return x;"
    funcs: dict[str, list[tuple[str, str]]] = {
        "syn": [("syn_at(i: u32) -> vec2<u32>", "return syn_{c}[j];")]
        + ([("syn_set_w(i: u32, w: f32)", "syn_{c}[j].y = bitcast<u32>(w); return;")] if b.write else []),
        "ring": [("ring_take(i: u32) -> i32", take),
                 ("ring_add(i: u32, x: i32)", "atomicAdd(&ring_{c}[j], x); return;")],
        "elig": [("elig_get(i: u32) -> f32", "return elig_{c}[j];"),
                 ("elig_set(i: u32, x: f32)", "elig_{c}[j] = x; return;")],
        "fstate": [("fs_get(i: u32) -> f32", "return fstate_{c}[j];")]
        + ([("fs_set(i: u32, x: f32)", "fstate_{c}[j] = x; return;")] if b.write else []),
        "istate": [("is_get(i: u32) -> i32", "return istate_{c}[j];")]
        + ([("is_set(i: u32, x: i32)", "istate_{c}[j] = x; return;")] if b.write else []),
    }
    if b.name not in funcs:  # pragma: no cover - only these arrays are chunked
        raise ValueError(f"no accessor for chunked array {b.name!r}")
    lines: list[str] = []
    for sig, op in funcs[b.name]:
        lines.append(f"fn {sig} {{")
        lines.append(f"    let j = i & {mask}u;")
        lines.append(f"    switch (i >> {shift}u) {{")
        for c in range(n_chunks - 1):
            lines.append(f"        case {c}u: {{ {op.format(c=c)} }}")
        lines.append(f"        default: {{ {op.format(c=n_chunks - 1)} }}")
        lines.append("    }")
        lines.append("}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- replay log
@dataclass
class _Frame:
    n_steps: int
    world_step: int
    active: BoolA | None
    sensors: F32
    patches: list[tuple[str, npt.NDArray[np.int64], np.ndarray, np.ndarray]]
    dopamine: F32 | None = None  # (dopamine, dopamine_sum) at the frame's start (rewards are host adds)
    slots: list[_SlotWrite] = field(default_factory=list)  # slot writes made before the frame


@dataclass
class _SlotWrite:
    """One slot's contents right after a slot write made while the device was ahead of the
    host arrays (so without a checkpoint): the CPU fallback's replay writes it back between
    the frames it was made between. ``arrays``: (host array, index, values)."""

    slot: int
    arrays: list[tuple[np.ndarray, Any, np.ndarray]]

    def apply(self) -> None:
        for a, idx, vals in self.arrays:
            a[idx] = vals


@dataclass
class _Checkpoint:
    brain_step: npt.NDArray[np.int64]
    act_counts: npt.NDArray[np.int32]
    act_out: F32
    dopamine: F32
    dopamine_sum: F32
    frames: list[_Frame] = field(default_factory=list)
    pending: list[_SlotWrite] = field(default_factory=list)  # slot writes since the last frame


# ---------------------------------------------------------------------------- backend
class GpuBackend(Backend):
    """The step in WGSL on wgpu (see module docstring).

    Parameters
    ----------
    layout : Layout
        The world's flat layout; its host arrays are uploaded at construction.
    chunk_bytes : int, optional
        Largest binding (bytes) for the chunked arrays (synapses, delay ring); defaults to
        the device's ``max_storage_buffer_binding_size``. Tests use small values to
        exercise chunking.
    wg_per_spike : bool, optional
        Propagate each spike with a whole workgroup instead of one invocation per spike (default:
        when the mean fan-out is at least ``GPU_FANOUT`` synapses, ``WIDE_FANOUT`` on a CPU
        adapter such as lavapipe; ``SPIKEFORGE_GPU_WG_PER_SPIKE=0/1`` overrides it).
    checkpoint_frames : int
        Frames between automatic host checkpoints (full download) that bound the replay
        log used for the CPU fallback. 0 disables automatic checkpoints.
    fused : bool, optional
        Run every step of an advance in ONE dispatch of the per-brain kernel
        (``shaders/brain.wgsl``: one workgroup per brain, learning included). Default: when
        there are no gap junctions and no brain exceeds ``BRAIN_MAX_NEURONS`` neurons (and,
        for a layout that learns, ``BRAIN_MAX_RS_SYNAPSES`` reward-STDP synapses, and
        ``SPIKEFORGE_GPU_LEARN_FUSED`` is not ``0``); otherwise the per-step kernels (per
        step: 2 or 3 dispatches (see ``fold_prep``), plus gap junctions and up to 7 learning kernels).
    fold_prep : bool, optional
        ``FOLD``: leave the one-invocation ``prep`` dispatch out of each step of the per-step kernels
        (default: on a GPU, off on a CPU adapter such as lavapipe; ``SPIKEFORGE_GPU_FOLD_PREP=0|1``
        decides; ``tools/gpu/device_run.sh foldab`` is the A/B: on an H100 scale's pass took 64 us per
        step with it, 75 without; on lavapipe it is slower). Only for layouts that do not learn on the
        per-step path (the learning kernels size their indirect dispatches from prep's). Steps
        alternate two variants of the neuron and propagate kernels: even steps count their spikes
        in ctl[M_STEP] at step ctl[M_K], odd steps in ctl[M_STEP1] at ctl[M_K1]; propagation reads
        its step's two words and sets the other step's (count 0, k + 1) for the next step, on a
        fixed grid of ``PROP_GRID_MAX`` workgroups at most.
    no_contract : bool, optional
        Keep every product out of fused multiply-adds (``nc()`` in ``shaders/common.wgsl``;
        default True, or False when ``SPIKEFORGE_GPU_CONTRACT=1``: only for measuring what
        contraction changes, see ``tools/gpu/diagnose.py``).
    prerecord : bool, optional
        With the raw calls, on the per-brain kernel or the per-step kernels of a layout that does
        not learn: right after submitting an advance, and
        before waiting for it, record the NEXT advance's command buffer (for the step count
        :meth:`expect_steps` gave, else this advance's) and keep it; the next advance submits
        it right after its upload write when nothing it was recorded from has changed (step
        count, read-back guess, spike-list capacity and mode, whether the brain table is sent,
        and every buffer, bind group and pipeline it names: ``_stale`` drops it wherever one is
        re-made), else drops it and records as before. Only the commands are recorded ahead;
        the inputs are written at advance time, and queue order puts the write before them.
        Default on; ``SPIKEFORGE_GPU_PRERECORD=0`` turns it off (A/B). ``prerecord_stats``
        counts what happened to the kept buffers.
    """

    name: ClassVar[str] = "gpu"

    def __init__(self, layout: Layout, chunk_bytes: int | None = None, checkpoint_frames: int = 256,
                 wg_per_spike: bool | None = None, no_contract: bool | None = None,
                 fused: bool | None = None, fold_prep: bool | None = None,
                 prerecord: bool | None = None) -> None:
        super().__init__(layout)
        # the next advance's command buffer recorded ahead (see prerecord above): the buffer (a
        # _RawAdvance.keep handle), what it was recorded for (_advance_gpu's signature), and the
        # generation of the buffers / bind groups / pipelines (_stale moves it on and drops it)
        self.prerecord = _env_flag("SPIKEFORGE_GPU_PRERECORD", True) if prerecord is None else bool(prerecord)
        self._kept: Any = None
        self._kept_sig: tuple[int, bool, int, int, bool, int] | None = None
        self._rec_gen = 0
        self._hint: int | None = None  # expect_steps: the step count of the advance after the next
        # recorded: buffers recorded ahead; used: submitted as recorded; missed: dropped at an advance
        # that wanted other commands; dropped: dropped before it (something they name was re-made)
        self.prerecord_stats = {"recorded": 0, "used": 0, "missed": 0, "dropped": 0}
        self.no_contract = (not _env_flag("SPIKEFORGE_GPU_CONTRACT", False)) if no_contract is None \
            else bool(no_contract)
        refuse_unsupported(layout)
        self.gpu = gpu_device()
        self.dev = self.gpu.device
        self.adapter = adapter_summary()  # e.g. "llvmpipe (...) (Vulkan, CPU)", for reports
        self.checkpoint_frames = int(checkpoint_frames)
        limit = self.gpu.binding_limit if chunk_bytes is None else min(int(chunk_bytes), self.gpu.binding_limit)
        if limit < 64:
            raise ValueError(f"chunk_bytes: must be >= 64, got {chunk_bytes}")
        self._limit = limit
        self._cpu: Backend | None = None
        self._dev_ahead = False
        self._raw_ok = False  # the per-step commands go through wgpu-py once before the raw calls
        self._shadow: dict[str, np.ndarray] | None = None
        self._out_cap = 0
        self._dec_cache: dict[int, tuple[list[Any], list[Any]]] = {}  # see _decoder_groups
        self._bufs: dict[str, list[Any]] = {}
        self._staging: Any = None  # slot uploads (write_slots)
        self._copy_ok = False  # the slot copies go through wgpu-py once before the raw calls
        self.fold = False  # FOLD (fold_prep), decided once the path is known
        L = layout
        n = L.n_neurons
        if L.depth * 3 * max(n, 1) >= 2**32 or L.n_synapses >= 2**32:
            raise ValueError(f"layout: too large for 32-bit GPU indexing ({n} neurons, depth {L.depth}, "
                             f"{L.n_synapses} synapses)")
        # propagation: a workgroup per spike issues a spike's atomics together (its lanes share the
        # synapses) where one invocation issues them one after another: on an H100 scale's propagate
        # (~80 synapses per spike) took 71 us per step that way, latency-bound. A CPU adapter runs a
        # workgroup's lanes in turn: there it pays off only for wide fan-out.
        if wg_per_spike is None:
            forced = os.environ.get("SPIKEFORGE_GPU_WG_PER_SPIKE", "")
            if forced not in ("", "0", "1"):
                raise ValueError(f"SPIKEFORGE_GPU_WG_PER_SPIKE: must be 0 or 1, got {forced!r}")
            wg_per_spike = (forced == "1" if forced else
                            L.n_synapses >= (WIDE_FANOUT if self.gpu.on_cpu else GPU_FANOUT) * max(n, 1))
        self.wg_per_spike = bool(wg_per_spike)
        self.plast = PL.build_cache(L)
        self.kernels = KERNELS + (tuple(k for k in LEARN_KERNELS if k != "learn_deliver" or self.plast.any_delivery)
                                  if self.plast is not None else ())
        sizes = np.diff(L.brain_start) if L.n_brains else np.zeros(1, np.int64)
        can_fuse = L.gap_a.size == 0
        if fused is None:
            fused = per_brain_kernel_fits(L) and self._learning_fits()
        elif fused and not can_fuse:
            raise ValueError("fused: the per-brain kernel does not run gap junctions")
        self.fused = bool(fused)
        self.brain_wg = int(os.environ.get("SPIKEFORGE_GPU_BRAIN_WG", "") or BRAIN_WG)
        if self.brain_wg not in (32, 64, 128, 256):
            raise ValueError(f"SPIKEFORGE_GPU_BRAIN_WG: must be 32, 64, 128 or 256, got {self.brain_wg}")
        # SPIKEFORGE_GPU_WG_RING=1: the per-brain kernel keeps a brain's delay ring in workgroup
        # memory when it fits. Off by default: on an H200 the crowd bench was 6 % slower with it
        # (tools/gpu/profile_advance.py; the global ring's atomics mostly hit L2 there).
        self.brain_max = int(sizes.max()) if L.n_brains else 0
        ring_bytes = 4 * L.depth * 3 * max(self.brain_max, 1)
        self.wg_ring = (self.fused and self.brain_max > 0 and ring_bytes + 256 <= self.gpu.wg_storage
                        and _env_flag("SPIKEFORGE_GPU_WG_RING", False))
        # the per-brain kernel keeps each neuron's state in registers across an advance's steps when
        # every invocation owns at most one neuron and nothing else reads the state mid-advance (no
        # learning); SPIKEFORGE_GPU_REG_STATE=0 turns it off (A/B)
        # SPIKEFORGE_GPU_REG_NPT=2 or 4 (with SPIKEFORGE_GPU_BRAIN_WG=128 / 64 for brains of 256): up to that
        # many neurons per invocation kept in registers (fewer invocations per brain; A/B on the device)
        npt_max = int(os.environ.get("SPIKEFORGE_GPU_REG_NPT", "") or 1)
        if npt_max not in (1, 2, 4):
            raise ValueError(f"SPIKEFORGE_GPU_REG_NPT: must be 1, 2 or 4, got {npt_max}")
        self.npt = max(1, -(-self.brain_max // self.brain_wg))  # neurons per invocation
        self.reg_state = (self.fused and self.npt <= npt_max and self.plast is None
                          and _env_flag("SPIKEFORGE_GPU_REG_STATE", True))
        # with state in registers: a step's spikes as a bit mask in workgroup memory (brain.wgsl's
        # mask_step; SPIKEFORGE_GPU_WG_MASK=0 turns it off) and the host list sorted on the device
        # (order.wgsl; SPIKEFORGE_GPU_ORDER=0: appended spike by spike and sorted here)
        self.wg_mask = (self.reg_state and self.brain_max <= 1024  # (a word of 32 mask-word bits: wany)
                        and _env_flag("SPIKEFORGE_GPU_WG_MASK", True))
        self.order = self.wg_mask and _env_flag("SPIKEFORGE_GPU_ORDER", True)
        self.mask_words = max(1, (self.brain_max + 31) // 32)
        # WG_MASK's propagation spreads a spike's synapses of all its rows over the workgroup at once
        # (SPIKEFORGE_GPU_SPAN=0: one row after the other, as the other paths)
        self.span = self.wg_mask and _env_flag("SPIKEFORGE_GPU_SPAN", True)
        # ... reading each neuron's synapse range from a table in workgroup memory filled once per advance
        # (SPIKEFORGE_GPU_WG_SPAN=0: from row_ptr / row_syn each spike), if it fits beside the ring
        span_bytes = 12 * self.brain_max
        used = (ring_bytes if self.wg_ring else 0) + span_bytes + 8 * self.mask_words + 256
        self.wg_span = (self.span and used <= self.gpu.wg_storage
                        and _env_flag("SPIKEFORGE_GPU_WG_SPAN", True))
        # timing only (results are wrong): the WG_MASK path without propagation or without the neurons' steps
        skip = os.environ.get("SPIKEFORGE_GPU_PROFILE_SKIP", "")
        if skip not in ("", "propagation", "neurons"):
            raise ValueError(f"SPIKEFORGE_GPU_PROFILE_SKIP: must be propagation or neurons, got {skip!r}")
        self.profile_skip = {"": 0, "propagation": 1, "neurons": 2}[skip] if self.wg_mask else 0
        if self.profile_skip:
            log.warning("SPIKEFORGE_GPU_PROFILE_SKIP=%s: the per-brain kernel skips a phase; results are wrong "
                        "(for timing only)", skip)
        # timing only (results are wrong): the per-step neuron kernel without parts of its work, to find
        # what its time is (tools/gpu/kernel_times.py): ctl (k and the no-contraction zero as constants, no
        # atomic loads of ctl), ring (delivery reads 0, no ring atomics), store (no state stores), core (no
        # neuron_core: the state's loads and stores only)
        abl = [a for a in os.environ.get("SPIKEFORGE_GPU_PROFILE_ABLATE", "").split(",") if a]
        bad = sorted(set(abl) - set(ABLATE_BITS))
        if bad:
            raise ValueError(f"SPIKEFORGE_GPU_PROFILE_ABLATE: unknown part(s) {bad}; known: {sorted(ABLATE_BITS)}")
        self.ablate = sum(ABLATE_BITS[a] for a in set(abl))
        if self.ablate:
            log.warning("SPIKEFORGE_GPU_PROFILE_ABLATE=%s: the neuron kernel skips work; results are wrong "
                        "(for timing only)", ",".join(abl))
        self._features = kernel_features(L)
        self._fplane, self._n_fplanes = state_planes(FSTATE, L.neuron)
        self._iplane, self._n_iplanes = state_planes(ISTATE, L.neuron)
        self._build_tables()
        self._upload_all()
        if self.fused and len(self._expand("brain")) > self.gpu.max_buffers:
            self.fused = False  # too many bindings on this device: the per-step kernels
            self.reg_state = self.wg_mask = self.order = self.span = self.wg_span = self.dev_steps = False
        if fold_prep is None:  # on a GPU (an H100: scale's pass 75 -> 64 us per step), not on a CPU adapter
            # (lavapipe: up to PROP_GRID_MAX mostly empty workgroups cost more than prep's indirect dispatch)
            fold_prep = _env_flag("SPIKEFORGE_GPU_FOLD_PREP", not self.gpu.on_cpu)
        self.fold = bool(fold_prep) and not self.fused and self.plast is None
        # FOLD's propagate grid: enough for a step where every neuron spikes, at most PROP_GRID_MAX
        need = max(n, 1) if self.wg_per_spike else (max(n, 1) + WG - 1) // WG
        self.prop_grid = min(need, PROP_GRID_MAX)
        if self.fold:
            self.kernels = (*(k for k in self.kernels if k != "prep"), *KERNEL_BASE)
        if self.fused:
            self.kernels = (*self.kernels, "brain")
        if self.order:
            self.kernels = (*self.kernels, "order")
        self._compile()
        self._ckpt = self._checkpoint()

    def _learning_fits(self) -> bool:
        """Whether the layout's learning (if any) should run in the per-brain kernel by default:
        not when ``SPIKEFORGE_GPU_LEARN_FUSED=0`` (A/B measurements), nor when a brain has more
        than ``BRAIN_MAX_RS_SYNAPSES`` reward-STDP synapses."""
        pc = self.plast
        if pc is None:
            return True
        if not _env_flag("SPIKEFORGE_GPU_LEARN_FUSED", True):
            return False
        return not pc.rs_ptr.size or int(np.diff(pc.rs_ptr).max(initial=0)) <= BRAIN_MAX_RS_SYNAPSES

    # ------------------------------------------------------------ tables and buffers
    def _buffer(self, name: str, data: np.ndarray, extra_usage: int = 0) -> None:
        """Create buffer(s) ``name`` holding ``data`` (one, or chunks for chunked arrays)."""
        usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_DST | wgpu.BufferUsage.COPY_SRC | extra_usage
        raw = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
        if name in CHUNKED:
            elem = CHUNKED[name]
            shift = int(np.floor(np.log2(self._limit // elem)))
            per = (1 << shift) * elem
            self._shift[name] = shift
            pieces = [raw[i:i + per] for i in range(0, raw.size, per)] or [raw[:0]]
        else:
            if raw.size > self.gpu.binding_limit:
                raise ValueError(f"layout: GPU array {name!r} needs {raw.size} bytes, more than the device's "
                                 f"max_storage_buffer_binding_size {self.gpu.binding_limit}")
            pieces = [raw]
        bufs = []
        for piece in pieces:
            size = max(16, (piece.size + 3) // 4 * 4)
            buf = self.dev.create_buffer(size=size, usage=usage)
            if piece.size:
                self.dev.queue.write_buffer(buf, 0, np.ascontiguousarray(piece))
            bufs.append(buf)
        self._stale()  # (a re-made buffer: a command buffer recorded ahead names the old one)
        self._bufs[name] = bufs

    def _build_tables(self) -> None:
        L = self.layout
        n, B = L.n_neurons, L.n_brains
        self._shift: dict[str, int] = {}
        brain_of = L.brain_of_neuron()
        local = (np.arange(n, dtype=np.int64) - L.brain_start[:-1][brain_of]).astype(np.uint32)
        self.ninfo = np.stack([L.pid.astype(np.uint32), brain_of.astype(np.uint32),
                               L.act_slot.astype(np.int32).view(np.uint32), local], axis=1).astype(np.uint32)
        pc = self.plast
        n_pid = L.fparams.shape[0]
        pid_f = pc.tables.pid_f if pc is not None else PL.default_pid_rows(n_pid)
        self.prm = np.concatenate([L.fparams.astype(np.float32).view(np.uint32),
                                   L.iparams.astype(np.int32).view(np.uint32),
                                   pid_f.astype(np.float32).reshape(n_pid, PL.NPP).view(np.uint32),
                                   L.pid_keeps().astype(np.uint32)[:, None]],  # PRM_KEEPS
                                  axis=1).reshape(-1)
        row_kind = pc.row_kind.astype(np.uint32) if pc is not None else np.zeros(L.n_rows, np.uint32)
        self.row_dc = ((L.row_delay.astype(np.uint32) << np.uint32(4)) | (row_kind << np.uint32(2))
                       | L.row_chan.astype(np.uint32))
        # learning tables (dummies when nothing learns)
        if pc is not None:
            T = pc.tables
            self.pproj = np.concatenate([T.proj_f.astype(np.float32).view(np.uint32),
                                         T.proj_i.astype(np.int32).view(np.uint32)], axis=1).reshape(-1)
            self.in_ptr = pc.in_ptr.astype(np.uint32)
            self.in_tab = np.stack([pc.in_syn, pc.in_pre, pc.in_proj], axis=1).astype(np.uint32).reshape(-1)
            self.rs_tab = self._rs_table(pc, brain_of, 0)
            self.rs_ptr = pc.rs_ptr.astype(np.uint32)  # per brain: its rs_tab segment (brain_learn.wgsl)
        else:
            self.pproj = np.zeros(1, np.uint32)
            self.in_ptr = np.zeros(1, np.uint32)
            self.in_tab = np.zeros(1, np.uint32)
            self.rs_tab = np.zeros((0, 4), np.uint32)
            self.rs_ptr = np.zeros(B + 1, np.uint32)
        self.gap = np.stack([L.gap_a.astype(np.uint32), L.gap_b.astype(np.uint32),
                             L.gap_g.astype(np.float32).view(np.uint32)], axis=1).reshape(-1)
        # actuators: brain of every count
        act_brain = np.zeros(L.act_counts.size, np.uint32)
        self._dec_groups: list[Any] = []   # rate and winner-take-all: decoded on the device
        self._host_dec: list[tuple[Any, F32]] = []  # population vectors: decoded here (exact division)
        for g in L.actuator_groups:
            act_brain[g.offset:g.offset + g.brains * g.channels] = np.repeat(
                np.arange(g.brain0, g.brain0 + g.brains, dtype=np.uint32), g.channels)
            if g.kind == 1:
                self._host_dec.append((g, channel_prefs(g)))
            else:
                self._dec_groups.append(g)
        self.act_brain = act_brain
        # sensors: one entry per channel neuron (all rows; inactive rows are skipped in the kernel)
        entries: list[U32] = []
        self._enc_groups: list[tuple[Any, int, int]] = []
        first = 0
        for sg in L.sensor_groups:
            rows = np.arange(sg.brains, dtype=np.int64)
            idx = organ_neurons(L, sg, rows)  # (rows, channels*per_chan)
            m = sg.channels * sg.per_chan
            vidx = (sg.offset + rows[:, None] * sg.channels + (np.arange(m) // sg.per_chan)[None, :])
            prefs = (gaussian_prefs(sg) if sg.kind == 2 else np.zeros(m, np.float32)).view(np.uint32)
            e = np.stack([idx.reshape(-1).astype(np.uint32), vidx.reshape(-1).astype(np.uint32),
                          np.tile(prefs, sg.brains).astype(np.uint32),
                          np.repeat(np.arange(sg.brain0, sg.brain0 + sg.brains, dtype=np.uint32), m)], axis=1)
            entries.append(e.reshape(-1, 4))
            self._enc_groups.append((sg, first, int(e.shape[0])))
            first += int(e.shape[0])
        self.enc = np.concatenate(entries) if entries else np.zeros((1, 4), np.uint32)
        # row B: an always-inactive brain that the padding entries of rs_tab name
        self.binfo = np.zeros((B + 1, BSTRIDE), np.uint32)
        if B:
            self.binfo[:B, 0] = L.brain_key
            if pc is not None:
                self.binfo[:B, 6] = pc.every.astype(np.uint32)
                self.binfo[:B, 7] = pc.da_decay.astype(np.float32).view(np.uint32)
            else:
                self.binfo[:B, 7] = np.float32(1.0).view(np.uint32)

    def _rs_table(self, pc: PL.PlasticityCache, brain_of: npt.NDArray[np.int32], capacity: int) -> U32:
        """The reward-STDP table (synapse, post, projection, brain), padded to ``capacity`` rows (or,
        when it holds more, to its size plus headroom, so that spawns rarely outgrow it) with
        entries naming brain ``n_brains`` (binfo's always-inactive row: they do nothing)."""
        m = int(pc.rs_syn.size)
        if m == 0:
            return np.zeros((0, 4), np.uint32)
        cap = capacity if capacity >= m else m + _headroom(m)
        out = np.zeros((cap, 4), np.uint32)
        out[m:, 3] = self.layout.n_brains
        self._rs_rows(out[:m], pc, slice(0, m), brain_of[pc.rs_post])
        return out

    def _rs_rows(self, out: U32, pc: PL.PlasticityCache, sl: slice, brains: npt.NDArray[np.integer[Any]]) -> None:
        """Fill ``out`` with rs_tab's rows of the entries ``sl`` of ``pc``'s reward-STDP table;
        ``brains``: the brain of each entry's post neuron."""
        proj = pc.rs_proj[sl]
        out[:, 0] = pc.rs_syn[sl]
        out[:, 1] = pc.rs_post[sl]
        out[:, 2] = proj
        # placeholders (plasticity._pad_slots, kind 0) name the inactive row too
        real = pc.tables.proj_i[proj, PL.PI_KIND] == PL.KIND_RSTDP
        out[:, 3] = np.where(real, brains, self.layout.n_brains)

    def _host_state(self, k: str, s: int, e: int, dtype: type[np.generic]) -> np.ndarray:
        """Neurons ``s:e`` of host state array ``k`` as ``dtype``; 0 for an array the layout does
        not store (no population keeps it, ``layout.stored_state``: the device keeps its own copy,
        which no kernel of such a world writes, PLASTIC being false)."""
        L = self.layout
        a = L.neuron.get(k)
        if a is None:
            return np.zeros(e - s, dtype)
        if L.is_compact(k):  # only the neurons that keep it
            out = np.zeros(e - s, dtype)
            out[L.kept_mask(k)[s:e]] = a[L.state_slice(k, s, e)]
            return out
        return a[s:e].astype(dtype)

    def _planes(self, names: tuple[str, ...], plane: dict[str, int], count: int,
                dtype: type[np.generic]) -> np.ndarray:
        """The device array of state variables ``names``: plane ``plane[k]`` (``n_neurons`` values)
        holds variable ``k``; the shared plane of the variables the layout does not store is +0."""
        L = self.layout
        n = L.n_neurons
        out = np.zeros((count, n), dtype)
        for k in names:
            if k in L.neuron:
                out[plane[k]] = self._host_state(k, 0, n, dtype)
        return out.reshape(-1)

    def _fstate(self) -> F32:
        return self._planes(FSTATE, self._fplane, self._n_fplanes, np.float32)

    def _istate(self) -> npt.NDArray[np.int32]:
        return self._planes(ISTATE, self._iplane, self._n_iplanes, np.int32)

    def _elig(self) -> F32:
        L = self.layout
        return L.synapse["elig"].astype(np.float32) if "elig" in L.synapse else np.zeros(1, np.float32)

    def _dopa(self) -> F32:
        L = self.layout
        d = np.zeros((max(L.n_brains, 1), 2), np.float32)
        if L.n_brains:
            d[:L.n_brains, 0] = L.dopamine
            d[:L.n_brains, 1] = L.dopamine_sum
        return d.reshape(-1)

    def _syn(self) -> U32:
        L = self.layout
        return np.stack([L.synapse["post"].astype(np.int32).view(np.uint32),
                         L.synapse["w"].astype(np.float32).view(np.uint32)], axis=1).reshape(-1)

    def _upload_all(self) -> None:
        L = self.layout
        n = L.n_neurons
        self._buffer("fstate", self._fstate())
        self._buffer("istate", self._istate())
        self._buffer("ninfo", self.ninfo)
        self._buffer("binfo", self.binfo)
        self._buffer("prm", self.prm)
        self._buffer("ring", L.ring.reshape(-1))
        self._buffer("gap_acc", np.zeros(max(n, 1), np.int32))
        self._buffer("gap", self.gap)
        self._buffer("act_counts", L.act_counts)
        self._buffer("act_out", L.act_out)
        self._buffer("act_brain", self.act_brain)
        self._buffer("ctl", np.zeros(CTL_WORDS, np.uint32))
        self._buffer("indirect", np.zeros(4, np.uint32), wgpu.BufferUsage.INDIRECT)
        self._buffer("step_spk", np.zeros(max(n, 1), np.uint32))
        self._buffer("bstart", L.brain_start.astype(np.uint32))
        self._buffer("out_spk", np.zeros(2, np.uint32))
        self._buffer("ord", np.zeros(1, np.uint32))
        self._buffer("row_ptr", L.row_ptr.astype(np.uint32))
        self._buffer("row_syn", L.row_syn.astype(np.uint32))
        self._buffer("row_dc", self.row_dc)
        self._buffer("row_proj", L.row_proj.astype(np.uint32))
        self._buffer("pproj", self.pproj)
        self._buffer("in_ptr", self.in_ptr)
        self._buffer("in_tab", self.in_tab)
        self._buffer("rs_tab", self.rs_tab)
        self._buffer("rs_ptr", self.rs_ptr)
        self._buffer("elig", self._elig())
        self._buffer("dopa", self._dopa())
        self._buffer("syn", self._syn())
        self._buffer("enc", self.enc)
        self._buffer("sensor_values", L.sensor_values)
        self._buffer("gauss_lut", GAUSS_LUT)
        # the per-advance inputs travel in ONE queue write into "upload", copied by the advance's
        # encoder into their buffers: counters (zeros, capacity, steps), the sensor values, (learning)
        # the dopamine and, last, the brain table (self.binfo is a view into it; left out of the write
        # and the copies when the device's copy is current, see _advance_gpu)
        B = L.n_brains
        nb, ns = (B + 1) * BSTRIDE, L.sensor_values.size
        nd = 2 * max(B, 1) if self.plast is not None else 0
        up = np.zeros(CTL_WORDS + ns + nd + nb, np.uint32)
        b0 = CTL_WORDS + ns + nd
        up[b0:] = self.binfo.reshape(-1)
        self._up = up
        self._up_nob = b0  # words before the brain table
        self.binfo = up[b0:].reshape(B + 1, BSTRIDE)
        self._up_sens = up[CTL_WORDS:CTL_WORDS + ns].view(np.float32)
        self._up_dopa = up[CTL_WORDS + ns:b0].view(np.float32).reshape(-1, 2)
        self._up_copies = [(name, 4 * off, 4 * size) for name, off, size in
                           (("ctl", 0, CTL_WORDS), ("sensor_values", CTL_WORDS, ns), ("dopa", CTL_WORDS + ns, nd),
                            ("binfo", b0, nb)) if size]
        self._buffer("upload", up)
        # DEV_STEPS: the per-brain kernel's register path moves each active brain's step words and ring
        # slot on by the advance's steps itself, so the next advance re-sends the brain table only if the
        # host's clocks or flags differ from what the device holds (self._dev_steps: the clocks it holds
        # after the last advance, or None when unknown; SPIKEFORGE_GPU_DEV_STEPS=0 re-sends it every time)
        self.dev_steps = (self.wg_mask and self.plast is None
                          and _env_flag("SPIKEFORGE_GPU_DEV_STEPS", True))
        self._dev_steps: npt.NDArray[np.int64] | None = None
        self._mapped_raw: bool | None = None  # how the read-back is mapped now (None: not mapped)
        self._key_shift = max(1, int(max(L.n_neurons, 1) - 1).bit_length())  # neuron bits of a 32-bit spike key
        nbytes = 4 * (META_WORDS + L.act_counts.size + L.act_out.size + 2 * max(L.n_brains, 1))
        self._rb_base = (max(16, nbytes) + 7) // 8 * 8  # the steps' totals (order.wgsl) follow
        self._rb_spk = self._rb_base + 4 * ORD_MAX_STEPS  # then the spike-list prefix (see _advance_gpu)
        self._spk_guess = 0
        self._readback = self._make_readback(SPIKE_GUESS_MIN)
        n_bind = max(len(self._expand(k)) for k in self.kernels)  # (not "brain": optional)
        if n_bind > self.gpu.max_buffers:
            raise ValueError(f"layout: needs {n_bind} storage bindings in one kernel; the device allows "
                             f"{self.gpu.max_buffers} (max_storage_buffers_per_shader_stage)")

    def _bindings(self, kernel: str) -> tuple[Binding, ...]:
        """The arrays ``kernel`` binds (the per-brain kernel's depend on whether the layout learns)."""
        if kernel == "brain" and self.plast is not None:
            return BRAIN_LEARN_BINDINGS
        base = KERNEL_BASE.get(kernel, kernel)
        if base == "propagate" and self.fold:
            return PROPAGATE_FOLD_BINDINGS
        return KERNEL_BINDINGS[base]

    def _expand(self, kernel: str) -> list[tuple[Binding, str, Any]]:
        """(binding, WGSL name, buffer) for every binding of ``kernel``, chunks expanded."""
        out: list[tuple[Binding, str, Any]] = []
        for b in self._bindings(kernel):
            bufs = self._bufs[b.name]
            if b.chunked:
                out.extend((b, f"{b.name}_{c}", buf) for c, buf in enumerate(bufs))
            else:
                out.append((b, b.name, bufs[0]))
        return out

    # ------------------------------------------------------------ pipelines
    def _constants(self, kernel: str) -> str:
        L = self.layout
        c: dict[str, str] = {
            "N": f"{L.n_neurons}u", "N_GAP": f"{L.gap_a.size}u", "N_ACT": f"{L.act_counts.size}u",
            "DEPTH": f"{L.depth}u", "BSTRIDE": f"{BSTRIDE}u",
            "WG_PER_SPIKE": "true" if self.wg_per_spike else "false",
            "HAS_GAP": "true" if L.gap_a.size else "false",
            "BRAIN_WG": f"{self.brain_wg}u", "M_NSTEPS": f"{M_NSTEPS}u",
            "REG_STATE": "true" if self.reg_state else "false", "NPT": f"{self.npt if self.reg_state else 1}u",
            "WG_MASK": "true" if self.wg_mask else "false", "MW": f"{self.mask_words}u",
            "WMASK_WORDS": f"{2 * self.mask_words}u", "PROF_SKIP": f"{self.profile_skip}u", "ABL": f"{self.ablate}u",
            "SPAN": "true" if self.span else "false", "DEV_STEPS": "true" if self.dev_steps else "false",
            "WSPAN": "true" if self.wg_span else "false",
            "WSPAN_N": f"{max(self.brain_max, 1) if self.wg_span else 1}u", "M_ORD": f"{M_ORD}u", "M_T0": f"{M_T0}u",
            # a row of delay DEPTH adds to the ring slot its step just took: order the two
            "SB_AFTER_NEURONS": "true" if L.n_rows and int(L.row_delay.max()) >= L.depth and not self.wg_ring
            else "false", "RING_IN_WG": "true" if self.wg_ring else "false",
            "NO_CONTRACT": "true" if self.no_contract else "false",
            "N_BRAINS": f"{L.n_brains}u", "N_RS": f"{self.rs_tab.shape[0]}u",
            "PLASTIC": "true" if self.plast is not None else "false",
            "ANY_RSTDP": "true" if self.plast is not None and self.plast.any_rstdp else "false",
            "ANY_DELIVERY": "true" if self.plast is not None and self.plast.any_delivery else "false",
            "ANY_EVENTS": "true" if self.plast is not None and self.plast.any_events else "false",
        }  # the shared tables (columns, model codes, kinds) come from the generated tables.wgsl
        c.update(self._features)
        c.update({f"S_{k.upper()}": f"{i}u" for k, i in self._fplane.items()})
        c.update({f"S_{ISTATE_CONST.get(k, k.upper())}": f"{i}u" for k, i in self._iplane.items()})
        # whether the layout stores each (else its plane is the shared +0 one: a kernel need not touch it)
        c.update({f"STORED_{ISTATE_CONST.get(k, k.upper())}": "true" if k in L.neuron else "false"
                  for k in (*FSTATE, *ISTATE)})
        c.update({"M_OUT": f"{M_OUT}u", "M_STEP": f"{M_STEP}u", "M_K": f"{M_K}u", "M_KPROP": f"{M_KPROP}u",
                  "M_PCOUNT": f"{M_PCOUNT}u", "M_CAP": f"{M_CAP}u", "M_ZERO": f"{M_ZERO}u",
                  "M_STEP1": f"{M_STEP1}u", "M_K1": f"{M_K1}u"})
        c.update(self._parity_constants(kernel))
        return "\n".join(f"const {k} = {v};" for k, v in sorted(c.items()))

    def _parity_constants(self, kernel: str) -> dict[str, str]:
        """The ctl words a step of ``kernel`` counts its spikes in and reads its k from (CNT_AT,
        K_AT), and those FOLD's propagation sets for the next step (CNT_NEXT, K_NEXT): even steps
        M_STEP / M_K, odd steps ("neuron1", "propagate1") M_STEP1 / M_K1. Without FOLD, every step
        the even words (prep moves them on) and FOLD false."""
        fold = self.fold and kernel in ("neuron", "propagate", *KERNEL_BASE)
        at, nxt = (M_STEP, M_K), (M_STEP1, M_K1)
        if fold and kernel in KERNEL_BASE:
            at, nxt = nxt, at
        return {"FOLD": "true" if fold else "false", "CNT_AT": f"{at[0]}u", "K_AT": f"{at[1]}u",
                "CNT_NEXT": f"{nxt[0]}u", "K_NEXT": f"{nxt[1]}u"}

    def kernel_source(self, kernel: str) -> str:
        """Full WGSL of ``kernel``: constants, bindings, accessors, common.wgsl, the kernel file."""
        parts = [f"// generated by spikeforge.engine.wgpu_backend for kernel {kernel!r}", self._constants(kernel)]
        base = KERNEL_BASE.get(kernel, kernel)
        for i, (b, wname, _) in enumerate(self._expand(kernel)):
            access = "read_write" if b.write else "read"
            parts.append(f"@group(0) @binding({i}) var<storage, {access}> {wname}: array<{b.wgsl_type}>;")
        for b in self._bindings(kernel):
            if b.chunked:
                parts.append(_chunk_accessors(b, len(self._bufs[b.name]), self._shift[b.name]))
        parts.append(shader_source("tables"))
        parts.append(shader_source("common"))
        if any(b.name == "prm" for b in self._bindings(kernel)):
            parts.append(shader_source("params"))
        if base in ("neuron", "brain"):
            parts.append(shader_source("models"))
            parts.append(shader_source("neuron"))
            parts.append(self._ring_functions(kernel == "brain" and self.wg_ring))
        if base == "propagate":  # FOLD's store of the next step's ctl words (ctl read only otherwise)
            parts.append("fn ctl_store(i: u32, x: u32) { ctl[i] = x; }" if self.fold
                         else "fn ctl_store(i: u32, x: u32) {}")
        if kernel == "learn_inc" or (kernel == "brain" and self.plast is not None):
            parts.append(shader_source("trace_inc"))  # P6, shared by the two learning paths
        if kernel == "brain":
            parts.append(shader_source("brain_learn" if self.plast is not None else "brain_learn_none"))
        if base != "neuron":
            parts.append(shader_source(base))
        return "\n".join(parts)

    def _ring_functions(self, in_workgroup: bool) -> str:
        """ring_in / ring_out (delivery, propagation) and the per-brain kernel's ring copy."""
        if not in_workgroup:
            return ("fn ring_in(i: u32) -> i32 { if ((ABL & 2u) != 0u) { return 0; } return ring_take(i); }\n"
                    "fn ring_out(i: u32, x: i32) { ring_add(i, x); }\n"
                    "fn wring_load(n0: u32, n1: u32, lid: u32) {}\n"
                    "fn wring_store(n0: u32, n1: u32, lid: u32) {}")
        L = self.layout
        return f"""// the brain's delay ring in workgroup memory: cell (slot*3 + channel, local neuron)
const WB: u32 = {self.brain_max}u;
var<workgroup> wring: array<atomic<i32>, {L.depth * 3 * self.brain_max}>;
var<private> BN0: u32;
fn wr_index(i: u32) -> u32 {{ let sc = i / N; return sc * WB + (i - sc * N - BN0); }}
fn ring_in(i: u32) -> i32 {{
    let j = wr_index(i);
    let x = atomicLoad(&wring[j]);
    if (x != 0) {{ atomicStore(&wring[j], 0); }}
    return x;
}}
fn ring_out(i: u32, x: i32) {{ atomicAdd(&wring[wr_index(i)], x); }}
fn wring_load(n0: u32, n1: u32, lid: u32) {{
    BN0 = n0;
    let m = n1 - n0;
    for (var j = lid; j < DEPTH * 3u * m; j = j + BRAIN_WG) {{
        let sc = j / m;
        let l = j - sc * m;
        atomicStore(&wring[sc * WB + l], ring_take(sc * N + n0 + l));
    }}
}}
fn wring_store(n0: u32, n1: u32, lid: u32) {{
    let m = n1 - n0;
    for (var j = lid; j < DEPTH * 3u * m; j = j + BRAIN_WG) {{
        let sc = j / m;
        let l = j - sc * m;
        let x = atomicLoad(&wring[sc * WB + l]);
        if (x != 0) {{ ring_add(sc * N + n0 + l, x); }}
    }}
}}"""

    def _compile(self) -> None:
        self._pipes: dict[str, Any] = {}
        self._groups0: dict[str, Any] = {}
        self._bgl1: dict[str, Any] = {}
        for k in self.kernels:
            self._compile_kernel(k)
        # per-organ-group uniforms
        U = wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST
        L = self.layout
        dt_s = L.dt_ms / 1000.0
        self._enc_bg: list[tuple[Any, int]] = []
        for g, first, count in self._enc_groups:
            u = np.zeros(12, np.uint32)
            u[0:4] = (first, count, g.kind, 0)
            f = u.view(np.float32)
            f[4], f[5], f[6] = np.float32(g.low), np.float32(g.high), np.float32(g.gain)
            f[7] = np.float32(g.rate * dt_s)
            f[8] = np.float32(1.0 / (g.high - g.low))
            f[9] = np.float32(1.0 / (g.sigma * (g.high - g.low))) if g.sigma > 0 else np.float32(0.0)
            buf = self.dev.create_buffer_with_data(data=u, usage=U)
            bg = self.dev.create_bind_group(layout=self._pipes["encode"].get_bind_group_layout(1),
                                            entries=[{"binding": 0, "resource": {"buffer": buf}}])
            self._enc_bg.append((bg, count))
        self._dec_bg: list[tuple[Any, Any, Any, int]] = []
        for g in self._dec_groups:
            u = np.zeros(12, np.uint32)
            u[0:7] = (g.kind, g.channels, g.width, g.offset, g.out_offset, g.brain0, g.brains)
            buf = self.dev.create_buffer_with_data(data=u, usage=U)
            bg = self.dev.create_bind_group(layout=self._pipes["decode"].get_bind_group_layout(1),
                                            entries=[{"binding": 0, "resource": {"buffer": buf}}])
            self._dec_bg.append((bg, buf, u, g.brains))
        self._stale()

    def _brain_table_columns(self, active: BoolA | None) -> None:
        """The brain table's per-advance columns from the host: step words, ring slot, flags."""
        L = self.layout
        B = L.n_brains
        steps = np.ascontiguousarray(L.brain_step, np.int64)
        if _LITTLE:  # the step's low and high 32-bit words, straight from the int64s (two 1-D strided
            # copies: ~10x faster than one (B, 2) block into the table's columns)
            s32 = steps.view(np.uint32)
            self.binfo[:B, 1] = s32[0::2]
            self.binfo[:B, 2] = s32[1::2]
        else:  # pragma: no cover - big-endian hosts
            self.binfo[:B, 1] = (steps & 0xFFFFFFFF).astype(np.uint32)
            self.binfo[:B, 2] = (steps >> 32).astype(np.uint32)
        if L.depth & (L.depth - 1) == 0:  # ring slot: a mask for a power-of-two depth (same values as %)
            self.binfo[:B, 3] = steps & (L.depth - 1)
        else:
            self.binfo[:B, 3] = steps % L.depth
        if active is None and not L.learning:
            self.binfo[:B, 4] = 1
        else:
            act = np.ones(B, np.uint32) if active is None else active.astype(np.uint32)
            on = (L.learn.astype(np.uint32) & np.uint32(1)) if L.learning else np.zeros(B, np.uint32)
            self.binfo[:B, 4] = act | (on << np.uint32(1))

    def _decoder_groups(self, n_steps: int) -> list[Any]:
        """The decoders' uniform bind groups for an advance of ``n_steps`` steps (a rate decoder's
        holds 1 / (per_chan * n_steps * dt)): made once per step count and kept (a 60 Hz frame
        alternates 16 and 17 steps; before, each change re-wrote the uniforms)."""
        got = self._dec_cache.get(n_steps)
        if got is not None:
            return got[0]
        if len(self._dec_cache) >= 8:
            self._dec_cache.clear()
            self._stale()
        dt_s = self.layout.dt_ms / 1000.0
        U = wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST
        bgs: list[Any] = []
        keep: list[Any] = []
        for g, (bg, _, u, _) in zip(self._dec_groups, self._dec_bg, strict=True):
            if g.kind == 0:
                v = u.copy()
                v.view(np.float32)[8] = np.float32(1.0 / (g.per_chan * n_steps * dt_s))
                buf = self.dev.create_buffer_with_data(data=v, usage=U)
                bg = self.dev.create_bind_group(layout=self._pipes["decode"].get_bind_group_layout(1),
                                                entries=[{"binding": 0, "resource": {"buffer": buf}}])
                keep.append(buf)
            bgs.append(bg)
        self._dec_cache[n_steps] = (bgs, keep)
        return bgs

    def _compile_kernel(self, k: str) -> None:
        """The pipeline (cached per source text) and the @group(0) bind group of kernel ``k``."""
        S = wgpu.ShaderStage.COMPUTE
        src = self.kernel_source(k)
        exp = self._expand(k)
        entries = [{"binding": i, "visibility": S,
                    "buffer": {"type": wgpu.BufferBindingType.storage if b.write
                               else wgpu.BufferBindingType.read_only_storage}}
                   for i, (b, _, _) in enumerate(exp)]
        bgl0 = self.dev.create_bind_group_layout(entries=entries)
        layouts = [bgl0]
        if k in UNIFORM_GROUP:
            bgl1 = self.dev.create_bind_group_layout(entries=[
                {"binding": 0, "visibility": S, "buffer": {"type": wgpu.BufferBindingType.uniform}}])
            self._bgl1[k] = bgl1
            layouts.append(bgl1)
        key = (k, src)
        pipe = self.gpu.pipelines.get(key)
        if pipe is None:
            module = self.dev.create_shader_module(code=src)
            pl = self.dev.create_pipeline_layout(bind_group_layouts=layouts)
            entry = "main_brain" if k == "brain" else "main"
            pipe = self.dev.create_compute_pipeline(layout=pl, compute={"module": module, "entry_point": entry})
            if len(self.gpu.pipelines) > 64:
                self.gpu.pipelines.clear()
            self.gpu.pipelines[key] = pipe
        self._stale()
        self._pipes[k] = pipe
        self._groups0[k] = self.dev.create_bind_group(
            layout=pipe.get_bind_group_layout(0),
            entries=[{"binding": i, "resource": {"buffer": buf, "offset": 0, "size": buf.size}}
                     for i, (_, _, buf) in enumerate(exp)])

    def _rebind(self, names: set[str]) -> None:
        """Recreate the bind groups of kernels using any of ``names`` (after reallocation)."""
        self._stale()
        for k in self.kernels:
            if any(b.name in names for b in self._bindings(k)):
                exp = self._expand(k)
                self._groups0[k] = self.dev.create_bind_group(
                    layout=self._pipes[k].get_bind_group_layout(0),
                    entries=[{"binding": i, "resource": {"buffer": buf, "offset": 0, "size": buf.size}}
                             for i, (_, _, buf) in enumerate(exp)])

    # ------------------------------------------------------------ transfers
    def _read(self, buf: Any, size: int) -> bytes:
        return bytes(self.dev.queue.read_buffer(buf, 0, size))

    def _download(self, name: str, dtype: type[np.generic], count: int) -> np.ndarray:
        out: list[np.ndarray] = []
        left = count * np.dtype(dtype).itemsize
        for buf in self._bufs[name]:
            take = min(left, buf.size)
            if take <= 0:
                break
            out.append(np.frombuffer(self._read(buf, take), dtype=np.uint8))
            left -= take
        raw = np.concatenate(out) if out else np.zeros(0, np.uint8)
        return raw.view(dtype)[:count]

    def _write(self, name: str, data: np.ndarray) -> None:
        raw = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
        off = 0
        for buf in self._bufs[name]:
            take = min(raw.size - off, buf.size)
            if take <= 0:
                break
            self.dev.queue.write_buffer(buf, 0, np.ascontiguousarray(raw[off:off + take]))
            off += take

    def _download_state(self) -> None:
        """Device -> host arrays (in place, so views stay valid)."""
        L = self.layout
        n = L.n_neurons
        if n:
            fs = self._download("fstate", np.float32, self._n_fplanes * n).reshape(self._n_fplanes, n)
            for k in FSTATE:
                if k in L.neuron:  # an array the layout does not store is the shared +0 plane
                    L.store_full(k, fs[self._fplane[k]])
            ist = self._download("istate", np.int32, self._n_iplanes * n).reshape(self._n_iplanes, n)
            for k in ISTATE:
                if k in L.neuron:
                    L.store_full(k, ist[self._iplane[k]].astype(L.neuron[k].dtype))
            L.ring.reshape(-1)[...] = self._download("ring", np.int32, L.ring.size)
        if self.plast is not None and L.n_synapses:
            syn = self._download("syn", np.uint32, 2 * L.n_synapses).reshape(-1, 2)
            L.synapse["w"][...] = syn[:, 1].view(np.float32)
            if "elig" in L.synapse:
                L.synapse["elig"][...] = self._download("elig", np.float32, L.n_synapses)
        self._dev_ahead = False
        self._ckpt = self._checkpoint()

    def _checkpoint(self) -> _Checkpoint:
        L = self.layout
        return _Checkpoint(L.brain_step.copy(), L.act_counts.copy(), L.act_out.copy(),
                           L.dopamine.copy(), L.dopamine_sum.copy())

    def _tracked(self) -> dict[str, np.ndarray]:
        """Host arrays the device also changes, whose host writes must reach the device."""
        L = self.layout
        out = {f"neuron.{k}": a for k, a in L.neuron.items()}
        if self.plast is not None:
            out.update({f"synapse.{k}": L.synapse[k] for k in ("w", "elig") if k in L.synapse})
        return out

    def _take_shadow(self) -> None:
        self._shadow = {k: a.copy() for k, a in self._tracked().items()}

    def pull_state(self) -> None:
        """Download neuron state, delay rings (and learned weights) if the device is ahead;
        then watch the host arrays for writes (see module docstring)."""
        if self._cpu is not None:
            self._cpu.pull_state()
            return
        if self._dev_ahead:
            self._download_state()
            self._take_shadow()
        elif self._shadow is None:
            self._take_shadow()

    def push_state(self) -> None:
        """Make the device match the host arrays (they were changed outside a step).

        After a :meth:`pull_state` (the runtime's pattern: pull, modify, push) only what
        changed is uploaded: host patches of the tracked arrays, the synaptic weights of a
        layout that does not learn (not tracked, so re-sent whole) and the actuator arrays.
        Otherwise every mutable array is uploaded: the host arrays are taken as the truth.
        """
        if self._cpu is not None:
            self._cpu.push_state()
            return
        L = self.layout
        if self._shadow is not None and not self._dev_ahead:
            self._apply_patches(self._host_patches())
            if self.plast is None:
                self._write("syn", self._syn())
        else:
            self._write("fstate", self._fstate())
            self._write("istate", self._istate())
            self._write("ring", L.ring.reshape(-1))
            self._write("syn", self._syn())
            self._write("elig", self._elig())
            if self._shadow is not None:
                self._take_shadow()
        self._write("act_counts", L.act_counts)
        self._write("act_out", L.act_out)
        self._dev_ahead = False
        self._ckpt = self._checkpoint()

    def add_reward(self, values: F32) -> None:
        """Device-side dopamine add: dopamine is host-authoritative between advances (each
        advance uploads the per-brain (dopamine, dopamine_sum) pairs, 8 bytes a brain, and
        reads them back), so a reward is a host add, no state transfer."""
        if self._cpu is not None:
            self._cpu.add_reward(values)
            return
        L = self.layout
        L.dopamine[...] = L.dopamine + values

    # ------------------------------------------------------------ slots
    def begin_slot_write(self) -> None:
        """Nothing to download: :meth:`write_slots` uploads the slots' ranges, and a slot write
        covers every array of its slot that the device changes (see ``engine/slots.py``)."""
        if self._cpu is not None:
            self._cpu.begin_slot_write()

    def write_slots(self, slots: list[int]) -> bool:
        """Take over brains ``slots`` rewritten in place in the layout's arrays (spawn into a
        free slot: :func:`~spikeforge.engine.slots.write_slot`; despawn:
        :func:`~spikeforge.engine.slots.free_slot`) without a rebuild: no pipeline is compiled
        and no buffer is re-made (except a learning table that outgrew its buffer).

        A spawned slot's ranges of every device array the slot write changed (neuron state
        planes, its columns of the delay ring, rows, synapses with weights, targets and
        eligibility, actuator rows) go up as queue writes (up to ``DIRECT_WRITES`` ranges) or
        as ONE staging write and ONE submission of buffer copies; a despawned slot sends only
        its actuator rows. Per-brain arrays (key, step,
        sleeping, level of detail, learn flag, dopamine) and sensor values are uploaded with
        every advance anyway. With learning, the slots' segments of the plasticity index
        tables are written in place (``plasticity.update_cache(in_place=True)``) and only the
        slots' rows of ``in_ptr``, ``in_tab`` and ``rs_tab`` go up (O(slot)); when a segment
        changed its length (a brain beyond its slot's capacity) the tables are re-derived
        and their changed span goes up (O(world)).

        The rest of the host arrays need not be current (:meth:`begin_slot_write` downloads
        nothing): the shadow copy takes the slots' ranges (a slot write is not a host patch).
        When the host arrays were current, a new checkpoint starts the CPU fallback's replay
        log; otherwise the slots' new contents join the log, to be written back between the
        replayed frames they came between.

        Parameters
        ----------
        slots : list of int
            The slots (brain indices) just written; a slot whose ``brain_serial`` is -1 was freed.

        Returns
        -------
        bool
            True when taken over. False (the World then makes a new backend, from host arrays
            made current here) when a spawn gives a learning world its first reward-STDP
            synapse or removes its last one (the compiled step program changes). A device
            failure during the upload hands over to the CPU as a failed advance does.
        """
        if self._cpu is not None:
            return self._cpu.write_slots(slots)
        if not self._bufs:
            return False
        L = self.layout
        n = L.n_neurons
        spawned = [int(i) for i in slots if L.brain_serial[int(i)] >= 0]
        writes = [self._slot_contents(int(i)) for i in slots]
        pc = old = self.plast
        if spawned and old is not None:
            # in place: the backend's own cache (the CPU fallback builds its own from the layout);
            # it is left as it was when the world gains or loses reward-STDP (False below)
            pc = PL.update_cache(L, old, spawned, in_place=True)
            if pc.any_rstdp != old.any_rstdp:
                if self._dev_ahead:
                    self._download_state()
                    for sw in writes:
                        sw.apply()
                return False
        up: list[tuple[str, int, np.ndarray]] = []  # (device array, byte offset, data)
        self._dev_steps = None  # the brain table changes: send it with the next advance
        for i in slots:
            self.binfo[i, 0] = L.brain_key[i]
            counts, outs = organ_ranges(L, int(i))
            up += [("act_counts", 4 * sl.start, L.act_counts[sl]) for sl in counts]
            up += [("act_out", 4 * sl.start, L.act_out[sl]) for sl in outs]
        ring = L.ring.reshape(L.ring.shape[0] * L.ring.shape[1], n)  # (slot * 3 + channel, neuron), as on the device
        for i in spawned:
            s, e, r0, r1, y0, y1 = slot_ranges(L, i)
            up += [("fstate", 4 * (self._fplane[k] * n + s), self._host_state(k, s, e, np.float32))
                   for k in FSTATE if k in L.neuron]  # (the shared +0 plane stays +0)
            up += [("istate", 4 * (self._iplane[k] * n + s), self._host_state(k, s, e, np.int32))
                   for k in ISTATE if k in L.neuron]
            up += [("ring", 4 * (row * n + s), ring[row, s:e]) for row in range(ring.shape[0])]
            kind = pc.row_kind[r0:r1].astype(np.uint32) if pc is not None else np.zeros(r1 - r0, np.uint32)
            self.row_dc[r0:r1] = ((L.row_delay[r0:r1].astype(np.uint32) << np.uint32(4)) | (kind << np.uint32(2))
                                  | L.row_chan[r0:r1].astype(np.uint32))
            up += [("row_ptr", 4 * s, L.row_ptr[s:e].astype(np.uint32)),
                   ("row_syn", 4 * r0, L.row_syn[r0:r1].astype(np.uint32)),
                   ("row_dc", 4 * r0, self.row_dc[r0:r1]),
                   ("row_proj", 4 * r0, L.row_proj[r0:r1].astype(np.uint32)),
                   ("syn", 8 * y0, np.stack([L.synapse["post"][y0:y1].astype(np.int32).view(np.uint32),
                                             L.synapse["w"][y0:y1].astype(np.float32).view(np.uint32)], axis=1))]
            if "elig" in L.synapse:
                up.append(("elig", 4 * y0, L.synapse["elig"][y0:y1].astype(np.float32)))
            if self._shadow is not None:  # the device gets the host's values there: not a host patch
                for k, a in self._tracked().items():
                    sl = L.state_slice(k[7:], s, e) if k.startswith("neuron.") else slice(y0, y1)
                    self._shadow[k][sl] = a[sl]
        if self._dev_ahead:
            self._ckpt.pending += writes
        try:
            if spawned and pc is not None:
                if pc is not old or not self._slot_tables(pc, spawned, up):
                    self._learning_tables(pc, up)
            self._upload_ranges(up)
        except Exception as exc:
            if wgpu is None or not _is_gpu_error(exc):
                raise
            if self._dev_ahead:
                self._fall_back(exc)  # replays the log, the slot writes included
            else:
                self._fall_back_here(exc)
            return True
        if not self._dev_ahead:
            self._ckpt = self._checkpoint()
        return True

    def _slot_contents(self, i: int) -> _SlotWrite:
        """Copies of slot ``i``'s ranges after a slot write: every array :func:`write_slot` writes
        (a freed slot: the per-brain values and actuator rows only; sensor values are logged
        with every frame)."""
        L = self.layout
        arrays: list[tuple[np.ndarray, Any, np.ndarray]] = []
        for a in (L.brain_key, L.brain_step, L.brain_serial, L.lod_every, L.sleeping, L.dopamine,
                  L.dopamine_sum, L.learn):
            arrays.append((a, i, a[i].copy()))
        counts, outs = organ_ranges(L, i)
        arrays += [(L.act_counts, sl, L.act_counts[sl].copy()) for sl in counts]
        arrays += [(L.act_out, sl, L.act_out[sl].copy()) for sl in outs]
        if L.brain_serial[i] >= 0:
            s, e, r0, r1, y0, y1 = slot_ranges(L, i)
            for k, a in L.neuron.items():
                sl = L.state_slice(k, s, e)
                arrays.append((a, sl, a[sl].copy()))
            arrays.append((L.row_ptr, slice(s, e), L.row_ptr[s:e].copy()))
            arrays += [(a, slice(r0, r1), a[r0:r1].copy()) for a in (L.row_syn, L.row_delay, L.row_proj, L.row_chan)]
            arrays += [(a, slice(y0, y1), a[y0:y1].copy()) for a in L.synapse.values()]
            arrays.append((L.ring, (slice(None), slice(None), slice(s, e)), L.ring[:, :, s:e].copy()))
        return _SlotWrite(i, arrays)

    def _fall_back_here(self, exc: BaseException) -> None:
        """Hand over to the CPU when the host arrays are current (nothing to replay)."""
        log.warning("GPU backend failed (%s: %s); continuing on the CPU", type(exc).__name__, exc)
        self._cpu = create_backend(_cpu_backend_name(), self.layout)
        self.replacement = self._cpu
        forget_device(self.gpu)
        self.fallback_reason = f"{type(exc).__name__}: {exc}"
        self._release()

    def _slot_tables(self, pc: PL.PlasticityCache, slots: list[int], up: list[tuple[str, int, np.ndarray]]
                     ) -> bool:
        """The slots' rows of the host copies of ``in_ptr``, ``in_tab`` and ``rs_tab`` from ``pc``
        (updated in place: every segment kept its place and length), queued for upload. False
        (nothing written) when a segment lies beyond the tables' buffers, which then need the
        whole re-derivation (:meth:`_learning_tables`)."""
        L = self.layout
        spans = []
        for i in slots:
            s, e = int(L.brain_start[i]), int(L.brain_start[i + 1])
            a, b = int(pc.in_ptr[s]), int(pc.in_ptr[e])
            c, d = int(pc.rs_ptr[i]), int(pc.rs_ptr[i + 1])
            if 3 * b > self.in_tab.size or d > self.rs_tab.shape[0] or e >= self.in_ptr.size:
                return False
            spans.append((i, s, e, a, b, c, d))
        for i, s, e, a, b, c, d in spans:
            self.in_ptr[s:e + 1] = pc.in_ptr[s:e + 1]
            up.append(("in_ptr", 4 * s, self.in_ptr[s:e + 1]))
            if b > a:
                tab = self.in_tab[3 * a:3 * b].reshape(-1, 3)
                tab[:, 0] = pc.in_syn[a:b]
                tab[:, 1] = pc.in_pre[a:b]
                tab[:, 2] = pc.in_proj[a:b]
                up.append(("in_tab", 12 * a, self.in_tab[3 * a:3 * b]))
            if d > c:
                # a slot's synapses target its own neurons: every post's brain is i
                self._rs_rows(self.rs_tab[c:d], pc, slice(c, d), np.full(d - c, i, np.int64))
                up.append(("rs_tab", 16 * c, self.rs_tab[c:d]))
        self.plast = pc
        return True

    def _learning_tables(self, pc: PL.PlasticityCache, up: list[tuple[str, int, np.ndarray]]) -> None:
        """Re-derived plasticity index tables after spawns: upload the changed span of each (a
        table that outgrew its buffer gets a new one, rebound; rs_tab's kernel is recompiled,
        its size being a constant of the shader)."""
        L = self.layout
        self.plast = pc

        def changed(name: str, old: U32, new: U32) -> None:
            d = np.flatnonzero(old != new)
            if d.size:
                a, b = int(d[0]), int(d[-1]) + 1
                up.append((name, 4 * a, new[a:b]))

        in_ptr = pc.in_ptr.astype(np.uint32)
        changed("in_ptr", self.in_ptr, in_ptr)
        self.in_ptr = in_ptr
        tab = np.stack([pc.in_syn, pc.in_pre, pc.in_proj], axis=1).astype(np.uint32).reshape(-1)
        if tab.size > self.in_tab.size:
            self.in_tab = np.zeros(tab.size + _headroom(tab.size), np.uint32)
            self.in_tab[:tab.size] = tab
            self._replace_buffer("in_tab", self.in_tab)
            self._rebind({"in_tab"})
        else:
            new = np.zeros_like(self.in_tab)
            new[:tab.size] = tab
            changed("in_tab", self.in_tab, new)
            self.in_tab = new
        rs = self._rs_table(pc, L.brain_of_neuron(), self.rs_tab.shape[0])
        if rs.shape[0] != self.rs_tab.shape[0]:
            self.rs_tab = rs
            self._replace_buffer("rs_tab", rs)
            self._compile_kernel("learn_rs")  # N_RS changed
            self._rebind({"rs_tab"})  # the per-brain kernel (it reads rs_ptr, not N_RS)
        else:
            changed("rs_tab", self.rs_tab.reshape(-1), rs.reshape(-1))
            self.rs_tab = rs
        rs_ptr = pc.rs_ptr.astype(np.uint32)
        changed("rs_ptr", self.rs_ptr, rs_ptr)
        self.rs_ptr = rs_ptr

    def _replace_buffer(self, name: str, data: np.ndarray) -> None:
        for b in self._bufs.get(name, []):
            b.destroy()
        self._buffer(name, data)

    def _upload_ranges(self, pieces: list[tuple[str, int, np.ndarray]]) -> None:
        """Write ``(array, byte offset, data)`` pieces into the device arrays (split where a piece
        crosses chunks): few pieces as queue writes, more as one write into a staging buffer
        and one submission copying each piece (a queue write costs ~10 us of Python and FFI,
        a submission more than a few dozen of them on lavapipe)."""
        raws = [np.ascontiguousarray(d).view(np.uint8).reshape(-1) for _, _, d in pieces]
        if not any(r.size for r in raws):
            return
        q = self.dev.queue
        if len(pieces) <= DIRECT_WRITES:  # e.g. one spawn: queue writes ride on the next submission
            for (name, off, _), r in zip(pieces, raws, strict=True):
                for buf, dst, a, b in self._chunk_spans(name, off, int(r.size)):
                    q.write_buffer(buf, dst, r[a:b])
            return
        blob = np.concatenate(raws)
        if self._staging is None or self._staging.size < blob.size:
            if self._staging is not None:
                self._staging.destroy()
            self._staging = self.dev.create_buffer(size=max(4096, 1 << int(blob.size - 1).bit_length()),
                                                   usage=wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST)
        q.write_buffer(self._staging, 0, blob)
        enc = self.dev.create_command_encoder()
        raw = _RAW[5] if (_RAW is not None and self._copy_ok) else None
        stage = self._staging
        src = 0
        for (name, off, _), r in zip(pieces, raws, strict=True):
            for buf, dst, a, b in self._chunk_spans(name, off, int(r.size)):
                if raw is not None:
                    raw(enc._internal, stage._internal, src + a, buf._internal, dst, b - a)
                else:
                    enc.copy_buffer_to_buffer(stage, src + a, buf, dst, b - a)
            src += int(r.size)
        self._submit(enc.finish())
        self._copy_ok = True

    def _chunk_spans(self, name: str, off: int, size: int) -> list[tuple[Any, int, int, int]]:
        """(buffer, byte offset in it, start, end in the data) of ``size`` bytes written at byte
        ``off`` of array ``name`` (split where the range crosses chunks)."""
        bufs = self._bufs[name]
        per = (1 << self._shift[name]) * CHUNKED[name] if name in CHUNKED else 1 << 62
        out = []
        done = 0
        while done < size:
            c = (off + done) // per
            take = min(size - done, (c + 1) * per - (off + done))
            out.append((bufs[c], off + done - c * per, done, done + take))
            done += take
        return out

    def _host_patches(self) -> list[tuple[str, npt.NDArray[np.int64], np.ndarray, np.ndarray]]:
        """Host writes since the last pull: (array, indices, new values, old values)."""
        if self._shadow is None:
            return []
        patches = []
        for k, host in self._tracked().items():
            old = self._shadow[k]
            hb = host.view(np.uint8).reshape(host.size, -1)
            ob = old.view(np.uint8).reshape(old.size, -1)
            diff = np.flatnonzero((hb != ob).any(axis=1))
            if diff.size == 0:
                continue
            patches.append((k, diff, host[diff].copy(), old[diff].copy()))
            self._shadow[k] = host.copy()
        return patches

    def _apply_patches(self, patches: list[tuple[str, npt.NDArray[np.int64], np.ndarray, np.ndarray]]) -> None:
        """Write host patches into the device arrays (downloading them first if the device is ahead)."""
        if not patches:
            return
        L = self.layout
        n = L.n_neurons
        for group, names, plane, count, dtype in (("fstate", FSTATE, self._fplane, self._n_fplanes, np.float32),
                                                  ("istate", ISTATE, self._iplane, self._n_iplanes, np.int32)):
            touched = [p for p in patches if p[0].startswith("neuron.") and p[0][7:] in names]
            if not touched:
                continue
            cur = self._download(group, dtype, count * n).reshape(count, n).copy() if self._dev_ahead \
                else (self._fstate() if group == "fstate" else self._istate()).reshape(count, n)
            for k, idx, vals, _ in touched:  # a per-population array's indices are into its kept neurons
                at = L.kept_neurons(k[7:])[idx] if L.is_compact(k[7:]) else idx
                cur[plane[k[7:]], at] = vals.astype(dtype)
            self._write(group, cur.reshape(-1))
        for k, idx, vals, _ in patches:
            if k == "synapse.w":
                syn = self._download("syn", np.uint32, 2 * L.n_synapses).reshape(-1, 2).copy() \
                    if self._dev_ahead else self._syn().reshape(-1, 2)
                syn[idx, 1] = vals.astype(np.float32).view(np.uint32)
                self._write("syn", syn.reshape(-1))
            elif k == "synapse.elig":
                el = self._download("elig", np.float32, L.n_synapses).copy() if self._dev_ahead else self._elig()
                el[idx] = vals
                self._write("elig", el)

    # ------------------------------------------------------------ the step
    def _out_want(self, n_steps: int) -> int:
        """Entries of the spike list an advance of ``n_steps`` steps needs (every neuron spiking
        every step, at most OUT_CAP_MAX)."""
        return int(min(max(self.layout.n_neurons * n_steps, 1), OUT_CAP_MAX))

    def _ensure_out_capacity(self, n_steps: int) -> int:
        want = self._out_want(n_steps)
        if want > self._out_cap:
            self._stale()
            for b in self._bufs["out_spk"]:
                b.destroy()
            # write-only from the GPU's side: allocate (wgpu zero-fills), upload nothing
            self._bufs["out_spk"] = [self.dev.create_buffer(
                size=8 * want, usage=wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC)]
            if self.order:  # order.wgsl's sorted list (neurons only)
                for b in self._bufs["ord"]:
                    b.destroy()
                self._bufs["ord"] = [self.dev.create_buffer(
                    size=4 * want, usage=wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC)]
            self._out_cap = want
            self._rebind({"out_spk", "ord"})
        return self._out_cap

    def _submit(self, command_buffer: Any) -> None:
        """Submit a command buffer: a wgpu-py one, or a raw handle (see _RawAdvance)."""
        if wgpu is not None and isinstance(command_buffer, wgpu.GPUCommandBuffer):
            self.dev.queue.submit([command_buffer])
        else:
            assert _RAWX is not None
            _RAWX.submit(self.dev.queue._internal, command_buffer)

    def _submit_kept(self, kept: Any) -> None:
        """Submit a command buffer recorded ahead (a _RawAdvance.keep handle) and release it."""
        assert _RAWX is not None
        _RAWX.submit_kept(self.dev.queue._internal, kept)

    def _make_readback(self, guess: int) -> Any:
        """The mapped read-back buffer: counters, actuators, dopamine, then ``guess`` spikes."""
        self._stale()
        if self._spk_guess:
            self._readback.destroy()
        self._spk_guess = guess
        return self.dev.create_buffer(size=self._rb_spk + 8 * guess,
                                      usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST)

    def _map_readback(self, nbytes: int) -> U32:
        """Wait for the submission; the first ``nbytes`` of the read-back buffer (counters,
        actuator arrays, dopamine, spike-list prefix) as a view of the MAPPED memory: valid
        until :meth:`_unmap_readback`, so copy what is kept."""
        raw = self._raw_ok and _RAWX is not None
        if raw:
            assert _RAWX is not None
            view = _RAWX.map_read(self.dev._internal, self._readback._internal, nbytes)
        else:  # the submission copied into the buffer: no "sync on read" submission needed
            self._readback.map_sync("READ_NOSYNC", 0, nbytes)
            view = self._readback.read_mapped(0, nbytes, copy=False)
        self._mapped_raw = raw
        return np.frombuffer(view, np.uint32)

    def _unmap_readback(self) -> None:
        if self._mapped_raw is None:
            return
        if self._mapped_raw:
            assert _RAWX is not None
            _RAWX.lib.wgpuBufferUnmap(self._readback._internal)
        else:
            self._readback.unmap()
        self._mapped_raw = None

    def _step_program(self, parity: int = 0) -> list[tuple[str, tuple[int, int, int] | None]]:
        """The kernels of one step of the per-step path: (kernel, grid; None = indirect). With FOLD
        a step of odd index in the advance (``parity`` 1) runs the odd variants ("neuron1",
        "propagate1"); without, every step runs the same program."""
        L = self.layout
        prog: list[tuple[str, tuple[int, int, int] | None]] = []

        def direct(k: str, count: int) -> None:
            grid = _grid_1d(count)
            if grid is not None:
                prog.append((k, grid))

        if L.gap_a.size:
            direct("gap", L.gap_a.size)
        odd = self.fold and parity % 2 == 1
        direct("neuron1" if odd else "neuron", L.n_neurons)
        if self.fold:  # (the kernel grid-strides over the step's spikes: any grid is correct)
            prog.append(("propagate1" if odd else "propagate", (self.prop_grid, 1, 1)))
        else:
            prog.append(("prep", (1, 1, 1)))
            prog.append(("propagate", None))
        pc = self.plast
        if pc is not None:  # learning P1, P5-P7 (P2-P4 run in the neuron kernel)
            if pc.any_rstdp:
                direct("learn_brain", L.n_brains)
            if pc.any_events:
                prog.append(("learn_pre", None))
                if pc.any_delivery:
                    direct("learn_deliver", L.n_neurons)
                prog.append(("learn_post", None))
            prog.append(("learn_inc", None))
            if pc.any_rstdp:
                if self.rs_tab.shape[0]:
                    direct("learn_rs", self.rs_tab.shape[0])
                direct("learn_reset", L.n_neurons)
        return prog

    def _record_steps_raw(self, h: Any, n_steps: int) -> None:
        """Record ``n_steps`` steps of the per-step path into the compute pass ``h`` (a raw
        handle) with wgpu-native's C calls (see _RAW)."""
        set_pipe, set_group, dispatch, dispatch_ind, null, _ = _RAW
        ind = self._bufs["indirect"][0]._internal
        progs = [[(self._pipes[k]._internal, self._groups0[k]._internal, grid)
                  for k, grid in self._step_program(parity)] for parity in (0, 1)]
        for i in range(n_steps):
            for pipe, group, grid in progs[i % 2]:
                set_pipe(h, pipe)
                set_group(h, 0, group, 0, null)
                if grid is None:
                    dispatch_ind(h, ind, 0)
                else:
                    dispatch(h, grid[0], grid[1], grid[2])

    def expect_steps(self, n_steps: int) -> None:
        """The advance after the next will probably run ``n_steps`` steps: the step count of the
        command buffer the next advance records ahead (see ``prerecord``; without a hint, its own)."""
        if self._cpu is not None:
            self._cpu.expect_steps(n_steps)
            return
        self._hint = int(n_steps)

    def _stale(self) -> None:
        """A buffer, bind group or pipeline that recorded commands may name is about to be re-made
        (or released): move the generation on and drop a command buffer recorded ahead."""
        self._rec_gen += 1
        if self._kept is not None:
            kept, self._kept, self._kept_sig = self._kept, None, None
            self.prerecord_stats["dropped"] += 1
            assert _RAWX is not None
            _RAWX.drop(kept)

    def _take_kept(self, sig: tuple[int, bool, int, int, bool, int]) -> Any:
        """The command buffer recorded ahead if it was recorded for ``sig`` (step count, sorted
        list, read-back guess, capacity, brain table left out, generation), else None (a buffer
        recorded for anything else is dropped: a wrong one would silently corrupt the state)."""
        kept, self._kept = self._kept, None
        if kept is None:
            return None
        if self._kept_sig == sig:
            self.prerecord_stats["used"] += 1
            return kept
        self.prerecord_stats["missed"] += 1
        assert _RAWX is not None
        _RAWX.drop(kept)
        return None

    def _prerecord(self, n_steps: int, active: BoolA | None) -> None:
        """Record the next advance's commands for ``n_steps`` steps and keep them (see
        ``prerecord``): with the capacity, read-back guess and buffers of now, and the brain table
        left out when this advance ran every brain with DEV_STEPS (the next one then leaves it out
        unless the host's clocks or the active brains change). Not when that advance must first
        grow the spike list (a re-made buffer)."""
        if n_steps <= 0 or self._out_want(n_steps) > self._out_cap:
            return
        cap = self._out_cap
        ordm = self._ord_mode(n_steps, cap)
        guess = min(self._spk_guess, cap)
        keep = self.dev_steps and active is None
        self._decoder_groups(n_steps)  # (made before the generation is read: making them may move it)
        cb = self._record_raw(n_steps, ordm, guess, keep)
        assert _RAWX is not None
        self._kept = _RAWX.keep(cb)
        self._kept_sig = (n_steps, ordm, guess, cap, keep, self._rec_gen)
        self.prerecord_stats["recorded"] += 1

    def _ord_mode(self, n_steps: int, cap: int) -> bool:
        """Whether an advance of ``n_steps`` steps with a spike list of ``cap`` entries has its list
        sorted on the device (order.wgsl): its per-(step, brain) masks and counts fit in out_spk."""
        B = self.layout.n_brains
        return bool(self.order and n_steps <= ORD_MAX_STEPS and (B + 255) // 256 <= MAX_GROUPS
                    and n_steps * B * (self.mask_words + 1) <= 2 * cap)

    def _upload_copies(self, keep: bool) -> list[tuple[str, int, int]]:
        """(buffer, offset in the upload, bytes) of the upload's pieces copied into place; the brain
        table left out when ``keep`` (the device's copy is current)."""
        return self._up_copies[:-1] if keep and self._up_copies[-1][0] == "binfo" else self._up_copies

    def _readback_words(self) -> tuple[int, int, int]:
        """Words of the read-back's actuator counts, actuator outputs and dopamine (after the counters)."""
        L = self.layout
        return L.act_counts.size, L.act_out.size, (2 * L.n_brains if self.plast is not None else 0)

    def _readback_copies(self, n_steps: int, ordm: bool, guess: int) -> list[tuple[str, int, int, int]]:
        """(buffer, offset there, offset in the read-back, bytes) of what comes back: counters,
        actuators, dopamine, then the sorted list's step totals and ``guess`` neurons (``ordm``) or
        ``guess`` (step, neuron) pairs."""
        na, no, nd = self._readback_words()
        back = [("ctl", 0, 0, 4 * META_WORDS), ("act_counts", 0, 4 * META_WORDS, 4 * na),
                ("act_out", 0, 4 * (META_WORDS + na), 4 * no), ("dopa", 0, 4 * (META_WORDS + na + no), 4 * nd)]
        if ordm:  # the steps' totals, then the sorted neurons
            back += [("ctl", 4 * M_T0, self._rb_base, 4 * n_steps), ("ord", 0, self._rb_spk, 4 * guess)]
        else:
            back.append(("out_spk", 0, self._rb_spk, 8 * guess))
        return back

    def _record_pass(self, rec: _PassRecorder, n_steps: int, ordm: bool, dec_bgs: list[Any]) -> None:
        """An advance's compute pass: encoders, actuator reset, the steps (the per-brain kernel and
        ``ordm``'s order.wgsl, or the per-step kernels), decoders (``dec_bgs``: their uniforms)."""
        L = self.layout
        n, B, na = L.n_neurons, L.n_brains, L.act_counts.size
        if not n:
            return
        rec.pipeline(self._pipes["encode"])
        rec.group(0, self._groups0["encode"])
        for bg, count in self._enc_bg:
            rec.group(1, bg)
            rec.grid(_grid_1d(count))
        if na:
            rec.pipeline(self._pipes["reset"])
            rec.group(0, self._groups0["reset"])
            rec.grid(_grid_1d(na))
        if self.fused:  # one workgroup per brain runs every step (brain.wgsl)
            rec.pipeline(self._pipes["brain"])
            rec.group(0, self._groups0["brain"])
            gx = min(B, MAX_GROUPS)
            rec.grid((gx, (B + gx - 1) // gx, 1))
            if ordm:  # the host list sorted (order.wgsl): a workgroup per step and 256 brains
                rec.pipeline(self._pipes["order"])
                rec.group(0, self._groups0["order"])
                rec.grid((n_steps, (B + 255) // 256, 1))
        elif rec.raw:
            self._record_steps_raw(rec.h, n_steps)
        else:
            progs = [self._step_program(parity) for parity in (0, 1)]
            for i in range(n_steps):
                for k, grid in progs[i % 2]:
                    rec.pipeline(self._pipes[k])
                    rec.group(0, self._groups0[k])
                    if grid is None:
                        rec.indirect(self._bufs["indirect"][0])
                    else:
                        rec.grid(grid)
        if self._dec_bg:
            rec.pipeline(self._pipes["decode"])
            rec.group(0, self._groups0["decode"])
            for bg, (_, _, _, brains) in zip(dec_bgs, self._dec_bg, strict=True):
                rec.group(1, bg)
                rec.grid(_grid_1d(brains))

    def _record_raw(self, n_steps: int, ordm: bool, guess: int, keep: bool) -> Any:
        """The finished command buffer (a raw handle) of an advance of ``n_steps`` steps, recorded
        with wgpu-native's C calls: the upload's pieces copied into place (``keep``: without the
        brain table), the compute pass (:meth:`_record_pass`), the copies into the read-back
        (:meth:`_readback_copies`). For the advance being made, or ahead (:meth:`_prerecord`)."""
        rx = _RAWX
        assert rx is not None
        lib, null = rx.lib, rx.null
        copy = lib.wgpuCommandEncoderCopyBufferToBuffer
        dec_bgs = self._decoder_groups(n_steps)
        enc_h = lib.wgpuDeviceCreateCommandEncoder(self.dev._internal, null)
        up_h = self._bufs["upload"][0]._internal
        for name, off, size in self._upload_copies(keep):
            copy(enc_h, up_h, off, self._bufs[name][0]._internal, 0, size)
        cp_h = lib.wgpuCommandEncoderBeginComputePass(enc_h, null)
        self._record_pass(_PassRecorder(None, True, cp_h), n_steps, ordm, dec_bgs)
        lib.wgpuComputePassEncoderEnd(cp_h)
        lib.wgpuComputePassEncoderRelease(cp_h)
        rb_h = self._readback._internal
        for name, src, off, size in self._readback_copies(n_steps, ordm, guess):
            if size:
                copy(enc_h, self._bufs[name][0]._internal, src, rb_h, off, size)
        cb = lib.wgpuCommandEncoderFinish(enc_h, null)
        lib.wgpuCommandEncoderRelease(enc_h)
        return cb

    def advance(self, n_steps: int, world_step: int, active: BoolA | None) -> SpikeRecord:
        if self._cpu is not None:
            return self._cpu.advance(n_steps, world_step, active)
        L = self.layout
        if n_steps == 0 or L.n_brains == 0:
            return SpikeRecord.empty()
        if active is not None and bool(active.all()):
            active = None
        frame = _Frame(n_steps, world_step, None if active is None else active.copy(),
                       L.sensor_values.copy(), [],
                       np.stack([L.dopamine, L.dopamine_sum]) if self.plast is not None else None)
        frame.slots, self._ckpt.pending = self._ckpt.pending, []
        self._ckpt.frames.append(frame)
        try:
            frame.patches = self._host_patches()
            self._apply_patches(frame.patches)
            record = self._advance_gpu(n_steps, world_step, active)
            self._raw_ok = True
        except Exception as exc:
            if wgpu is None or not _is_gpu_error(exc):
                raise
            return self._fall_back(exc)
        if self.checkpoint_frames and len(self._ckpt.frames) >= self.checkpoint_frames:
            self._download_state()
            if self._shadow is not None:
                self._take_shadow()
        return record

    def _advance_gpu(self, n_steps: int, world_step: int, active: BoolA | None) -> SpikeRecord:
        L = self.layout
        B = L.n_brains
        q = self.dev.queue
        # after one advance through wgpu-py's checked calls, the same commands through raw C calls
        rx = _RAWX if (self._raw_ok and _RAWX is not None) else None
        # the device's brain table is current (it advanced its clocks itself, all brains were and are
        # active, nothing else changed; the learn bit of the flags is read only by layouts that learn,
        # which never get here): leave it out of the upload
        keep = (self._dev_steps is not None and active is None
                and np.array_equal(self._dev_steps, L.brain_step))
        self._dev_steps = None
        if not keep:
            self._brain_table_columns(active)
        pc = self.plast
        if pc is not None:
            every = pc.every
            self.binfo[:B, 5] = np.where(every > 0, L.brain_step % np.maximum(every, 1), 0).astype(np.uint32)
            self._up_dopa[:B, 0] = L.dopamine
            self._up_dopa[:B, 1] = L.dopamine_sum
        cap = self._ensure_out_capacity(n_steps)
        if L.sensor_values.size:
            self._up_sens[...] = L.sensor_values
        # the list sorted on the device (order.wgsl) when its per-(step, brain) masks and counts fit
        # in out_spk; else appended spike by spike (and sorted in _spike_record)
        ordm = self._ord_mode(n_steps, cap)
        meta = self._up[:M_T0 + (n_steps if ordm else 0)]
        meta[...] = 0
        meta[M_CAP] = cap
        meta[M_NSTEPS] = n_steps
        meta[M_ORD] = ordm
        upload = self._bufs["upload"][0]
        up = self._up[:self._up_nob] if keep else self._up
        na, no, nd = self._readback_words()
        # the first entries of the spike list come back with the counters (no second round trip
        # unless the advance spiked more than the guess, which then grows)
        guess = min(self._spk_guess, cap)
        hint, self._hint = self._hint, None
        if rx is not None:
            rx.lib.wgpuQueueWriteBuffer(q._internal, upload._internal, 0, rx.ffi.from_buffer(up), up.nbytes)
            # the commands: those the last advance recorded ahead if recorded for exactly this advance
            # (_prerecord; the write above lands before them: queue order), else recorded now
            kept = self._take_kept((n_steps, ordm, guess, cap, keep, self._rec_gen))
            if kept is not None:
                self._submit_kept(kept)
            else:
                self._submit(self._record_raw(n_steps, ordm, guess, keep))
            self._dev_ahead = True
            # the next advance's, while the device runs this one (per-step path: not for layouts that
            # learn, whose step program follows the plasticity tables)
            if self.prerecord and (self.fused or self.plast is None):
                self._prerecord(n_steps if hint is None else hint, active)
        else:
            q.write_buffer(upload, 0, up)
            dec_bgs = self._decoder_groups(n_steps)
            enc = self.dev.create_command_encoder()
            for name, off, size in self._upload_copies(keep):
                enc.copy_buffer_to_buffer(upload, off, self._bufs[name][0], 0, size)
            cp = enc.begin_compute_pass()
            self._record_pass(_PassRecorder(cp, self._raw_ok), n_steps, ordm, dec_bgs)
            cp.end()
            rb = self._readback
            for name, src, off, size in self._readback_copies(n_steps, ordm, guess):
                if size:
                    enc.copy_buffer_to_buffer(self._bufs[name][0], src, rb, off, size)
            self._submit(enc.finish())
            self._dev_ahead = True
        raw = self._map_readback(self._rb_spk + (4 if ordm else 8) * guess)
        per_step: U32 | None = None
        try:
            if ordm:
                per_step = raw[self._rb_base // 4:self._rb_base // 4 + n_steps].copy()
                total = int(per_step.sum())
            else:
                total = int(raw[M_OUT])
            L.act_counts[...] = raw[META_WORDS:META_WORDS + na].view(np.int32)
            L.act_out[...] = raw[META_WORDS + na:META_WORDS + na + no].view(np.float32)
            if nd:
                dopa = raw[META_WORDS + na + no:META_WORDS + na + no + nd].view(np.float32).reshape(B, 2)
                L.dopamine[...] = dopa[:, 0]
                L.dopamine_sum[...] = dopa[:, 1]
            kept = min(total, cap)
            s0 = self._rb_spk // 4
            if kept > guess:
                record = None
            elif per_step is not None:
                record = self._sorted_record(raw[s0:s0 + kept], per_step, kept, world_step)
            else:
                record = self._spike_record(raw[s0:s0 + 2 * kept], kept, n_steps, world_step)
        finally:
            self._unmap_readback()
        for g, prefs in self._host_dec:
            _decode_population_vector(L, g, prefs, active)
        # host-side bookkeeping the numpy step does on the host arrays
        for g in L.sensor_groups:
            if g.kind == 3:
                vals = L.sensor_values[g.offset:g.offset + g.brains * g.channels].reshape(g.brains, g.channels)
                vals[organ_rows(L, g, active)] = 0.0
        if active is None:
            L.brain_step += n_steps
        else:
            L.brain_step[active] += n_steps
        if self.dev_steps and active is None:
            self._dev_steps = L.brain_step.copy()  # what the brain kernel left in the device's table
        if kept < total:
            log.warning("GPU spike list overflow: %d spikes this advance, %d reported (state is exact)",
                        total, kept)
        if record is not None:
            return record
        want = min(1 << int(2 * kept - 1).bit_length(), OUT_CAP_MAX)
        if want > self._spk_guess:
            self._readback = self._make_readback(want)
        if per_step is not None:
            neurons = np.frombuffer(self._read(self._bufs["ord"][0], 4 * kept), np.uint32)
            return self._sorted_record(neurons, per_step, kept, world_step)
        pairs = np.frombuffer(self._read(self._bufs["out_spk"][0], 8 * kept), np.uint32)
        return self._spike_record(pairs, kept, n_steps, world_step)

    @staticmethod
    def _sorted_record(neurons: U32, per_step: U32, kept: int, world_step: int) -> SpikeRecord:
        """The record of a list order.wgsl sorted on the device: ``neurons`` (may be mapped memory:
        copied) and the spikes of each step (``per_step``); the first ``kept`` entries."""
        steps = np.repeat(np.arange(world_step, world_step + per_step.size, dtype=np.int64), per_step)
        return SpikeRecord(steps[:kept], neurons[:kept].astype(np.int32))

    def _spike_record(self, pairs: U32, kept: int, n_steps: int, world_step: int) -> SpikeRecord:
        """The (step, neuron) pairs sorted by step, then neuron (``pairs`` may be mapped memory:
        only new arrays are kept). One sort of 32-bit keys (step above the neuron's bits) where
        they fit, else of 64-bit keys."""
        if kept == 0:
            return SpikeRecord.empty()
        shift = self._key_shift
        if (n_steps - 1) >> (32 - shift) == 0:
            key = (pairs[0::2] << np.uint32(shift)) | pairs[1::2]
            key.sort()
            return SpikeRecord(world_step + (key >> np.uint32(shift)).astype(np.int64),
                               (key & np.uint32((1 << shift) - 1)).astype(np.int32))
        key64 = (pairs[0::2].astype(np.uint64) << np.uint64(32)) | pairs[1::2].astype(np.uint64)
        key64.sort()
        return SpikeRecord(world_step + (key64 >> np.uint64(32)).astype(np.int64),
                           (key64 & np.uint64(0xFFFFFFFF)).astype(np.int32))

    # ------------------------------------------------------------ fallback
    def _fall_back(self, exc: BaseException) -> SpikeRecord:
        """Restore the last checkpoint on the host, replay the logged frames on the CPU."""
        L = self.layout
        ck = self._ckpt
        log.warning("GPU backend failed (%s: %s); continuing on the CPU from the checkpoint at the last "
                    "state pull, replaying %d frame(s)", type(exc).__name__, exc, len(ck.frames))
        tracked = self._tracked()
        for fr in reversed(ck.frames):
            for k, idx, _, old in fr.patches:
                tracked[k][idx] = old
        L.brain_step[...] = ck.brain_step
        L.act_counts[...] = ck.act_counts
        L.act_out[...] = ck.act_out
        L.dopamine[...] = ck.dopamine
        L.dopamine_sum[...] = ck.dopamine_sum
        cpu = create_backend(_cpu_backend_name(), L)
        record = SpikeRecord.empty()
        for fr in ck.frames:
            for sw in fr.slots:  # the slot as written (what the replay steps there before is dropped)
                sw.apply()
            if fr.slots:
                cpu.write_slots([sw.slot for sw in fr.slots])
            for k, idx, vals, _ in fr.patches:
                tracked[k][idx] = vals
            L.sensor_values[...] = fr.sensors
            if fr.dopamine is not None:
                L.dopamine[...] = fr.dopamine[0]
                L.dopamine_sum[...] = fr.dopamine[1]
            record = cpu.advance(fr.n_steps, fr.world_step, fr.active)
        for sw in ck.pending:  # slot writes after the last frame
            sw.apply()
        if ck.pending:
            cpu.write_slots([sw.slot for sw in ck.pending])
        self._cpu = cpu
        self.replacement = cpu
        forget_device(self.gpu)
        self.fallback_reason = f"{type(exc).__name__}: {exc}"
        self._release()
        return record

    def _release(self) -> None:
        self._stale()
        doomed = [b for bufs in self._bufs.values() for b in bufs]
        if self._staging is not None:
            doomed.append(self._staging)
        if self._spk_guess:  # the read-back (made by _make_readback, not one of _bufs)
            doomed.append(self._readback)
        for b in doomed:
            try:
                b.destroy()
            except Exception:  # a lost device may refuse; nothing else to free
                log.debug("buffer destroy failed", exc_info=True)
        self._bufs = {}
        self._staging = None
        self._spk_guess = 0

    def close(self) -> None:
        if self._cpu is not None:
            self._cpu.close()
        self._release()


class _PassRecorder:
    """Compute-pass commands through wgpu-py's checked calls, or (``raw``) straight through
    wgpu-native's C functions (see ``_RAW``)."""

    def __init__(self, cp: Any, raw: bool, handle: Any = None) -> None:
        self.cp = cp
        self.raw = bool(raw and _RAW is not None)
        self.h = (cp._internal if handle is None else handle) if self.raw else None

    def pipeline(self, pipe: Any) -> None:
        if self.raw:
            _RAW[0](self.h, pipe._internal)
        else:
            self.cp.set_pipeline(pipe)

    def group(self, index: int, group: Any) -> None:
        if self.raw:
            _RAW[1](self.h, index, group._internal, 0, _RAW[4])
        else:
            self.cp.set_bind_group(index, group)

    def grid(self, grid: tuple[int, int, int] | None) -> None:
        if grid is None:
            return
        if self.raw:
            _RAW[2](self.h, grid[0], grid[1], grid[2])
        else:
            self.cp.dispatch_workgroups(*grid)

    def indirect(self, buf: Any) -> None:
        if self.raw:
            _RAW[3](self.h, buf._internal, 0)
        else:
            self.cp.dispatch_workgroups_indirect(buf, 0)


def _headroom(m: int) -> int:
    """Spare entries given to a learning table of ``m`` entries that write_slots must grow."""
    return m // 8 + 64


def _grid_1d(count: int) -> tuple[int, int, int] | None:
    """Workgroup grid covering ``count`` invocations of WG (2-D past 65535 groups), or None."""
    groups = (count + WG - 1) // WG
    if groups == 0:
        return None
    gx = min(groups, MAX_GROUPS)
    return (gx, (groups + gx - 1) // gx, 1)


def _decode_population_vector(L: Layout, g: Any, prefs: F32, active: BoolA | None) -> None:
    """numpy_backend.decode_actuators for one population-vector group, from the counts read
    back (same float32 operations; the division is IEEE-exact here, not on every GPU)."""
    rows = organ_rows(L, g, active)
    if rows.size == 0:
        return
    c = L.act_counts[g.offset:g.offset + g.brains * g.channels].reshape(g.brains, g.channels)[rows] \
        .astype(np.float32)
    out = L.act_out[g.out_offset:g.out_offset + g.brains * g.width].reshape(g.brains, g.width)
    num = np.zeros(rows.size, np.float32)
    den = np.zeros(rows.size, np.float32)
    for ch in range(g.channels):
        num = num + c[:, ch] * prefs[ch]
        den = den + c[:, ch]
    zero = np.float32(0.0)
    safe = np.where(den > zero, den, np.float32(1.0))
    out[rows, 0] = np.where(den > zero, num / safe, np.float32(0.5 * (g.low + g.high)))


def _is_gpu_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from the device (and not from a bug in the caller's arguments)."""
    gpu_error = getattr(wgpu, "GPUError", None)
    if gpu_error is not None and isinstance(exc, gpu_error):
        return True
    return type(exc).__module__.startswith("wgpu")


def _cpu_backend_name() -> str:
    from spikeforge.engine.backend import best_cpu_backend

    return best_cpu_backend()


def unsupported_reason(layout: Layout) -> str | None:
    """Why the WGSL step cannot run ``layout`` (a feature it does not implement), or None.

    Learning is implemented (``shaders/learn_*.wgsl``); what is left out are per-world
    arrays the GPU step does not know (``layout.extra``) and synapse arrays other than
    ``post``, ``w`` and ``elig``.
    """
    if layout.extra:
        return f"the GPU backend does not know the per-world arrays {sorted(layout.extra)}"
    other = sorted(set(layout.synapse) - {"post", "w", "elig"})
    if other:
        return f"the GPU backend does not know the synapse arrays {other}"
    return None


def refuse_unsupported(layout: Layout) -> None:
    """Raise ValueError naming any layout feature the WGSL step does not implement (learning)."""
    why = unsupported_reason(layout)
    if why is not None:
        raise ValueError(f"layout: {why}")


def _predict_gain(n_neurons: int, n_synapses: int, layout: Layout | None) -> bool:
    from spikeforge.engine.gpu_cost import predict_gain

    return bool(predict_gain(n_neurons, n_synapses, layout))


if os.environ.get("SPIKEFORGE_DISABLE_GPU", "") not in ("", "0"):
    register_backend("gpu", GpuBackend, lambda: "disabled by SPIKEFORGE_DISABLE_GPU")
else:
    register_backend("gpu", GpuBackend, gpu_unavailable, auto_priority=-1, predict_gain=_predict_gain,
                     unsupported=unsupported_reason)
