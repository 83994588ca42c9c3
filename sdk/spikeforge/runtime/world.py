"""The World: all brains of a game, one flat layout, one backend, one fixed-timestep clock.

Per frame: the game writes sensor arrays, calls ``advance(frame_dt)`` (k fixed steps in
ONE backend call), reads actuator arrays, and receives batched spike events.

Example
-------
>>> from spikeforge import World, Circuit, LIF
>>> c = Circuit("blob").add_population("n", 10, LIF(bias=20.0))
>>> world = World(dt=0.001, backend="numpy", seed=1)
>>> brains = world.spawn(c, count=3)
>>> frame = world.advance(1 / 60)
>>> frame.steps
16
"""

from __future__ import annotations

import gc
import json
import logging
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from spikeforge.engine.backend import Backend, SpikeRecord, create_backend, resolve_backend
from spikeforge.engine.compiler import compile_prototype, instantiate, max_delay, proj_channels
from spikeforge.engine.layout import BrainBlock, Layout, PrototypeInfo
from spikeforge.engine.rng import brain_key
from spikeforge.engine.slots import (
    Slot,
    SlotMoves,
    SlotShape,
    block_rows,
    free_slot,
    instantiate_many,
    live_slots,
    relayout,
    shape_of,
    slot_counts,
    synapse_keys,
    transplant,
    write_slot,
)
from spikeforge.model.circuit import Circuit
from spikeforge.model.errors import MAX_REWARD
from spikeforge.model.genome import genome_to_circuit
from spikeforge.runtime.brain import Brain, PrototypeGroup
from spikeforge.runtime.bus import SpikeBus
from spikeforge.runtime.clock import FixedClock
from spikeforge.runtime.sharing import LearningGroup, make_group

_I64 = npt.NDArray[np.int64]

log = logging.getLogger("spikeforge.world")


@dataclass(frozen=True)
class FrameResult:
    """What one ``advance`` did.

    Attributes
    ----------
    steps : int
        Fixed steps run this frame.
    alpha : float
        Leftover fraction of a step (for interpolation).
    spikes : SpikeRecord
        All spikes of the frame (global neuron indices, step stamps).
    """

    steps: int
    alpha: float
    spikes: SpikeRecord


# largest brain (neurons) drawn ahead (see World.draw_ahead): drawing ahead serves NPC brains spawned
# one after another; a big brain's draw takes seconds and its memory on speculation, and ran beside
# every step meanwhile (a 1.2 M-neuron one doubled the GPU step on an H100: 0.14 against 0.073 ms)
DRAW_AHEAD_MAX_NEURONS = 65536
_SWITCH_WHILE_DRAWING = 2e-4  # s: how long the draw thread may keep the GIL from the game thread


_BREATHE_EVERY = 1e-3  # s: a long draw on a side thread pauses after this much work ...
_BREATHE_PAUSE = 1e-4  # s: ... for this long (see _Breather)


class _Breather:
    """Called between the brains of a long draw (:meth:`PreparedSpawn.draw`): on a thread other
    than the main thread, it sleeps ``_BREATHE_PAUSE`` after every ``_BREATHE_EVERY`` seconds
    of work, so that a thread waiting for the GIL gets it (issue 17).

    A short switch interval (:func:`polite`) is not enough. A thread that waits for the GIL asks
    the holder to drop it only after a whole interval in which the GIL did not change hands; a
    draw's numpy calls release and retake it every few microseconds, and each release wakes the
    waiter, which then finds the GIL retaken (the draw thread is already running, the waiter has
    to be scheduled first, from an idle core) and waits a new interval. So the waiter (a
    server's event loop, a game thread back from the kernel) starves until the draw ends:
    0.1-0.3 s stalls of another client's exchange during a 3,000-brain spawn on two idle cores.
    While it sleeps, the waiter takes the GIL. Costs about a tenth of the draw's time."""

    def __init__(self) -> None:
        self.on = _BREATHE_EVERY > 0 and threading.current_thread() is not threading.main_thread()
        self.last = time.perf_counter()

    def __call__(self) -> None:
        if self.on:
            t = time.perf_counter()
            if t - self.last >= _BREATHE_EVERY:
                time.sleep(_BREATHE_PAUSE)
                self.last = time.perf_counter()


_polite_lock = threading.Lock()
_polite_count = 0
_polite_before = 0.005


@contextmanager
def polite() -> Iterator[None]:
    """A short GIL switch interval while a draw runs on a side thread, so that the thread
    stepping the world, waiting for the GIL when the kernel call returns, gets it back within
    ~0.2 ms instead of Python's default 5 ms (a frame hitch). Nested and concurrent draws
    share one setting; the interval before the first is restored after the last."""
    global _polite_count, _polite_before
    with _polite_lock:
        if _polite_count == 0:
            _polite_before = sys.getswitchinterval()
            sys.setswitchinterval(min(_polite_before, _SWITCH_WHILE_DRAWING))
        _polite_count += 1
    try:
        yield
    finally:
        with _polite_lock:
            _polite_count -= 1
            if _polite_count == 0:
                sys.setswitchinterval(_polite_before)


_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = True


@contextmanager
def gc_paused() -> Iterator[None]:
    """No automatic garbage collection while a large spawn is drawn and committed (issue 17).

    Drawing thousands of brains allocates tens of thousands of container objects; the cyclic
    collector then runs full (generation 2) collections over every tracked object of the
    process, holding the GIL for 10-100 ms each, and the thread stepping the world (another
    client's exchange, the game thread) waits that long for the GIL when its kernel call
    returns. A draw makes no reference cycles (its garbage is freed by reference counting),
    so pausing the collector costs nothing; when the last of nested or concurrent pauses
    ends, the collector is enabled again if it was enabled before the first, and the objects
    that survived (the new brains' handles) are collected young, as usual.
    """
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def _draw_politely(proto: PrototypeInfo, serial: int, key: int, seed: int, depth: int) -> BrainBlock:
    """``instantiate`` on the draw-ahead thread, politely (see :func:`polite`)."""
    with polite():
        return instantiate(proto, serial, key, seed, depth)


class PreparedSpawn:
    """A spawn reserved by :meth:`World.prepare_spawn`: its ids are fixed, its brains not drawn yet.

    Attributes
    ----------
    serials : list of int
        The ids the new brains get.
    blocks : list of BrainBlock or None
        The drawn brains (None until :meth:`draw` ran).
    relayout : bool
        True when the spawn re-lays the world out (a circuit new to the world, a full
        prototype, electrical synapses, a compact world): :meth:`draw` then also builds the new
        layout, so that :meth:`World.commit_spawn` only copies the live state over and swaps.
    """

    def __init__(self, proto: PrototypeInfo, serials: list[int], keys: list[int] | None, seed: int,
                 depth: int) -> None:
        self.proto = proto
        self.serials = serials
        self._keys = keys  # None: derived when first needed (in draw, off the caller's lock)
        self.seed = seed
        self.depth = depth
        self.blocks: list[BrainBlock] | None = None
        self.committed = False
        self.relayout = False
        self._plan: _RelayoutPlan | None = None
        # a spawn into free slots committed in pieces (World.commit_spawn_piece): each block's
        # rows (derived off-lock in draw), the slots reserved at the first piece, brains written
        self.rows: list[tuple[_I64, _I64, _I64, _I64]] | None = None
        self.slots: list[int] | None = None
        self.written = 0
        self.largest = (0, 0)
        self.handles: list[Brain] | None = None  # set by the last piece

    @property
    def keys(self) -> list[int]:
        """The brains' random keys (``brain_key(seed, serial)`` of each id)."""
        if self._keys is None:
            self._keys = [brain_key(self.seed, x) for x in self.serials]
        return self._keys

    def draw(self) -> None:
        """Draw the brains (wiring, weights, initial state): a pure function of (seed, id), safe
        on any thread while the world steps; for a re-layout, build the new layout too (it reads
        the world's arrays, changes nothing). Keeps the GIL switch interval short meanwhile so
        that the thread stepping the world is not held up (as the draw ahead does), pauses
        briefly every millisecond on a side thread (see ``_Breather``), and keeps the garbage
        collector paused (:func:`gc_paused`)."""
        with polite(), gc_paused():
            pause = _Breather()  # on a side thread: lets a thread waiting for the GIL have it
            self.blocks = instantiate_many(self.proto, self.serials, self.keys, self.seed, self.depth, pause)
            if self._plan is not None:
                self._plan.build(self.blocks)
            else:  # a pure function of each block: one less O(brains) pass under the lock
                rows = []
                for b in self.blocks:
                    rows.append(block_rows(b))
                    pause()
                self.rows = rows
                # the largest brain (rows, synapses): it fits a slot shape iff every brain does
                self.largest = (max(int(r[2].size) for r in self.rows),
                                max(int(b.syn_pre.size) for b in self.blocks))

    def release(self, batch: int = 64) -> None:
        """Drop the drawn brains and their rows, ``batch`` brains at a time, once the spawn is
        committed (or given up). Freeing them at once is one deallocation cascade that keeps
        the GIL (~20 ms for 3,000 probe brains: a stall of every other thread, e.g. a server's
        event loop); between batches a thread waiting for the GIL gets it (see :func:`polite`).
        The handles stay."""
        blocks, self.blocks = self.blocks, None
        rows, self.rows = self.rows, None
        with polite():
            for xs in (blocks, rows):
                while xs:
                    del xs[-batch:]


_HOST_STATE_BACKENDS = ("numpy", "native")
"""Backends whose state is the layout's host arrays (a device backend's is on the device)."""

_MAX_RETIRED = 4
"""Most replaced backends a world keeps for ``close_retired`` (see ``World.defer_backend_close``)."""


class _RelayoutPlan:
    """The off-lock half of a re-layout spawn: the old layout's slots as they were at
    :meth:`World.prepare_spawn`, and (after :meth:`build`) the new layout with the moves of the
    old brains; :meth:`World.commit_spawn` re-copies their state (``transplant``) and swaps."""

    def __init__(self, world: World, gkey: str, is_new: bool, touched_only: bool = False) -> None:
        self.world = world
        # touched_only on a CPU backend (host arrays are the live state): the build's copy of the
        # state stands for every brain not stepped or written since now; the swap copies the rest
        # (never once a state view was handed out: writes through it are not seen)
        self.touched = (world._track_touched() if touched_only and world.backend_name in _HOST_STATE_BACKENDS
                        and not world._state_views_out else None)
        self.gkey = gkey
        self.is_new = is_new
        self.structure = world._structure
        self.old = world.layout
        self.old_pad = world._pad
        # which slot holds which brain (the wiring is read off-lock, the state copied at the commit)
        self.slot_proto = world.layout.brain_proto.copy()
        self.slot_live = world.layout.brain_serial >= 0
        self.prototypes = list(world._prototypes)
        self.shapes = dict(world._shapes)
        self.layout: Layout | None = None
        self.new_shapes: dict[int, SlotShape] = {}
        self.pad = 0
        self.moves: SlotMoves | None = None
        self.index: dict[int, int] = {}
        # the backend for the new layout, made off-lock when it is a CPU one (see _prebuild)
        self.backend_request = world.backend_request
        self.backend_name = world.backend_name
        self.backend: Backend | None = None
        self.mod_rows = False

    def build(self, blocks: list[BrainBlock]) -> None:
        w = self.world
        per: dict[int, list[Slot]] = {}
        rows = np.arange(self.slot_proto.size)
        for p in np.unique(self.slot_proto).tolist():
            sel = self.slot_proto == p
            per[int(p)] = [None if r < 0 else r for r in np.where(self.slot_live[sel], rows[sel], -1).tolist()]
        w._fill(per, blocks[0].proto if blocks else 0, blocks)
        depth = max([1, *(max_delay(p) for p in self.prototypes)])
        layout, self.new_shapes, self.pad = w._layout_for(per, self.prototypes, self.shapes, self.old, self.old_pad,
                                                          depth)
        order = [src for p in self.prototypes for src in per.get(p.index, [])]
        sel = np.array([i for i, src in enumerate(order) if isinstance(src, int)], np.int64)
        o = np.array([src for src in order if isinstance(src, int)], np.int64)
        self.moves = SlotMoves.of(self.old, self.old_pad, layout, o, sel)
        self.moves.plan("n")  # worked out here, off the lock
        self.moves.plan("y")
        self.index = {int(x): i for i, x in enumerate(layout.brain_serial.tolist()) if x >= 0}
        self.layout = layout
        self._prebuild(layout)

    def _prebuild(self, layout: Layout) -> None:
        """Make the CPU backend (numpy, native) of the new layout here, off the lock: what it
        derives (native: ``sf_net_validate``, ``sf_engine_prepare``'s segments, the learning
        cache; numpy: the per-neuron cache) is a function of the wiring, the parameter sets
        and the slots' owners, which ``commit_spawn`` checks did not change (``_structure``);
        the state arrays it points at are written in place by ``transplant``. The one derived
        value that reads state, native's "modulatory input present" flag (it scans the delay
        ring's modulatory channel when no row is modulatory), is re-checked at the swap. A GPU
        backend is still made at the swap (it uploads the state)."""
        try:
            name = self.world._backend_choice(layout, self.backend_request, self.backend_name)
            if name in ("numpy", "native"):
                self.mod_rows = bool(np.any(layout.row_chan == 2))
                self.backend = create_backend(name, layout)
        except Exception:  # made (and the error raised) at the swap instead, as before
            log.debug("re-layout backend not made off-lock", exc_info=True)
            self.backend = None

    def take_backend(self, world: World, layout: Layout) -> Backend | None:
        """The backend made off-lock, if it still fits the world at the swap (same backend
        asked for and running, no modulatory input the native engine's flag missed); else
        None (and the off-lock one is closed)."""
        b, self.backend = self.backend, None
        if b is None:
            return None
        if (world.backend_request != self.backend_request or world.backend_name != self.backend_name
                or (not self.mod_rows and bool(np.any(layout.ring[:, 2, :])))):
            b.close()
            return None
        return b

    def drop_backend(self) -> None:
        """Close the backend made off-lock (the commit re-lays out under the lock instead)."""
        if self.backend is not None:
            self.backend.close()
            self.backend = None


class World:
    """A simulation of many brains.

    Parameters
    ----------
    dt : float
        Fixed step (s). Default 1 ms.
    backend : str
        ``"auto"``, ``"numpy"``, ``"native"`` or ``"gpu"``.
    seed : int
        World seed; brain ``i`` (in spawn order) gets RNG key ``brain_key(seed, i)``.
    max_substeps : int
        Most steps one ``advance`` runs (the rest of a long frame is dropped, counted in
        ``stats()["dropped_steps"]`` and warned about once per burst of dropping frames);
        settable later as :attr:`max_substeps`.
    compact : bool
        Keep no free slots: every spawn and despawn rebuilds the layout so that layout row
        ``i`` is the ``i``-th live brain (the layout before slots existed; slow churn). For
        code that mirrors a layout row for row (e.g. cluster shards).

    Attributes
    ----------
    bus : SpikeBus
        The spike event bus: ``world.bus.subscribe(callback, brains=None, population=None)`` calls
        ``callback(SpikeEvent)`` once per :meth:`advance` with that frame's matching spikes (arrays
        of step, brain id, neuron). Use it for rasters, debug views and effects on spikes.
    layout : Layout
        Every brain's state as flat arrays (replaced when the layout grows; do not hold on to it).
    backend_name : str
        The backend actually running (``"numpy"``, ``"native"`` or ``"gpu"``); with ``"auto"``,
        ``backend_reasons`` says why the others were passed over.
    step_count, frame_count : int
        Fixed steps and :meth:`advance` calls run so far.
    clock : FixedClock
        The fixed-timestep accumulator: ``clock.alpha`` is the leftover fraction of a step.
    draw_ahead : bool
        Default True. After a spawn, the next brain of the same circuit (the next serial)
        is drawn (connectivity, initial state) on a worker thread during the next kernel
        step (which releases the GIL), so the next single spawn of that circuit only
        writes its slot. The draw is a pure function of (seed, serial): results are bit for
        bit those of a synchronous draw; a spawn of another circuit, or of several brains,
        draws synchronously. Circuits of more than ``DRAW_AHEAD_MAX_NEURONS`` (65,536)
        neurons are never drawn ahead.

    Examples
    --------
    A game's frame loop::

        world = World(dt=0.001, seed=1)
        world.spawn(guard, 10)
        eyes = world.group(guard).sensor("eyes")    # (10 x channels) array: write it each frame
        turn = world.group(guard).actuator("turn")  # (10 x width) array: read it each frame
        while running:
            eyes[:] = observations()
            world.advance(frame_dt)                 # seconds since the last frame
            steer(np.tanh((turn[:, 1] - turn[:, 0]) / 40.0))  # Hz -> [-1, 1]
    """

    def __init__(self, dt: float = 0.001, backend: str = "auto", seed: int = 0, max_substeps: int = 64,
                 compact: bool = False) -> None:
        self.clock = FixedClock(dt, max_substeps)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed: must be an integer >= 0, got {seed!r}")
        self.dt = float(dt)
        self.seed = seed
        self.backend_request = backend
        self.backend_name, reasons = resolve_backend(backend)
        self.backend_reasons = reasons
        self.bus = SpikeBus()
        self.step_count = 0
        self.frame_count = 0
        self.total_spikes = 0
        self.sensor_nan_frames = 0
        self._next_serial = 0
        self._prototypes: list[PrototypeInfo] = []
        self._proto_by_genome: dict[str, int] = {}
        self._brains: dict[int, Brain] = {}
        self._index: dict[int, int] = {}
        self._in_advance = False
        self._dropping = False  # inside a burst of frames that drop steps (warned once)
        self.drop_bursts = 0
        self.layout_generation = 0  # bumped whenever the layout's arrays are replaced
        self._structure = 0  # bumped whenever a slot's wiring or owner changes (see prepare_spawn)
        # per slot: state changed since a re-layout spawn began (prepare_spawn(touched_only=True));
        # None while no such spawn is pending
        self._touched: npt.NDArray[np.bool_] | None = None
        self._state_views_out = False  # a per-neuron state view was handed out (Brain["pop"].v ...)
        self.relayout_copied_last = (0, 0)  # (brains whose state the last swap copied, brains kept)
        self.rebuilds = 0           # layout rebuilds (growth, new prototype); spawns into free slots are not
        self.backend_rebuilds = 0   # backends re-made after in-place slot writes they could not take
        self.relayout_backends_prebuilt = 0  # re-layout spawns whose CPU backend was made off-lock
        # a re-layout spawn's swap leaves the old CPU backend to close_retired() (a server calls it
        # after releasing its lock: closing a native engine joins its threads and frees its memory,
        # up to ~1 ms beside 10,000 brains) instead of closing it itself
        self.defer_backend_close = False
        self._retired: list[Backend] = []
        self._shapes: dict[int, SlotShape] = {}
        self._pad = 0
        self.compact = bool(compact)
        self.draw_ahead = True
        self._ahead: tuple[int, int, int, Future[BrainBlock]] | None = None  # (proto, serial, depth, draw)
        self._drawer: ThreadPoolExecutor | None = None
        self._ahead_next: PrototypeInfo | None = None  # queued for the next kernel call
        self.spawns_drawn_ahead = 0  # spawns that took a brain drawn ahead (see draw_ahead)
        self._partial: PreparedSpawn | None = None  # a spawn being committed in pieces
        self._learning_groups: list[LearningGroup] = []  # share_learning: combined after every step call
        self._group_of: dict[int, LearningGroup] = {}  # brain id -> its learning group
        self.bus.known_populations = self._known_populations
        self.layout: Layout = self._assemble([])
        self.backend: Backend = create_backend(self.backend_name, self.layout)

    # ------------------------------------------------------------------ properties
    @property
    def max_substeps(self) -> int:
        """Most fixed steps one :meth:`advance` runs; a longer frame's rest is dropped."""
        return self.clock.max_substeps

    @max_substeps.setter
    def max_substeps(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"max_substeps: must be an integer >= 1, got {n!r}")
        self.clock.max_substeps = n

    def _known_populations(self) -> dict[str, list[str]] | None:
        """Population names per prototype name (None before the first spawn)."""
        if not self._prototypes:
            return None
        return {p.circuit.name: list(p.pop_names) for p in self._prototypes}

    @property
    def time(self) -> float:
        """World time (s): steps run times dt."""
        return self.step_count * self.dt

    @property
    def brains(self) -> list[Brain]:
        """Live brains in layout (slot) order: prototypes contiguous, slots in order within."""
        return [self._brains[int(s)] for s in self.layout.brain_serial if s >= 0]

    def brain(self, brain_id: int) -> Brain:
        """The live brain with id ``brain_id``; :class:`LookupError` when it was despawned or never existed."""
        try:
            return self._brains[brain_id]
        except KeyError:
            raise LookupError(f"brain: no live brain with id {brain_id}") from None

    def group(self, prototype: Circuit | str) -> PrototypeGroup:
        """The (brains x channels) organ arrays of one prototype.

        A :class:`Circuit` selects the prototype compiled from exactly that circuit; a name
        selects the prototype of that name and is an error when several circuits share it.
        """
        if isinstance(prototype, Circuit):
            key = json.dumps(prototype.to_dict(), sort_keys=True)
            if key not in self._proto_by_genome:
                raise KeyError(f"prototype: circuit {prototype.name!r} was not spawned in this world")
            return PrototypeGroup(self, self._proto_by_genome[key])
        matches = [p.index for p in self._prototypes if p.circuit.name == prototype]
        if not matches:
            raise KeyError(f"prototype: no circuit named {prototype!r} was spawned in this world")
        if len(matches) > 1:
            raise KeyError(f"prototype: {len(matches)} different circuits are named {prototype!r}; "
                           "pass the Circuit object to choose one")
        return PrototypeGroup(self, matches[0])

    @property
    def prototypes(self) -> list[PrototypeInfo]:
        """The compiled circuits of this world (one per distinct circuit spawned), in spawn order."""
        return list(self._prototypes)

    # ------------------------------------------------------------------ spawning
    def _prototype_for(self, circuit: Circuit, key: str | None = None) -> PrototypeInfo:
        key = json.dumps(circuit.to_dict(), sort_keys=True) if key is None else key
        if key in self._proto_by_genome:
            return self._prototypes[self._proto_by_genome[key]]
        pid_base = sum(len(p.pop_names) for p in self._prototypes)
        proj_base = sum(len(p.circuit.projections) for p in self._prototypes)
        proto = compile_prototype(circuit, len(self._prototypes), self.dt * 1000.0, pid_base, proj_base)
        self._prototypes.append(proto)
        self._proto_by_genome[key] = proto.index
        return proto

    def _depth(self) -> int:
        """Delay-ring depth: the longest delay of any prototype (prototypes are never removed,
        so the depth never shrinks and pending spikes always keep their slot)."""
        return max([1, *(max_delay(p) for p in self._prototypes)])

    def _pad_projection(self) -> int:
        """The world's pad projection id (see engine/slots.py): one past every prototype's."""
        return sum(len(p.circuit.projections) for p in self._prototypes)

    def _assemble(self, blocks: list[BrainBlock]) -> Layout:
        """A slot layout holding exactly ``blocks`` (used at construction)."""
        per: dict[int, list[Slot]] = {}
        for blk in blocks:
            per.setdefault(blk.proto, []).append(blk)
        return self._build(per)

    def _build(self, per: dict[int, list[Slot]]) -> Layout:
        """A new slot layout of ``per`` (see :func:`~spikeforge.engine.slots.relayout`: ints are
        slots of the current layout, whose brains keep their state bit for bit)."""
        old = self.layout if hasattr(self, "layout") else None
        layout, self._shapes, self._pad = self._layout_for(per, self._prototypes, self._shapes, old, self._pad,
                                                           self._depth())
        self._index = {int(x): i for i, x in enumerate(layout.brain_serial) if x >= 0}
        return layout

    def _layout_for(self, per: dict[int, list[Slot]], prototypes: list[PrototypeInfo], shapes: dict[int, SlotShape],
                    old: Layout | None, old_pad: int, depth: int) -> tuple[Layout, dict[int, SlotShape], int]:
        """The layout of ``per`` over ``prototypes`` (reads ``old``, changes nothing of the world):
        (layout, slot shapes, pad projection id)."""
        pad = sum(len(p.circuit.projections) for p in prototypes)
        shapes = dict(shapes)
        counts = None
        for p in prototypes:
            entries = per.get(p.index, [])
            olds = [x for x in entries if isinstance(x, int)]
            news = [b for b in entries if isinstance(b, BrainBlock)]
            rows = [int(block_rows(b)[1].size - 1) for b in news]
            syn = [int(b.syn_pre.size) for b in news]
            if olds:
                assert old is not None
                if counts is None:
                    counts = slot_counts(old, old_pad)
                idx = np.asarray(olds, np.int64)
                rows.append(int(counts[0][idx].max()))
                syn.append(int(counts[1][idx].max()))
            shapes[p.index] = shape_of(p, max(rows or [0]), max(syn or [0]), shapes.get(p.index))
        chans = np.array([c for p in prototypes for c in proj_channels(p)] + [0], dtype=np.int32)
        keys = synapse_keys(old.synapse if old is not None else None,
                            [b for lst in per.values() for b in lst if isinstance(b, BrainBlock)])
        layout = relayout(old, old_pad, self.dt * 1000.0, depth, list(prototypes), shapes, per, pad, chans, keys)
        return layout, shapes, pad

    def _slots(self, pull: bool = True) -> dict[int, list[Slot]]:
        """Every slot of the current layout, per prototype: its index when it holds a brain,
        None when it is free (host arrays made current first, for :meth:`_build`, unless ``pull``
        is False)."""
        L = self.layout
        if pull:
            self.backend.pull_state()
        per: dict[int, list[Slot]] = {}
        for i, (p, x) in enumerate(zip(L.brain_proto.tolist(), L.brain_serial.tolist(), strict=True)):
            per.setdefault(p, []).append(i if x >= 0 else None)
        return per

    def live_layout(self) -> Layout:
        """The current layout, or (when it has free slots) a copy without them: the live
        brains only, same state bit for bit (for consumers that step every brain)."""
        L = self.layout
        if bool(np.all(L.brain_serial >= 0)):
            return L
        per: dict[int, list[Slot]] = {
            p: [b for b in lst if b is not None] for p, lst in self._slots().items()}
        shapes = dict(self._shapes)
        keys = synapse_keys(L.synapse, [])
        chans = L.proj_chan
        out = relayout(L, self._pad, L.dt_ms, L.depth, list(self._prototypes), shapes, per, self._pad, chans, keys)
        out.learning = L.learning
        return out

    def _rebuild(self, per: dict[int, list[Slot]]) -> None:
        """Replace the layout (growth, a new prototype, electrical synapses): every brain keeps
        its slot and its state bit for bit; a new backend is made for the new arrays."""
        self.layout_generation += 1
        self._restructured()
        learning = self.layout.learning
        layout = self._build(per)
        layout.learning = learning
        self.backend.close()
        self.layout = layout
        self.backend = self._new_backend(layout)
        self.rebuilds += 1

    def _new_backend(self, layout: Layout) -> Backend:
        """A backend for ``layout``; ``"auto"`` decides again for the live size (GPU cost model:
        free slots are never stepped, so they do not count)."""
        backend = create_backend(self._backend_choice(layout, self.backend_request, self.backend_name), layout)
        self.backend_name = backend.name
        return backend

    @staticmethod
    def _backend_choice(layout: Layout, request: str, name: str) -> str:
        """The backend to make for ``layout`` (reads only the layout's wiring and slot owners):
        ``name`` (the one running), or with ``request`` ``"auto"`` the choice for the live size
        (GPU cost model: free slots are never stepped, so they do not count)."""
        if request != "auto":
            return name
        live = live_slots(layout)
        r0, r1 = layout.row_ptr[layout.brain_start[live]], layout.row_ptr[layout.brain_start[live + 1]]
        size = (int((layout.brain_start[live + 1] - layout.brain_start[live]).sum()),
                int((layout.row_syn[r1 - 1] - layout.row_syn[r0]).sum()) if live.size else 0)
        name, reasons = resolve_backend("auto", size=size, layout=layout)
        for r in reasons:
            log.info("backend auto-selection passed over %s", r)
        return name

    def _slots_written(self, slots: list[int]) -> None:
        """Tell the backend that these slots were rewritten in place (or rebuild it)."""
        take = getattr(self.backend, "write_slots", None)
        if take is not None and take(slots):
            if self.backend.replacement is not None:  # the device failed during the upload
                log.warning("backend %r failed and handed the world to %r", self.backend_name,
                            self.backend.replacement.name)
                self.backend = self.backend.replacement
                self.backend_name = self.backend_request = self.backend.name
            return
        self.backend.close()
        self.backend = self._new_backend(self.layout)
        self.backend_rebuilds += 1

    def _restructured(self) -> None:
        """A slot's wiring or owner changed: pending re-layout spawns will re-lay out under the
        lock (``commit_spawn`` sees ``_structure`` moved), so nothing needs tracking any more."""
        self._structure += 1
        self._touched = None

    def _track_touched(self) -> npt.NDArray[np.bool_]:
        """Start (or join) tracking which slots' state changes (see ``prepare_spawn``)."""
        if self._touched is None or self._touched.size != self.layout.n_brains:
            self._touched = np.zeros(self.layout.n_brains, bool)
        return self._touched

    def _state_written(self, rows: npt.NDArray[np.int64] | None) -> None:
        """The state arrays (neuron variables, delay rings, synapse arrays) of slots ``rows``
        (None: any) were written outside a step; for a pending re-layout spawn's copy."""
        if self._touched is not None:
            if rows is None:
                self._touched[:] = True
            else:
                self._touched[rows] = True

    def _circuit_named(self, name: object) -> Circuit:
        """The circuit a ``spawn`` argument names: a Circuit, or the name of one spawned before."""
        if isinstance(name, Circuit):
            return name
        known = sorted({p.circuit.name for p in self._prototypes})
        if not isinstance(name, str):
            raise TypeError(f"circuit: expected a Circuit or the name of a circuit spawned in this world, "
                            f"got {type(name).__name__}; known circuits: {known}")
        matches = [p for p in self._prototypes if p.circuit.name == name]
        if not matches:
            raise KeyError(f"circuit: no circuit named {name!r} was spawned in this world; known circuits: {known} "
                           "(pass a Circuit object to spawn a new one)")
        if len(matches) > 1:
            raise KeyError(f"circuit: {len(matches)} different circuits are named {name!r}; "
                           "pass the Circuit object to choose one")
        return genome_to_circuit(matches[0].genome)

    def spawn(self, circuit: Circuit | str, count: int = 1) -> list[Brain]:
        """Spawn ``count`` brains of ``circuit`` (a Circuit, or the name of a circuit already
        spawned here); other brains' state is untouched and held handles stay valid.

        A brain goes into a free slot of its prototype, written in place; only a new
        prototype, a full prototype (capacity doubles) or a brain that does not fit its
        prototype's slot shape rebuilds the layout (see ``docs/semantics.md``)."""
        self._check_not_in_advance("spawn")
        self._check_no_partial("spawn")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"count: must be an integer >= 0, got {count!r}")
        circ = self._circuit_named(circuit)
        gkey = json.dumps(circ.to_dict(), sort_keys=True)
        is_new = gkey not in self._proto_by_genome
        old = self._slots() if is_new else None  # before the pad projection id moves
        proto = self._prototype_for(circ, gkey)
        serials = list(range(self._next_serial, self._next_serial + count))
        depth = self._depth()
        blocks = self._take_ahead(proto, serials, depth)
        if blocks is None:
            blocks = instantiate_many(proto, serials, [brain_key(self.seed, x) for x in serials], self.seed, depth)
        self._next_serial += count
        handles = [Brain(self, x, proto.circuit.name) for x in serials]
        self._place(proto, blocks, old)
        for h in handles:
            self._brains[h.id] = h
        if count:
            self._start_ahead(proto)
        return handles

    def prepare_spawn(self, circuit: Circuit | str, count: int, touched_only: bool = False) -> PreparedSpawn | None:
        """Reserve the ids of a spawn whose drawing may run on another thread (a server's worker).

        ``prepare_spawn`` + :meth:`PreparedSpawn.draw` + :meth:`commit_spawn` give bit for bit
        what :meth:`spawn` gives; the draw (wiring and initial state of every new brain, the
        slow part of a large spawn) touches nothing of the world, so the world may step
        meanwhile. A spawn that re-lays the world out (a circuit new to the world, a full
        prototype) also builds the new layout in the draw; ``commit_spawn`` then only copies
        the live state of the brains (neuron state, delay rings, synapse arrays, per-brain
        values, organ arrays) into it and swaps, unless the world's slots changed meanwhile (a
        spawn into free slots, a despawn, a load), when it re-lays out itself. Call
        ``prepare_spawn`` and ``commit_spawn`` where you would call :meth:`spawn` (the thread
        that owns the world, or under the lock that guards it); between them, change the
        world only through :meth:`step`/:meth:`advance` and the World's and Brain's methods
        (values written into held arrays meanwhile are copied too, unless ``touched_only``).

        Parameters
        ----------
        circuit : Circuit or str
            As for :meth:`spawn`.
        count : int
            Brains to spawn, >= 0.
        touched_only : bool
            For a re-layout on a CPU backend: ``commit_spawn`` copies the neuron variables,
            delay rings and synapse arrays only of the brains stepped (or written through the
            World's and Brain's methods) since this call; the state of every other brain is the
            one the draw copied. Ignored (everything is copied) once this world has handed out a
            per-neuron state view (``brain["pop"].v`` ...), since writes through a held view are
            not seen; organ arrays and per-brain values are always copied whole. A server sets
            it: its clients hold no views. Default False: everything is copied.

        Returns
        -------
        PreparedSpawn or None
            None when this spawn gains nothing from a separate draw (no brains, or one brain
            into a free slot, drawn ahead already): call :meth:`spawn` then.

        Raises
        ------
        ValueError, TypeError, KeyError
            As :meth:`spawn`.
        """
        self._check_not_in_advance("spawn")
        self._check_no_partial("prepare_spawn")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"count: must be an integer >= 0, got {count!r}")
        circ = self._circuit_named(circuit)
        gkey = json.dumps(circ.to_dict(), sort_keys=True)
        if count < 1:
            return None
        is_new = gkey not in self._proto_by_genome
        if is_new:  # compiled now, registered at the commit
            proto = compile_prototype(circ, len(self._prototypes), self.dt * 1000.0,
                                      sum(len(p.pop_names) for p in self._prototypes), self._pad_projection())
            depth = max(self._depth(), max_delay(proto))
            relaid = True
        else:
            proto = self._prototypes[self._proto_by_genome[gkey]]
            depth = self._depth()
            L = self.layout
            free = int(np.count_nonzero((L.brain_proto == proto.index) & (L.brain_serial < 0)))
            relaid = self.compact or proto.index in self._gap_protos() or free < count
            if count < 2 and not relaid:
                return None
        serials = list(range(self._next_serial, self._next_serial + count))
        self._take_ahead(proto, serials, depth)  # drops a draw ahead (it is for a single spawn)
        self._next_serial += count
        prep = PreparedSpawn(proto, serials, None, self.seed, depth)
        if relaid:
            prep.relayout = True
            prep._plan = _RelayoutPlan(self, gkey, is_new, touched_only)
            if is_new:
                prep._plan.prototypes.append(proto)
        return prep

    def commit_spawn(self, prepared: PreparedSpawn) -> list[Brain]:
        """Place the brains of :meth:`prepare_spawn` (drawing them now if :meth:`PreparedSpawn.draw`
        did not run, or ran for a world that changed since); returns their handles."""
        self._check_not_in_advance("spawn")
        self._check_no_partial("commit_spawn")
        if prepared.committed:
            raise RuntimeError("commit_spawn: this spawn was committed already")
        proto = prepared.proto
        plan = prepared._plan
        if (plan is None or not plan.is_new) and (proto.index >= len(self._prototypes)
                                                 or self._prototypes[proto.index] is not proto):
            raise RuntimeError("commit_spawn: the world was replaced (load) since prepare_spawn")
        if plan is not None and (plan.old is not self.layout or plan.structure != self._structure):
            return self._commit_again(prepared, plan)
        if plan is not None and plan.is_new:
            self._prototypes.append(proto)
            self._proto_by_genome[plan.gkey] = proto.index
        depth = self._depth()
        blocks = prepared.blocks
        if blocks is None or prepared.depth != depth:
            prepared.depth = depth
            blocks = instantiate_many(proto, prepared.serials, prepared.keys, self.seed, depth)
            if plan is not None:
                plan.layout = None
                plan.drop_backend()
        prepared.committed = True
        handles = [Brain(self, x, proto.circuit.name) for x in prepared.serials]
        if plan is not None and plan.layout is not None and plan.moves is not None:
            self._swap(plan)
        elif plan is not None:  # not drawn off-lock: as spawn does
            per = self._slots()
            self._fill(per, proto.index, blocks)
            self._rebuild(per)
        else:
            self._place(proto, blocks, None)
        for h in handles:
            self._brains[h.id] = h
        self._start_ahead(proto)
        return handles

    def commit_spawn_piece(self, prepared: PreparedSpawn, max_brains: int | None = None,
                           max_seconds: float | None = None) -> list[Brain] | None:
        """Commit a spawn of :meth:`prepare_spawn` in pieces, so that a caller holding a lock
        around each call can let other work run between them (``spikeforge serve``).

        A spawn of drawn brains into free slots of their prototype (no re-layout) writes at
        most ``max_brains`` brains per call, and stops after the brain that took it past
        ``max_seconds`` (at least one brain per call); the slots are reserved at the first
        call (the ones :meth:`spawn` would take). Any other spawn (a re-layout, brains not
        drawn yet) is committed whole by the first call, as :meth:`commit_spawn`. The result
        is bit for bit :meth:`commit_spawn`'s, wherever the pieces end.

        Between the calls the brains written so far are live slots of the layout (listed by
        :meth:`brain_ids`, stepped by :meth:`step` without ``only``: a caller that must not
        step them passes ``only``) but have no handles yet; the world refuses any other spawn,
        a despawn of them and :meth:`save` until the last piece is written or
        :meth:`abort_spawn` took them out. Despawns of other brains are allowed (a piece
        whose reserved slots were changed meanwhile places the rest as :meth:`spawn` would).

        Parameters
        ----------
        prepared : PreparedSpawn
            From :meth:`prepare_spawn`, drawn (:meth:`PreparedSpawn.draw`) for pieces.
        max_brains : int or None
            Most brains written per call (None: no count limit), >= 1.
        max_seconds : float or None
            Time budget per call in seconds (None: none); the piece ends after the brain
            that exceeded it.

        Returns
        -------
        list of Brain or None
            The handles of every spawned brain after the last piece; None while brains remain
            (call again).
        """
        if max_brains is not None and (isinstance(max_brains, bool) or not isinstance(max_brains, int)
                                       or max_brains < 1):
            raise ValueError(f"max_brains: must be an integer >= 1 or None, got {max_brains!r}")
        if max_seconds is not None and not max_seconds >= 0:
            raise ValueError(f"max_seconds: must be >= 0 or None, got {max_seconds!r}")
        if self._partial is None:
            if not self._piecewise(prepared):
                self._check_no_partial("commit_spawn")
                return self.commit_spawn(prepared)
            L = self.layout
            free = np.flatnonzero((L.brain_proto == prepared.proto.index) & (L.brain_serial < 0))
            prepared.slots = [int(i) for i in free[:len(prepared.serials)]]
            prepared.committed = True
            self._partial = prepared
        elif self._partial is not prepared:
            raise RuntimeError("commit_spawn_piece: another spawn is being committed in pieces; finish it first")
        self._check_not_in_advance("spawn")
        assert prepared.blocks is not None and prepared.rows is not None and prepared.slots is not None
        proto, k0 = prepared.proto, prepared.written
        blocks, slots = prepared.blocks, prepared.slots
        L = self.layout
        rest = np.asarray(slots[k0:], dtype=np.intp)
        if (self._prototypes[proto.index] is not proto or bool((L.brain_serial[rest] >= 0).any())
                or bool((L.brain_proto[rest] != proto.index).any())):
            # the reserved slots changed (a re-laying despawn, say): the rest goes in as spawn puts it
            self._place(proto, blocks[k0:], None)
            prepared.written = len(blocks)
        else:
            t0 = time.perf_counter()
            stop = len(blocks) if max_brains is None else min(len(blocks), k0 + max_brains)
            self.backend.begin_slot_write()
            self._restructured()
            k = k0
            while k < stop:
                i, blk = slots[k], blocks[k]
                write_slot(L, i, blk, self._pad, prepared.rows[k])
                self._index[blk.serial] = i
                k += 1
                if max_seconds is not None and time.perf_counter() - t0 >= max_seconds:
                    break
            prepared.written = k
            self._slots_written(slots[k0:k])
        if prepared.written < len(blocks):
            return None
        self._partial = None
        handles = [Brain(self, x, proto.circuit.name) for x in prepared.serials]
        for h in handles:
            self._brains[h.id] = h
        self._start_ahead(proto)
        prepared.handles = handles
        return handles

    def _piecewise(self, prepared: PreparedSpawn) -> bool:
        """True when ``prepared`` can be committed in pieces: drawn brains (with their rows) that
        all fit free slots of their prototype, nothing re-laid out (as ``_place``'s in-place path)."""
        proto = prepared.proto
        if (prepared.committed or prepared._plan is not None or prepared.blocks is None or prepared.rows is None
                or prepared.depth != self._depth() or self.compact or proto.index >= len(self._prototypes)
                or self._prototypes[proto.index] is not proto or proto.index in self._gap_protos()):
            return False
        shape = self._shapes.get(proto.index)
        L = self.layout
        if shape is None or int(np.count_nonzero((L.brain_proto == proto.index) & (L.brain_serial < 0))) < len(
                prepared.blocks) or L.missing_state(proto):
            return False
        return shape.fits(*prepared.largest)  # SlotShape.fits is monotone in both counts

    def abort_spawn(self, prepared: PreparedSpawn) -> None:
        """Take out what :meth:`commit_spawn_piece` wrote of ``prepared`` (their slots become free;
        the ids stay used) and end it; nothing happens for a spawn not in progress."""
        if self._partial is not prepared:
            return
        self._partial = None
        written = prepared.serials[:prepared.written]
        prepared.written = len(prepared.serials)
        if written:
            self.despawn(written)

    def _check_no_partial(self, what: str) -> None:
        if self._partial is not None:
            raise RuntimeError(f"{what}: a spawn is being committed in pieces (commit_spawn_piece); finish it or "
                               "abort_spawn first")

    def _swap(self, plan: _RelayoutPlan) -> None:
        """The locked half of a re-layout spawn: copy the live state of every old brain into the
        layout built off-lock (it kept stepping meanwhile) and make it the world's layout."""
        assert plan.layout is not None and plan.moves is not None
        self.backend.pull_state()
        layout = plan.layout
        moves, state = plan.moves, None
        if plan.touched is not None and plan.touched is self._touched and self.backend_name == plan.backend_name:
            hit = plan.touched[moves.old]
            if not bool(hit.all()):
                state = moves.subset(hit)
            self.relayout_copied_last = (int(np.count_nonzero(hit)), int(moves.old.size))
        else:
            self.relayout_copied_last = (int(moves.old.size), int(moves.old.size))
        transplant(self.layout, layout, moves, state)
        layout.learning = self.layout.learning
        self._shapes, self._pad = plan.new_shapes, plan.pad
        self._index = plan.index
        self.layout_generation += 1
        self._restructured()
        if self.defer_backend_close and self.backend.name in _HOST_STATE_BACKENDS:
            while len(self._retired) >= _MAX_RETIRED:  # close_retired() not called: not more than a few
                self._retired.pop(0).close()
            self._retired.append(self.backend)  # no longer used from here on
        else:
            self.backend.close()
        self.layout = layout
        backend = plan.take_backend(self, layout)
        if backend is None:
            self.backend = self._new_backend(layout)
        else:
            self.backend, self.backend_name = backend, backend.name
            self.relayout_backends_prebuilt += 1
        self.rebuilds += 1

    def _commit_again(self, prepared: PreparedSpawn, plan: _RelayoutPlan) -> list[Brain]:
        """``commit_spawn`` of a re-layout whose world changed since ``prepare_spawn``: spawn
        under the caller's lock with the reserved ids (re-compiling and redrawing if needed)."""
        prepared.committed = True
        plan.drop_backend()
        circ = genome_to_circuit(prepared.proto.genome)
        old = self._slots() if plan.gkey not in self._proto_by_genome else None
        proto = self._prototype_for(circ, plan.gkey)
        depth = self._depth()
        blocks = prepared.blocks
        if (blocks is None or prepared.depth != depth or proto.index != prepared.proto.index
                or proto.proj_base != prepared.proto.proj_base):
            blocks = instantiate_many(proto, prepared.serials, prepared.keys, self.seed, depth)
        prepared.proto, prepared.depth, prepared.blocks = proto, depth, blocks
        handles = [Brain(self, x, proto.circuit.name) for x in prepared.serials]
        self._place(proto, blocks, old)
        for h in handles:
            self._brains[h.id] = h
        self._start_ahead(proto)
        return handles

    def _take_ahead(self, proto: PrototypeInfo, serials: list[int], depth: int) -> list[BrainBlock] | None:
        """The brain drawn ahead, if it is exactly the one asked for (same prototype, serial
        and ring depth); any other draw ahead is dropped."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None
        p, serial, d, fut = ahead
        if len(serials) != 1 or (p, serial, d) != (proto.index, serials[0], depth):
            fut.cancel()
            return None
        try:
            blocks = [fut.result()]
            self.spawns_drawn_ahead += 1
            return blocks
        except Exception:  # the synchronous draw below raises the same error, with context
            return None

    def close_retired(self) -> None:
        """Close the CPU backends that re-layout swaps replaced while ``defer_backend_close`` was
        set. Nothing uses them any more, so this needs no lock: a server calls it after the
        swap's lock hold, off the lock."""
        while self._retired:
            try:
                b = self._retired.pop()
            except IndexError:  # another thread took the last one
                return
            b.close()

    def close(self) -> None:
        """Stop the world's background work: the draw-ahead thread (see ``draw_ahead``) is
        joined and a draw it holds is dropped (the next spawn draws the same brain on the
        calling thread: the draw depends only on the seed and the spawn's serial); backends
        left by re-layouts (``defer_backend_close``) are closed.

        Call it before the interpreter ends, above all where a host embeds Python (Unity
        through pythonnet): a host that tears Python down while this thread is mid-draw
        races it for the GIL. The world stays usable and draws on the calling thread from
        then on. Calling it again does nothing."""
        self.close_retired()
        drawer, self._drawer = self._drawer, None
        self.draw_ahead = False
        self._ahead = None
        self._ahead_next = None
        if drawer is not None:
            drawer.shutdown(wait=True, cancel_futures=True)

    def _start_ahead(self, proto: PrototypeInfo) -> None:
        """Queue the draw of the next serial's brain of ``proto`` (see ``draw_ahead``); it starts
        with the next kernel call, which releases the GIL, so it runs beside the step instead
        of taking the game thread's time."""
        if self.draw_ahead and not self.compact and proto.n_neurons <= DRAW_AHEAD_MAX_NEURONS:
            self._ahead_next = proto

    def _launch_ahead(self) -> None:
        proto, self._ahead_next = self._ahead_next, None
        if proto is None or (self._ahead is not None and self._ahead[1] == self._next_serial):
            return
        if self._drawer is None:
            self._drawer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spikeforge-draw")
        serial = self._next_serial
        depth = self._depth()
        fut = self._drawer.submit(_draw_politely, proto, serial, brain_key(self.seed, serial), self.seed, depth)
        self._ahead = (proto.index, serial, depth, fut)

    def spawn_from(self, path: str | Path | bytes, state: bool = True) -> Brain:
        """Spawn the brain asset at ``path`` (written by :meth:`Brain.save`), or a brain file's
        bytes (:meth:`Brain.asset_bytes`, a server's EXPORT_BRAIN), as a new brain.

        With ``state`` (and a file holding state) it continues bit for bit where the saved
        brain was; otherwise it starts fresh with the saved wiring, weights and thresholds.
        A truncated, corrupt, wrong-version or mismatched file raises
        :class:`~spikeforge.runtime.brain_asset.BrainAssetError` and spawns nothing."""
        from spikeforge.runtime.brain_asset import spawn_from

        return spawn_from(self, path, state)

    def _place(self, proto: PrototypeInfo, blocks: list[BrainBlock], old: dict[int, list[Slot]] | None) -> None:
        if not blocks:
            if old is not None:
                self._rebuild(old)
            return
        L = self.layout
        shape = self._shapes.get(proto.index)
        free: npt.NDArray[np.intp] | list[int] = (
            np.flatnonzero((L.brain_proto == proto.index) & (L.brain_serial < 0)) if old is None else [])
        fast = (old is None and shape is not None and not self.compact and proto.index not in self._gap_protos()
                and len(free) >= len(blocks) and not L.missing_state(proto))
        rows = [block_rows(b) for b in blocks] if fast else []
        if fast and shape is not None and all(shape.fits(int(r[2].size), int(b.syn_pre.size))
                                              for r, b in zip(rows, blocks, strict=True)):
            self.backend.begin_slot_write()
            slots = [int(i) for i in free[:len(blocks)]]
            self._restructured()
            for i, blk, r in zip(slots, blocks, rows, strict=True):
                write_slot(L, i, blk, self._pad, r)
                self._index[blk.serial] = i
            self._slots_written(slots)
            return
        per = old if old is not None else self._slots()
        self._fill(per, proto.index, blocks)
        self._rebuild(per)

    def _fill(self, per: dict[int, list[Slot]], proto: int, blocks: list[BrainBlock]) -> None:
        """Put ``blocks`` into prototype ``proto``'s slots of ``per``: free slots first (every brain
        keeps its slot), then new ones (capacity doubles, or grows to fit; exactly in a compact world).
        Every other prototype without a live brain gives its slots back (capacity 0: a circuit
        no one uses any more, e.g. evicted from a server's registry, holds no memory after the
        next re-layout; a later spawn of it allocates again)."""
        for p, slots_of in per.items():
            if p != proto and slots_of and all(x is None for x in slots_of):
                per[p] = []
        lst = per.setdefault(proto, [])
        k = 0
        for j, cur in enumerate(lst):
            if k == len(blocks):
                break
            if cur is None:
                lst[j] = blocks[k]
                k += 1
        pending = blocks[k:]
        if pending:
            grow = len(lst) + len(pending)
            cap = grow if not lst or self.compact else max(grow, 2 * len(lst))
            lst.extend(pending)
            lst.extend([None] * (cap - len(lst)))

    def _gap_protos(self) -> set[int]:
        return {p.index for p in self._prototypes
                if any(pr.kind == "electrical" for pr in p.circuit.projections)}

    def despawn(self, brains: Brain | int | Iterable[Brain | int]) -> None:
        """Remove brains: their slots become free; other brains' state is untouched."""
        self._check_not_in_advance("despawn")
        items = [brains] if isinstance(brains, (Brain, int)) else list(brains)
        ids = {int(b.id) if isinstance(b, Brain) else int(b) for b in items}
        missing = ids - set(self._index)
        if missing:
            raise LookupError(f"despawn: no live brain with id(s) {sorted(missing)}")
        if self._partial is not None and ids & set(self._partial.serials):
            raise RuntimeError("despawn: these brains are being spawned in pieces (commit_spawn_piece); "
                               "abort_spawn takes them out")
        L = self.layout
        slots = sorted(self._index[i] for i in ids)
        gaps = self._gap_protos()
        if self.compact or any(int(L.brain_proto[i]) in gaps for i in slots):  # rebuild
            per = self._slots()
            for i in slots:
                p = int(L.brain_proto[i])
                first = int(np.searchsorted(L.brain_proto, p, side="left"))
                per[p][i - first] = None
            if self.compact:
                per = {p: [b for b in lst if b is not None] for p, lst in per.items()}
            for i in ids:
                self._index.pop(i)
            self._rebuild(per)
        else:
            self.backend.begin_slot_write()
            self._restructured()
            for i in slots:
                free_slot(L, i)
            for i in ids:
                self._index.pop(i)
            self._slots_written(slots)
        for i in ids:
            self._brains.pop(i, None)
            group = self._group_of.get(i)
            if group is not None:  # a despawned member leaves its group; the group goes on
                group._drop([i])

    # ------------------------------------------------------------------ running
    def _check_not_in_advance(self, what: str) -> None:
        if self._in_advance or self.bus.publishing:
            raise RuntimeError(f"{what}() was called from inside World.advance (a spike callback?); "
                               "defer it until advance returns")

    def _active_mask(self, use_lod: bool, only: npt.NDArray[np.bool_] | None = None
                     ) -> npt.NDArray[np.bool_] | None:
        L = self.layout
        if L.n_brains == 0:
            return None
        lod = use_lod and int(L.lod_every.max()) > 1
        # the common frame (every brain awake, no LOD skipping) without the per-brain mask's arithmetic
        if not lod and only is None and not L.sleeping.any() and int(L.brain_serial.min()) >= 0:
            return None
        awake = ~L.sleeping & (L.brain_serial >= 0)  # free slots never run, even if woken by hand
        if lod:
            awake &= ((self.clock.frames + L.brain_serial) % L.lod_every) == 0
        if only is not None:  # exactly as if the unselected brains were asleep for this call
            awake &= only
        return None if bool(awake.all()) else awake

    def _run(self, n: int, use_lod: bool, only: npt.NDArray[np.bool_] | None = None) -> SpikeRecord:
        self._check_not_in_advance("advance")
        if n == 0 or self.layout.n_brains == 0:
            self.step_count += n
            return SpikeRecord.empty()
        nan_mask = np.isnan(self.layout.sensor_values)
        if nan_mask.any():  # zero-copy writes cannot be checked on write; the encoder maps NaN to low
            self.sensor_nan_frames += 1
            log.warning("%d NaN sensor value(s) this frame were read as the range's low end",
                        int(nan_mask.sum()))
        active = self._active_mask(use_lod, only)
        if self._touched is not None:  # a pending re-layout copies these brains' state again
            if active is None:
                self._touched[:] = True
            else:
                self._touched |= active
        if self._ahead_next is not None:
            self._launch_ahead()
        self._in_advance = True
        try:
            record = self.backend.advance(n, self.step_count, active)
        finally:
            self._in_advance = False
        if self.backend.replacement is not None:  # e.g. GPU device lost: the frame was re-run on the CPU
            log.warning("backend %r failed and handed the world to %r", self.backend_name,
                        self.backend.replacement.name)
            self.backend = self.backend.replacement
            self.backend_name = self.backend_request = self.backend.name
        for group in self._learning_groups:  # shared learning: one combined change per group
            group.sync()
        self.step_count += n
        self.total_spikes += int(record.neurons.size)
        self.bus.publish(self.layout, record)
        return record

    def advance(self, frame_dt: float) -> FrameResult:
        """Accumulate ``frame_dt`` seconds and run the whole fixed steps due (one backend call).

        Call it once per game frame, after writing the sensors and before reading the actuators.
        Frame times vary; the simulation step does not: with ``dt = 0.001`` a 1/60 s frame runs 16
        or 17 steps, the leftover carries to the next frame (``FrameResult.alpha``). Sensors hold
        their values over all steps of the frame; actuators are decoded over them (a NaN written
        into a sensor array is read as the range's low end, with a warning). Brains asleep, or
        skipped this frame by their ``lod_every``, do not run.

        Parameters
        ----------
        frame_dt : float
            Game time since the last frame, in seconds (finite, >= 0; 0 runs nothing). At most
            ``max_substeps`` steps run; the rest of a long frame (a hitch) is dropped and counted.

        Returns
        -------
        FrameResult
            ``steps`` run, ``alpha`` (leftover fraction of a step, for interpolating visuals) and
            the frame's ``spikes``.

        Raises
        ------
        ValueError
            If ``frame_dt`` is negative or not finite.
        RuntimeError
            If called from inside a spike-bus callback.
        """
        if self._in_advance or self.bus.publishing:
            raise RuntimeError("advance() was called from inside a spike callback; "
                               "re-entering the world's step is not allowed")
        dropped = self.clock.dropped_steps
        n = self.clock.accumulate(frame_dt)
        self.frame_count += 1
        self._note_dropped(self.clock.dropped_steps - dropped, frame_dt)
        if n:  # the next frame's steps if it lasts as long as this one (a backend may prepare them)
            self.backend.expect_steps(self.clock.peek(frame_dt))
        record = self._run(n, use_lod=True)
        return FrameResult(n, self.clock.alpha, record)

    def _note_dropped(self, lost: int, frame_dt: float) -> None:
        """Warn once per burst of frames that drop steps (counted in ``stats()``)."""
        if lost <= 0:
            self._dropping = False
            return
        if not self._dropping:
            self.drop_bursts += 1
            log.warning("advance(%g s) needed %d more steps than max_substeps=%d allows: dropped them "
                        "(the world now runs slower than real time; stats()['dropped_steps'] counts every "
                        "dropped step; raise World.max_substeps to drop fewer). Warned once per burst.",
                        frame_dt, lost, self.clock.max_substeps)
        self._dropping = True

    def step(self, n: int = 1, only: npt.ArrayLike | None = None) -> SpikeRecord:
        """Run exactly ``n`` steps of every awake brain, or of the selected ones (ignores the clock and LOD).

        Parameters
        ----------
        n : int
            Fixed steps to run (each ``dt`` seconds of simulated time), >= 0.
        only : array-like or None
            Which brains run this call: a bool array over layout rows (shape
            ``(layout.n_brains,)``, rows as :meth:`rows` gives them), or a sequence of brain
            ids. The other brains are frozen for this call exactly as if they were asleep
            (state, RNG, delay rings and step counter untouched; they do not catch up).
            ``None`` (default) runs every awake brain. Sleeping brains never run.

        Returns
        -------
        SpikeRecord
            The spikes of the ``n`` steps (global neuron indices, world step stamps).

        Raises
        ------
        ValueError
            If ``n`` is not an integer >= 0 or ``only`` has the wrong shape or type.
        LookupError
            If ``only`` names a brain id that is not alive.
        RuntimeError
            If called from inside a spike-bus callback.

        Examples
        --------
        >>> from spikeforge import World, Circuit, LIF
        >>> w = World(backend="numpy")
        >>> a, b = w.spawn(Circuit("c").add_population("n", 4, LIF(bias=20.0)), 2)
        >>> _ = w.step(5, only=[a.id])
        >>> int(w.layout.brain_step[a.index]), int(w.layout.brain_step[b.index])
        (5, 0)
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n: must be an integer >= 0, got {n!r}")
        self._check_not_in_advance("step")
        mask = None if only is None else self._only_mask(only)
        return self._run(n, use_lod=False, only=mask)

    def _only_mask(self, only: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """``step``'s ``only`` as a bool array over layout rows."""
        n_rows = self.layout.n_brains
        arr = np.asarray(only)
        if arr.dtype == np.bool_:
            if arr.shape != (n_rows,):
                raise ValueError(f"only: a bool mask must have shape ({n_rows},) (one per layout row), got "
                                 f"{arr.shape}")
            return arr
        if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"only: expected a bool mask over layout rows or a sequence of brain ids, got "
                             f"{arr.dtype}{arr.shape}")
        mask = np.zeros(n_rows, dtype=bool)
        mask[self.rows(arr.tolist())] = True
        return mask

    def rows(self, brain_ids: Iterable[int]) -> npt.NDArray[np.int64]:
        """Layout row of each brain id (the index into per-brain layout arrays and ``step``'s mask).

        Parameters
        ----------
        brain_ids : iterable of int
            Ids of live brains (``Brain.id``).

        Returns
        -------
        ndarray of int64
            One row per id, in the order given. Valid until the next spawn, despawn or load
            (a spawn may re-lay the world out).

        Raises
        ------
        LookupError
            If an id is not a live brain.
        """
        ids = brain_ids if isinstance(brain_ids, (list, tuple, np.ndarray)) else list(brain_ids)
        if len(ids) < 256:
            out = []
            for i in ids:
                try:
                    out.append(self._index[int(i)])
                except KeyError:
                    raise LookupError(f"brain_ids: no live brain with id {int(i)}") from None
            return np.array(out, dtype=np.int64)
        # many ids (a server's session): one lookup table instead of a dict lookup per id
        arr = np.asarray(ids, dtype=np.int64)
        serial = self.layout.brain_serial
        live = np.flatnonzero(serial >= 0)
        row_of = np.full(max(self._next_serial, 1), -1, np.int64)
        row_of[serial[live]] = live
        ok = (arr >= 0) & (arr < row_of.size)
        rows = np.full(arr.size, -1, np.int64)
        rows[ok] = row_of[arr[ok]]
        if bool((rows < 0).any()):
            raise LookupError(f"brain_ids: no live brain with id {int(arr[np.flatnonzero(rows < 0)[0]])}")
        return rows

    def brain_ids(self) -> npt.NDArray[np.int64]:
        """Ids of the live brains, in layout row order (free slots left out).

        Returns
        -------
        ndarray of int64
            A new array; ``rows(brain_ids())`` is ascending.
        """
        serial = self.layout.brain_serial
        return np.asarray(serial[serial >= 0], dtype=np.int64).copy()

    def has_brain(self, brain_id: int) -> bool:
        """True when ``brain_id`` is a live brain of this world."""
        return int(brain_id) in self._index

    # ------------------------------------------------------------------ learning
    def learning(self, enabled: bool | None = None) -> bool:
        """The world's learning switch: with ``False`` no weight or threshold changes anywhere
        (traces and dopamine still evolve). ``None`` only reads it. Returns the new state."""
        if enabled is not None:
            if not isinstance(enabled, (bool, np.bool_)):
                raise ValueError(f"enabled: must be true or false, got {enabled!r}")
            self.backend.pull_state()
            self.layout.learning = bool(enabled)
            self.backend.push_state()
        return bool(self.layout.learning)

    def set_learning(self, brain_ids: Iterable[int], enabled: bool) -> None:
        """Switch plasticity on or off for some brains (per brain; the world switch is :meth:`learning`).

        A brain with learning off keeps its weights and thresholds (traces and dopamine still
        evolve), as :meth:`Brain.freeze`; other brains are untouched.

        Parameters
        ----------
        brain_ids : iterable of int
            Ids of live brains.
        enabled : bool
            ``True`` to learn, ``False`` to freeze.

        Raises
        ------
        ValueError
            If ``enabled`` is not a bool.
        LookupError
            If an id is not a live brain (nothing is changed then).
        """
        if not isinstance(enabled, (bool, np.bool_)):
            raise ValueError(f"enabled: must be true or false, got {enabled!r}")
        idx = self.rows(brain_ids)
        if idx.size == 0:
            return
        self.backend.pull_state()
        self.layout.learn[idx] = 1 if enabled else 0
        self.backend.push_state()

    def share_learning(self, brain_ids: Iterable[int], combine: str = "mean",
                       source: int | None = None) -> LearningGroup:
        """Make brains of one circuit learn as ONE learner: a :class:`~spikeforge.runtime.sharing.LearningGroup`.

        Each member's plasticity runs in the step as usual (its own traces, eligibility,
        dopamine and rewards); after every :meth:`advance` / :meth:`step` the changes the
        members made to their plastic weights (every projection with a learning rule) are
        combined into one change, their mean (or sum), and the result is written into every
        member, so the members always hold identical weights. The combine is exact integer
        arithmetic (``spikeforge.engine.shared``): deterministic, independent of the members'
        order, the same bits on the numpy and native backends; the GPU backend runs it on the
        host between a download and an upload of the state (slow: a whole-state round trip
        per step call). A member that did not run (asleep, skipped by LOD, frozen) adds no
        change, but still counts in the mean and gets the group's weights.

        Parameters
        ----------
        brain_ids : iterable of int
            Ids of live brains of one circuit, wired alike (a random connectivity rule must
            have drawn the same synapses), in no other group.
        combine : {"mean", "sum"}
            ``"mean"`` (default): the group learns at one brain's learning rate, from every
            member's experience. ``"sum"``: every member's change is applied (the rate times
            the number of members).
        source : int or None
            The brain whose plastic weights the group starts from (written into every member
            now); default the first id of ``brain_ids``.

        Returns
        -------
        LearningGroup
            ``members``, ``add``, ``remove``, ``weights()``, ``sync()``. Despawned members
            leave it; snapshots keep it (:meth:`save`).

        Raises
        ------
        LookupError
            If an id is not a live brain.
        ValueError
            If ``brain_ids`` is empty, lists a brain twice, mixes circuits or wirings, names
            a brain already in a group, or the circuit has no plastic projection; if
            ``combine`` or ``source`` is invalid. Nothing is changed then.
        """
        self._check_not_in_advance("share_learning")
        self._check_no_partial("share_learning")
        group = make_group(self, brain_ids, combine, source)
        self._learning_groups.append(group)
        return group

    def unshare_learning(self, group: LearningGroup) -> None:
        """Dissolve a learning group: its members keep the group's weights and learn on their
        own from then on. :class:`ValueError` if ``group`` is not one of this world's."""
        if not any(g is group for g in self._learning_groups):
            raise ValueError("group: not a learning group of this world (dissolved already?)")
        self._check_not_in_advance("unshare_learning")
        group.sync()
        group._drop(group.members)
        group.closed = True
        self._learning_groups = [g for g in self._learning_groups if g is not group]

    @property
    def learning_groups(self) -> list[LearningGroup]:
        """This world's learning groups (:meth:`share_learning`), in creation order."""
        return list(self._learning_groups)

    def reward(self, values: npt.ArrayLike) -> None:
        """Add ``values`` (one per brain, in ``world.brains`` order, or one scalar for all) to
        each brain's dopamine level (reward-modulated STDP; see ``docs/semantics.md``).
        One value per layout slot (``layout.n_brains``, layout order) is accepted too; values
        of free slots are ignored."""
        L = self.layout
        live = live_slots(L)
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim == 0:
            arr = np.full(live.size, float(arr))
        if arr.shape == (L.n_brains,) and L.n_brains != live.size:
            arr = arr[live]
        if arr.shape != (live.size,):
            raise ValueError(f"reward: expected {live.size} values (one per brain), got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            bad = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise ValueError(f"reward: value for brain row {bad} is {arr[bad]!r}; rewards must be finite")
        if arr.size and float(np.abs(arr).max()) > MAX_REWARD:  # the shared bound (model/errors.py)
            bad = int(np.argmax(np.abs(arr)))
            raise ValueError(f"reward: value for brain row {bad} is {arr[bad]!r}; |reward| must be <= {MAX_REWARD:g}")
        full = np.zeros(L.n_brains, np.float32)
        full[live] = arr.astype(np.float32)
        self.backend.add_reward(full)

    # ------------------------------------------------------------------ reports
    def stats(self) -> dict[str, Any]:
        """Counts for dashboards: brains, neurons, synapses, steps, spikes, memory."""
        L = self.layout
        mem = L.nbytes()
        live = live_slots(L)
        neurons = int((L.brain_start[live + 1] - L.brain_start[live]).sum())
        r0 = L.row_ptr[L.brain_start[live]]
        r1 = L.row_ptr[L.brain_start[live + 1]]
        synapses = int((L.row_syn[r1 - 1] - L.row_syn[r0]).sum()) if live.size else 0  # last row: the pad
        return {
            "brains": int(live.size), "neurons": neurons, "synapses": synapses,
            "slots": L.n_brains, "rebuilds": self.rebuilds, "backend_rebuilds": self.backend_rebuilds,
            "steps": self.step_count, "time_s": self.time, "spikes": self.total_spikes,
            "mean_rate_hz": (self.total_spikes / (neurons * self.time)
                             if neurons and self.time > 0 else 0.0),
            "backend": self.backend.name, "dropped_steps": self.clock.dropped_steps,
            "drop_bursts": self.drop_bursts, "max_substeps": self.clock.max_substeps,
            "bus_errors": self.bus.errors, "bytes": mem, "spawns_drawn_ahead": self.spawns_drawn_ahead,
        }

    # ------------------------------------------------------------------ snapshots
    def save(self, path: str | Path) -> None:
        """Write an atomic, versioned snapshot holding every variable (see snapshot module)."""
        from spikeforge.runtime.snapshot import save_world

        self._check_not_in_advance("save")
        self._check_no_partial("save")
        self.backend.pull_state()
        save_world(self, Path(path))

    @classmethod
    def load(cls, path: str | Path, backend: str = "auto") -> World:
        """Restore a world saved with :meth:`save`; resuming is bit-exact."""
        from spikeforge.runtime.snapshot import load_world

        return load_world(Path(path), backend)

    def _adopt(self, layout: Layout) -> Layout:
        """Take a loaded layout as this world's slot layout; a layout without slots (a snapshot
        written before slots existed) is rebuilt into one, every brain's state bit for bit."""
        pad = self._pad_projection()
        self._shapes = {}
        regular = layout.proj_chan.size == pad + 1
        for p in self._prototypes:
            idx = np.flatnonzero(layout.brain_proto == p.index)
            if not regular or idx.size == 0:
                continue
            s, e = layout.brain_start[idx], layout.brain_start[idx + 1]
            rows = layout.row_ptr[e] - layout.row_ptr[s]
            syn = layout.row_syn[layout.row_ptr[e]] - layout.row_syn[layout.row_ptr[s]]
            if np.unique(rows).size != 1 or np.unique(syn).size != 1:
                regular = False
                break
            self._shapes[p.index] = SlotShape(int(rows[0]), int(syn[0]))
        self._pad = pad
        if regular:
            return layout
        self._shapes = {}
        per: dict[int, list[Slot]] = {}
        for i in range(layout.n_brains):
            if layout.brain_serial[i] >= 0:
                per.setdefault(int(layout.brain_proto[i]), []).append(layout.extract(i))
        learning = layout.learning
        out = self._build(per)
        out.learning = learning
        return out

    def _restore(self, manifest: dict[str, Any], layout: Layout) -> None:
        """Install a loaded layout (used by the snapshot loader)."""
        self.backend.close()
        self.layout_generation += 1
        self._restructured()
        self._prototypes = list(layout.prototypes)
        self._proto_by_genome = {
            json.dumps(genome_to_circuit(p.genome).to_dict(), sort_keys=True): p.index for p in self._prototypes}
        self.layout = self._adopt(layout)
        layout = self.layout
        self._index = {int(s): i for i, s in enumerate(layout.brain_serial) if s >= 0}
        self._brains = {int(s): Brain(self, int(s), layout.prototypes[int(layout.brain_proto[i])].circuit.name)
                        for i, s in enumerate(layout.brain_serial) if s >= 0}
        self._learning_groups = []
        self._group_of = {}
        self.step_count = int(manifest["step_count"])
        self.frame_count = int(manifest["frame_count"])
        self.total_spikes = int(manifest["total_spikes"])
        self._next_serial = int(manifest["next_serial"])
        self.clock.accumulator = float(manifest["clock"]["accumulator"])
        self.clock.frames = int(manifest["clock"]["frames"])
        self.clock.dropped_steps = int(manifest["clock"]["dropped_steps"])
        self.backend = self._new_backend(layout)

