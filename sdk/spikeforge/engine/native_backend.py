"""The native CPU backend: the step of ``numpy_backend`` in C99, bit for bit.

The C kernels (``native/src``) are compiled into ``spikeforge.engine._native_ext`` by
cffi at ``pip install`` time. This module only points a C ``sf_net`` struct at the
layout's numpy arrays (zero-copy: the kernels read and write the very memory the
``Brain`` views show) and makes one C call per ``advance``; the call releases the GIL
and runs every step, on all cores, with identical results for any thread count.

Threads: ``SPIKEFORGE_THREADS`` (default: all cores) caps the worker count; a thread
is only used per ``min_neurons_per_thread`` active neurons (default 32768) where threads meet
at every step (one brain, or brains that touch), and per as many neuron-steps of the advance
where they meet once per advance (brain-major: each thread runs whole brains), so small
worlds run on the calling thread without synchronisation cost.

Instruction set: the vectorized loops are built for AVX-512F, AVX2 and the baseline, and
the widest the CPU runs is used; ``SPIKEFORGE_NATIVE_ISA`` (``baseline``, ``avx2`` or
``avx512f``) or :meth:`NativeBackend.set_isa` caps it. Every set gives the same bits.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from spikeforge.engine import params as P
from spikeforge.engine.backend import Backend, SpikeRecord, register_backend
from spikeforge.engine.layout import N_CHANNELS, PER_POPULATION_STATE, STORED_WHEN_KEPT, Layout, OrganGroup
from spikeforge.engine.numpy_backend import GAUSS_LUT
from spikeforge.engine.plasticity import NPF, PlasticityCache, update_cache
from spikeforge.engine.plasticity import build_cache as build_plasticity

try:
    from spikeforge.engine._native_ext import ffi, lib

    _IMPORT_ERROR: str | None = None
except ImportError as exc:  # pragma: no cover - depends on the build
    ffi = lib = None
    _IMPORT_ERROR = (f"the C extension spikeforge.engine._native_ext is not built ({exc}); "
                     "reinstall with `pip install -e .` on a machine with a C compiler")
if lib is not None and getattr(lib, "SF_PLACEHOLDERS_SKIPPED", 0) != 1:  # pragma: no cover - a stale build
    # its sf_learn_post would write through the learning tables' slot placeholders (plasticity._pad_slots)
    ffi = lib = None
    _IMPORT_ERROR = ("the C extension spikeforge.engine._native_ext is older than the Python package "
                     "(no SF_PLACEHOLDERS_SKIPPED); rebuild it: `python setup.py build_ext --inplace`")

DEFAULT_MIN_NEURONS_PER_THREAD = 32768

# (layout attribute or neuron/synapse key, C field, C pointer type, numpy dtype)
_NEURON_FIELDS: tuple[tuple[str, str, type[np.generic]], ...] = (
    ("v", "float *", np.float32), ("ie", "float *", np.float32), ("ii", "float *", np.float32),
    ("w", "float *", np.float32), ("theta", "float *", np.float32), ("mod", "float *", np.float32),
    ("iext", "float *", np.float32), ("pforce", "float *", np.float32), ("hold", "int32_t *", np.int32),
    ("consec", "int32_t *", np.int32), ("burst", "int32_t *", np.int32),
    ("force_once", "uint8_t *", np.uint8),
)
_LAYOUT_FIELDS: tuple[tuple[str, str, type[np.generic]], ...] = (
    ("brain_start", "int64_t *", np.int64), ("brain_key", "uint32_t *", np.uint32),
    ("brain_step", "int64_t *", np.int64), ("pid", "int32_t *", np.int32),
    ("act_slot", "int32_t *", np.int32), ("fparams", "float *", np.float32),
    ("iparams", "int32_t *", np.int32), ("row_ptr", "int64_t *", np.int64),
    ("row_syn", "int64_t *", np.int64), ("row_delay", "int32_t *", np.int32),
    ("row_chan", "int32_t *", np.int32), ("row_proj", "int32_t *", np.int32),
    ("gap_a", "int32_t *", np.int32), ("gap_b", "int32_t *", np.int32), ("gap_g", "float *", np.float32),
    ("ring", "int32_t *", np.int32), ("sensor_values", "float *", np.float32),
    ("act_counts", "int32_t *", np.int32), ("act_out", "float *", np.float32),
)


def unavailable() -> str | None:
    """Why the native backend cannot run here, or None."""
    return _IMPORT_ERROR


def abi_constants() -> dict[str, int]:
    """The parameter-table column numbers the C kernels were compiled with (``SF_*``)."""
    if lib is None:
        raise RuntimeError(f"native backend unavailable: {_IMPORT_ERROR}")
    return {name: int(getattr(lib, name)) for name in dir(lib) if name.startswith("SF_")}


def _default_threads() -> int:
    raw = os.environ.get("SPIKEFORGE_THREADS", "")
    if raw.strip():
        try:
            n = int(raw)
        except ValueError:
            raise ValueError(f"SPIKEFORGE_THREADS: expected a whole number >= 1, got {raw!r}") from None
        if n < 1:
            raise ValueError(f"SPIKEFORGE_THREADS: expected a whole number >= 1, got {raw!r}")
        return n
    return os.cpu_count() or 1


ISAS = ("baseline", "avx2", "avx512f")


def planned_threads(neurons: int, brains: int, steps: int, threads: int | None = None,
                    min_neurons_per_thread: int = DEFAULT_MIN_NEURONS_PER_THREAD) -> int:
    """Threads an ``advance`` of ``steps`` steps over ``neurons`` active neurons in ``brains`` active
    brains uses (:attr:`NativeBackend.last_threads`), with at most ``threads`` (default: ``SPIKEFORGE_THREADS``
    or all cores). The rule of ``sf_engine_advance`` (``native/src/kernel.c``; a test holds the two
    together): two or more brains run brain-major (each thread whole brains, threads meet once per
    advance), so a thread per ``min_neurons_per_thread`` neuron-steps of the advance, at most one per
    brain; one brain runs step-major (threads meet every step), a thread per ``min_neurons_per_thread``
    neurons. Every spikeforge brain's synapses stay inside it, which brain-major needs."""
    most = _default_threads() if threads is None else int(threads)
    if neurons < 0 or brains < 0 or steps < 1 or most < 1 or min_neurons_per_thread < 1:
        raise ValueError("planned_threads: neurons and brains >= 0, steps, threads and min_neurons_per_thread >= 1")
    brain_major = brains >= 2 and brains * (steps + 1) <= 1 << 23
    work = neurons * steps if brain_major else neurons
    t = min(most, max(1, work // min_neurons_per_thread))
    return min(t, brains) if brain_major else t





class NativeBackend(Backend):
    """Runs the step in C on the layout's own arrays (see module docstring).

    Parameters
    ----------
    layout : Layout
        The world's state; its arrays are used in place.
    threads : int or None
        Most worker threads (default: ``SPIKEFORGE_THREADS`` or all cores).
    min_neurons_per_thread : int
        Active neurons needed per extra thread.
    """

    name: ClassVar[str] = "native"

    def __init__(self, layout: Layout, threads: int | None = None,
                 min_neurons_per_thread: int = DEFAULT_MIN_NEURONS_PER_THREAD) -> None:
        if lib is None:
            raise RuntimeError(f"native backend unavailable: {_IMPORT_ERROR}")
        super().__init__(layout)
        self.max_threads = _default_threads() if threads is None else int(threads)
        if self.max_threads < 1:
            raise ValueError(f"threads: must be >= 1, got {threads!r}")
        eng = lib.sf_engine_new(self.max_threads)
        if eng == ffi.NULL:
            raise MemoryError("native engine: out of memory")
        self._engine: Any = ffi.gc(eng, lib.sf_engine_free)
        self._keep: list[Any] = []
        self._arrays: list[np.ndarray] = []
        self._net: Any = None
        self._active_buf = np.zeros(0, np.uint8)
        self._pc: PlasticityCache | None = None  # the learning cache net.plast points at
        self._index_keep: list[np.ndarray] = []  # its index tables (replaced by write_slots)
        self.set_threads(self.max_threads, min_neurons_per_thread)
        isa = os.environ.get("SPIKEFORGE_NATIVE_ISA", "").strip()
        if isa:
            if isa not in ISAS:
                raise ValueError(f"SPIKEFORGE_NATIVE_ISA: expected one of {', '.join(ISAS)}, got {isa!r}")
            self.set_isa(isa)
        tables = os.environ.get("SPIKEFORGE_NATIVE_INT32_TABLES", "").strip()
        if tables:
            if tables not in ("0", "1"):
                raise ValueError(f"SPIKEFORGE_NATIVE_INT32_TABLES: expected 0 or 1, got {tables!r}")
            lib.sf_engine_set_int32_tables(self._engine, int(tables))
        self._bind()

    # ------------------------------------------------------------------ binding
    def _gather(self) -> list[np.ndarray]:
        L = self.layout
        arrs = [L.neuron[k] for k, _, _ in _NEURON_FIELDS if k in L.neuron]
        arrs += [getattr(L, k) for k, _, _ in _LAYOUT_FIELDS]
        arrs.append(L.pid_keeps())
        arrs += [L.synapse["post"], L.synapse["w"], L.dopamine, L.dopamine_sum, L.learn]
        arrs += [L.neuron[k] for k in ("xpre", "xpost", "msum", "shist") if k in L.neuron]
        if "elig" in L.synapse:
            arrs.append(L.synapse["elig"])
        return arrs

    def _bind(self) -> None:
        """Point a fresh ``sf_net`` at the layout's arrays, validate it, prepare the engine."""
        L = self.layout
        net = ffi.new("sf_net *")
        keep: list[Any] = [net]

        def ptr(arr: np.ndarray, ctype: str, dtype: type[np.generic], what: str) -> Any:
            if arr.dtype != np.dtype(dtype):
                raise ValueError(f"layout.{what}: expected dtype {np.dtype(dtype).name}, got {arr.dtype.name}")
            if not arr.flags.c_contiguous or not arr.flags.writeable:
                raise ValueError(f"layout.{what}: must be a writeable C-contiguous array")
            return ffi.cast(ctype, arr.ctypes.data)

        n = L.n_neurons
        for k, ctype, dt in _NEURON_FIELDS:
            if k not in L.neuron:
                if k not in STORED_WHEN_KEPT:
                    raise ValueError(f"layout.neuron.{k}: missing")
                # no population keeps it: NULL, which the kernels read as +0 everywhere
                setattr(net, k, ffi.NULL)
                continue
            a = L.neuron[k]
            # a per-population variable: the neurons of the populations that keep it (pid_keeps)
            m = int(L.kept_start(k)[-1]) if k in PER_POPULATION_STATE else n
            if a.shape != (m,):
                raise ValueError(f"layout.neuron.{k}: expected {m} values, got shape {a.shape}")
            setattr(net, k, ptr(a, ctype, dt, f"neuron.{k}"))
        if L.pid_keeps().shape != (L.fparams.shape[0],):
            raise ValueError(f"layout.pid_keeps: expected {L.fparams.shape[0]} values")
        net.pid_keeps = ptr(L.pid_keeps(), "uint16_t *", np.uint16, "pid_keeps")
        for k, ctype, dt in _LAYOUT_FIELDS:
            setattr(net, k, ptr(getattr(L, k), ctype, dt, k))
        sets = L.fparams.shape[0] if L.fparams.ndim == 2 else -1
        if sets != 0 and (L.fparams.shape != (sets, P.NF) or L.iparams.shape != (sets, P.NI)):
            raise ValueError(f"layout.fparams/iparams: expected (sets, {P.NF}) and (sets, {P.NI}), got "
                             f"{L.fparams.shape} and {L.iparams.shape}")
        if L.ring.shape != (L.depth, N_CHANNELS, n):
            raise ValueError(f"layout.ring: expected shape {(L.depth, N_CHANNELS, n)}, got {L.ring.shape}")
        for name, arr, want in (("brain_start", L.brain_start, L.n_brains + 1), ("brain_step", L.brain_step,
                                L.n_brains), ("pid", L.pid, n), ("act_slot", L.act_slot, n),
                                ("row_ptr", L.row_ptr, n + 1), ("row_syn", L.row_syn, L.n_rows + 1),
                                ("row_chan", L.row_chan, L.n_rows), ("row_proj", L.row_proj, L.n_rows),
                                ("gap_b", L.gap_b, L.gap_a.size), ("gap_g", L.gap_g, L.gap_a.size)):
            if arr.size != want:
                raise ValueError(f"layout.{name}: expected {want} values, got {arr.size}")
        for k in ("post", "w"):
            if L.synapse[k].shape != (L.n_synapses,):
                raise ValueError(f"layout.synapse.{k}: expected {L.n_synapses} values")
        net.post = ptr(L.synapse["post"], "int32_t *", np.int32, "synapse.post")
        net.weight = ptr(L.synapse["w"], "float *", np.float32, "synapse.w")
        net.dt_ms = float(L.dt_ms)
        net.n_neurons = n
        net.n_brains = L.n_brains
        net.n_rows = L.n_rows
        net.n_synapses = L.n_synapses
        net.n_gap = int(L.gap_a.size)
        net.n_params = int(L.fparams.shape[0])
        net.n_proj = int(L.proj_chan.size)
        net.depth = int(L.depth)
        net.n_sensor_values = int(L.sensor_values.size)
        net.n_act_counts = int(L.act_counts.size)
        net.n_act_out = int(L.act_out.size)
        net.n_sensor_groups = len(L.sensor_groups)
        net.n_actuator_groups = len(L.actuator_groups)
        net.sensor_groups = self._organs(L.sensor_groups, keep)
        net.actuator_groups = self._organs(L.actuator_groups, keep)
        lut = np.ascontiguousarray(GAUSS_LUT, dtype=np.float32)
        keep.append(lut)
        net.gauss_lut = ffi.cast("float *", lut.ctypes.data)
        pc, index_keep = self._bind_plasticity(net, keep, ptr)
        msg = ffi.new("char[]", 512)
        if lib.sf_net_validate(net, msg, 512) != 0:
            raise ValueError("layout." + ffi.string(msg).decode("utf-8", "replace"))
        if lib.sf_engine_prepare(self._engine, net) != 0:
            raise MemoryError(ffi.string(lib.sf_engine_error(self._engine)).decode())
        self._net = net
        self._keep = keep
        self._pc, self._index_keep = pc, index_keep
        self._arrays = self._gather()
        self._active_buf = np.zeros(L.n_brains, np.uint8)

    def _bind_plasticity(self, net: Any, keep: list[Any], ptr: Any
                         ) -> tuple[PlasticityCache | None, list[np.ndarray]]:
        """Point ``net.plast`` at the learning tables (engine/plasticity.py) and state; the
        learning cache and its index tables (kept apart: a slot write replaces them)."""
        L = self.layout
        pc = build_plasticity(L)
        pl = net.plast
        if pc is None:
            pl.enabled = 0
            return None, []
        T = pc.tables
        tabs: list[tuple[str, np.ndarray, str, type[np.generic]]] = [
            ("proj_f", T.proj_f, "float *", np.float32), ("proj_i", T.proj_i, "int32_t *", np.int32),
            ("pid_f", T.pid_f, "float *", np.float32), ("da_decay", pc.da_decay, "float *", np.float32),
            ("every", pc.every, "int64_t *", np.int64),
        ]
        for name, arr, ctype, dt in tabs:
            a = np.ascontiguousarray(arr, dtype=dt)
            keep.append(a)
            setattr(pl, name, ptr(a, ctype, dt, f"plasticity.{name}"))
        index_keep = self._point_index_tables(pl, pc)
        n_proj = int(L.proj_chan.size)
        if T.proj_f.shape != (n_proj, NPF) or T.pid_f.shape[0] != L.fparams.shape[0]:
            raise ValueError("layout.plasticity: table shapes do not match the layout")
        if pc.in_ptr.size != L.n_neurons + 1 or pc.rs_ptr.size != L.n_brains + 1:
            raise ValueError("layout.plasticity: in_ptr/rs_ptr sizes do not match the layout")
        for name, arr, ctype, dt in (("dopamine", L.dopamine, "float *", np.float32),
                                     ("dopamine_sum", L.dopamine_sum, "float *", np.float32),
                                     ("learn", L.learn, "uint8_t *", np.uint8)):
            if arr.shape != (L.n_brains,):
                raise ValueError(f"layout.{name}: expected {L.n_brains} values, got shape {arr.shape}")
            setattr(pl, name, ptr(arr, ctype, dt, name))
        # present whenever something learns, shist whenever something depresses at delivery (the
        # only case the C kernels touch it: NULL otherwise), as build_cache checked
        for name in ("xpre", "xpost", "msum", "shist"):  # the learning brains' neurons (pid_keeps)
            m = int(L.kept_start(name)[-1])
            if name in L.neuron and L.neuron[name].shape != (m,):
                raise ValueError(f"layout.neuron.{name}: expected {m} values, got shape {L.neuron[name].shape}")
        for name in ("xpre", "xpost", "msum"):
            setattr(pl, name, ptr(L.neuron[name], "float *", np.float32, f"neuron.{name}"))
        pl.shist = (ptr(L.neuron["shist"], "int32_t *", np.int32, "neuron.shist") if "shist" in L.neuron
                    else ffi.NULL)
        if "elig" in L.synapse:
            if L.synapse["elig"].shape != (L.n_synapses,):
                raise ValueError(f"layout.synapse.elig: expected {L.n_synapses} values")
            pl.elig = ptr(L.synapse["elig"], "float *", np.float32, "synapse.elig")
        pl.any_homeo, pl.any_events = int(pc.any_homeo), int(pc.any_events)
        pl.any_delivery = int(pc.any_delivery)
        pl.any_early = int(bool(pc.preearly.any() or pc.postearly.any()))
        pl.learning = int(bool(L.learning))
        pl.enabled = 1
        return pc, index_keep

    @staticmethod
    def _point_index_tables(pl: Any, pc: PlasticityCache) -> list[np.ndarray]:
        """Point ``pl`` (an ``sf_plast``) at ``pc``'s index tables (incoming by post,
        reward-STDP), the only learning arrays a slot write re-derives; the arrays pointed
        at (to be kept alive)."""
        keep: list[np.ndarray] = []
        for name in ("in_ptr", "in_syn", "in_pre", "in_proj", "rs_ptr", "rs_syn", "rs_post", "rs_proj"):
            a = np.ascontiguousarray(getattr(pc, name), dtype=np.int64)
            keep.append(a)
            setattr(pl, name, ffi.cast("int64_t *", a.ctypes.data))
        pl.n_in = int(pc.in_syn.size)
        pl.n_rs = int(pc.rs_syn.size)
        pl.any_rstdp = int(pc.any_rstdp)
        return keep

    @staticmethod
    def _organs(groups: list[OrganGroup], keep: list[Any]) -> Any:
        if not groups:
            return ffi.NULL
        arr = ffi.new("sf_organ[]", len(groups))
        for i, g in enumerate(groups):
            o = arr[i]
            o.kind, o.channels, o.width, o.per_chan = g.kind, g.channels, g.width, g.per_chan
            o.pop_offset, o.brain0, o.brains = g.pop_offset, g.brain0, g.brains
            o.offset, o.out_offset = g.offset, g.out_offset
            o.low, o.high, o.gain, o.rate, o.sigma = g.low, g.high, g.gain, g.rate, g.sigma
        keep.append(arr)
        return arr

    def write_slots(self, slots: list[int]) -> bool:
        """Take over brains ``slots`` rewritten in place (spawn into a free slot, despawn).

        The kernels read the layout's arrays in place, so a slot write needs no copy, and the
        engine's segments depend only on neurons and parameter sets (a slot keeps both). With
        learning, a spawn splices the slots' segments into the learning index tables
        (:func:`~spikeforge.engine.plasticity.update_cache`, in place when the slots' segments
        keep their lengths, else re-pointing only those tables); the C
        engine then updates what depends on the slots' rows (``sf_engine_slots_written``:
        modulatory rows present, reward-STDP runs). A despawn changes no wiring: nothing to
        do. A full re-bind only when a spawn gives the world its first reward-STDP synapse or
        removes its last one.

        Parameters
        ----------
        slots : list of int
            The slots (brain indices) just written; a slot whose ``brain_serial`` is -1 was freed.

        Returns
        -------
        bool
            True (always taken over) while the engine is open.
        """
        if self._engine is None or self._net is None:
            return False
        L = self.layout
        spawned = sorted({int(i) for i in slots if L.brain_serial[int(i)] >= 0})
        if not spawned:
            return True
        old = self._pc
        if old is not None:
            any_rstdp = old.any_rstdp
            # in place: the engine's index tables are written where they are when the slots'
            # segments keep their lengths (update_cache then returns ``old`` itself)
            pc = update_cache(L, old, spawned, in_place=True)
            if pc.any_rstdp != any_rstdp:
                self._bind()  # the elig pointer and the reward-STDP runs appear or go
                return True
            if pc is not old:  # the old tables are released only after the pointers moved
                self._index_keep = self._point_index_tables(self._net.plast, pc)
                self._pc = pc
        arr = np.asarray(spawned, np.int64)
        if lib.sf_engine_slots_written(self._engine, self._net, ffi.cast("int64_t *", arr.ctypes.data),
                                       int(arr.size)) != 0:
            raise MemoryError(ffi.string(lib.sf_engine_error(self._engine)).decode())
        return True

    # ------------------------------------------------------------------ running
    def set_threads(self, threads: int, min_neurons_per_thread: int = DEFAULT_MIN_NEURONS_PER_THREAD) -> None:
        """Use at most ``threads`` threads (capped by the engine's size), one per
        ``min_neurons_per_thread`` active neurons (per as many neuron-steps of an advance when
        it runs brain-major, see the module docstring). Results do not depend on either."""
        if threads < 1 or min_neurons_per_thread < 1:
            raise ValueError("threads and min_neurons_per_thread: must be >= 1")
        if self._engine is None:
            raise RuntimeError("native backend: set_threads() after close()")
        lib.sf_engine_set_threads(self._engine, int(threads), int(min_neurons_per_thread))

    def set_isa(self, isa: str) -> str:
        """Run the vectorized loops built for at most instruction set ``isa``.

        Parameters
        ----------
        isa : str
            ``"baseline"``, ``"avx2"`` or ``"avx512f"``: the widest allowed; the CPU may
            support less. Results do not depend on it (same float32 operations, wider vectors).

        Returns
        -------
        str
            The instruction set now in use (:attr:`isa`).
        """
        if isa not in ISAS:
            raise ValueError(f"isa: expected one of {', '.join(ISAS)}, got {isa!r}")
        if self._engine is None:
            raise RuntimeError("native backend: set_isa() after close()")
        lib.sf_engine_set_isa(self._engine, isa.encode())  # a name in ISAS: cannot fail
        return self.isa

    def set_int32_tables(self, on: bool) -> None:
        """Build (``True``, the default) or leave out the engine's int32 copies of the synapse
        tables: ring offsets per synapse, the learning row table and the packed incoming pairs.
        Without them propagation and learning walk the layout's own int64 rows, ``post`` array and
        incoming tables, as they do in a world too large for int32 indices: the same float32
        operations in the same order, so the same bits (slower; for tests of those paths).

        Parameters
        ----------
        on : bool
            Whether to build the copies (where they fit in int32).
        """
        if self._engine is None:
            raise RuntimeError("native backend: set_int32_tables() after close()")
        lib.sf_engine_set_int32_tables(self._engine, int(bool(on)))
        if self._net is not None and lib.sf_engine_prepare(self._engine, self._net) != 0:
            raise MemoryError(ffi.string(lib.sf_engine_error(self._engine)).decode())

    @property
    def isa(self) -> str:
        """Instruction set of the vectorized loops in use (``""`` after close)."""
        return "" if self._engine is None else str(ffi.string(lib.sf_engine_isa(self._engine)).decode())

    @property
    def threads(self) -> int:
        """Most threads one advance may use (0 after close)."""
        return 0 if self._engine is None else int(lib.sf_engine_threads(self._engine))

    @property
    def last_threads(self) -> int:
        """Threads the last ``advance`` actually used (small worlds run on one)."""
        return 0 if self._engine is None else int(lib.sf_engine_last_threads(self._engine))

    def advance(self, n_steps: int, world_step: int, active: npt.NDArray[np.bool_] | None) -> SpikeRecord:
        if self._engine is None:
            raise RuntimeError("native backend: advance() after close()")
        if n_steps < 1:
            return SpikeRecord.empty()
        current = self._gather()
        if len(current) != len(self._arrays) or any(a is not b for a, b in zip(current, self._arrays, strict=True)):
            self._bind()  # an array of the layout was replaced: re-point and re-validate
        if active is None or bool(active.all()):
            act = ffi.NULL
        else:
            if active.shape != (self.layout.n_brains,):
                raise ValueError(f"active: expected {self.layout.n_brains} flags, got shape {active.shape}")
            self._active_buf[...] = active
            act = ffi.cast("uint8_t *", self._active_buf.ctypes.data)
        self._net.plast.learning = int(bool(self.layout.learning))
        rc = lib.sf_engine_advance(self._engine, self._net, int(n_steps), int(world_step), act)
        if rc != 0:
            msg = ffi.string(lib.sf_engine_error(self._engine)).decode("utf-8", "replace")
            raise MemoryError(f"native advance: {msg}") if "memory" in msg else RuntimeError(
                f"native advance: {msg}")
        count = int(lib.sf_engine_spike_count(self._engine))
        if count == 0:
            return SpikeRecord.empty()
        steps = np.frombuffer(ffi.buffer(lib.sf_engine_spike_steps(self._engine), 8 * count), np.int64).copy()
        neurons = np.frombuffer(ffi.buffer(lib.sf_engine_spike_neurons(self._engine), 4 * count),
                                np.int32).copy()
        return SpikeRecord(steps, neurons)

    def close(self) -> None:
        """Stop the worker threads and free the engine now (not at garbage collection)."""
        if self._engine is not None:
            ffi.release(self._engine)
            self._engine = None
        self._net = None
        self._keep = []


register_backend("native", NativeBackend, unavailable, auto_priority=0)
