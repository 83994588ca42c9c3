"""Brain slots: per-prototype capacity in the flat layout, so that spawn and despawn touch
only one brain's memory.

A prototype owns ``capacity`` consecutive *slots*. Every slot of a prototype has the same
shape: the prototype's neurons, ``rows`` CSR rows and ``synapses`` synapses. A live slot
holds a brain (its real rows and synapses first, then padding); a free slot (a *ghost*:
``brain_serial == -1``, ``sleeping``) holds nothing the step reads, because a sleeping
brain is never stepped. Padding is inert by construction: pad rows belong to the slot's
last neuron, have delay 1, channel 0 and the world's pad projection (the last entry of
``proj_chan``, which no plasticity rule names); all pad synapses but none of the real
ones live in the last pad row, with ``w = 0`` and ``post`` = the slot's first neuron, so
delivering them adds ``quantize(0) = 0``. Empty pad rows deliver nothing.

Spawning into a free slot writes the slot's ranges of every array in place
(:func:`write_slot`); despawning marks the slot free (:func:`free_slot`). Only when a
prototype runs out of free slots, or a brain does not fit its prototype's slot shape, is
the layout rebuilt (:func:`build_layout`), keeping every brain in its slot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from spikeforge.engine.compiler import instantiate
from spikeforge.engine.connectivity import connect_many
from spikeforge.engine.layout import (
    N_CHANNELS,
    PER_POPULATION_STATE,
    SYNAPSE_STATE,
    BrainBlock,
    Layout,
    PrototypeInfo,
    expand_ranges,
    kept_starts,
    organ_groups,
    stored_state,
)
from spikeforge.model.synapses import FixedProbability

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class SlotShape:
    """Rows and synapses of every slot of one prototype (``rows`` includes >= 1 pad row)."""

    rows: int
    synapses: int
    gaps: int = 0

    def fits(self, rows: int, synapses: int) -> bool:
        """Whether one brain's wiring fits a slot of this shape.

        Parameters
        ----------
        rows : int
            The brain's synapse rows (one pad row is added).
        synapses : int
            The brain's synapses.

        Returns
        -------
        bool
        """
        return rows + 1 <= self.rows and synapses <= self.synapses


def block_rows(block: BrainBlock) -> tuple[I64, I64, I64, I64]:
    """The rows of a block: (local row_ptr (n+1), local row_syn (r+1), row_delay, row_proj)."""
    pre = block.syn_pre.astype(np.int64)
    proj, delay = block.syn_proj, block.syn_delay
    s = pre.size
    new_row = np.ones(s, dtype=bool)
    if s > 1:
        new_row[1:] = (pre[1:] != pre[:-1]) | (proj[1:] != proj[:-1]) | (delay[1:] != delay[:-1])
    first = np.flatnonzero(new_row)
    row_syn = np.append(first, s).astype(np.int64)
    row_ptr = np.searchsorted(pre[first], np.arange(block.n + 1), side="left").astype(np.int64)
    return row_ptr, row_syn, delay[first].astype(np.int64), proj[first].astype(np.int64)


def shape_for(proto: PrototypeInfo, blocks: list[BrainBlock], old: SlotShape | None) -> SlotShape:
    """A slot shape holding every block (and ``old``); random synapse counts get headroom."""
    return shape_of(proto, max([int(block_rows(b)[1].size - 1) for b in blocks] or [0]),
                    max([int(b.syn_pre.size) for b in blocks] or [0]), old)


def shape_of(proto: PrototypeInfo, rows: int, synapses: int, old: SlotShape | None) -> SlotShape:
    """:func:`shape_for` from the largest brain's counts.

    Parameters
    ----------
    proto : PrototypeInfo
        The prototype (random synapse counts get headroom).
    rows, synapses : int
        Most synapse rows and most synapses of one brain (0 when there is none).
    old : SlotShape or None
        The prototype's current shape (never shrinks).

    Returns
    -------
    SlotShape
    """
    rows += 1
    syn = synapses
    variable = any(isinstance(pr.rule, FixedProbability) for pr in proto.circuit.projections)
    if variable:  # binomial counts: ~6 standard deviations of headroom
        syn += int(6 * np.sqrt(max(syn, 1))) + 8
        rows += int(6 * np.sqrt(max(rows, 1))) + 8
    if old is not None:
        rows, syn = max(rows, old.rows), max(syn, old.synapses)
    return SlotShape(rows, syn)


def strip_pad(block: BrainBlock, pad_proj: int) -> BrainBlock:
    """A block extracted from a slot, without its padding synapses."""
    keep = block.syn_proj != pad_proj
    if bool(keep.all()):
        return block
    block.syn_pre, block.syn_delay, block.syn_proj = block.syn_pre[keep], block.syn_delay[keep], block.syn_proj[keep]
    block.synapse = {k: a[keep] for k, a in block.synapse.items()}
    return block


def _slot_rows(block: BrainBlock | None, n: int, shape: SlotShape, pad_proj: int,
               rows: tuple[I64, I64, I64, I64] | None = None) -> tuple[I64, I64, I64, I64, int]:
    """Padded local (row_ptr (n+1), row_syn (R+1), row_delay (R), row_proj (R), syn_count);
    ``rows`` is :func:`block_rows` of the block when already computed."""
    R, S = shape.rows, shape.synapses
    row_ptr = np.zeros(n + 1, np.int64)
    row_syn = np.empty(R + 1, np.int64)
    row_delay = np.ones(R, np.int64)
    row_proj = np.full(R, pad_proj, np.int64)
    real_rows = real_syn = 0
    if block is not None:
        rp, rs, rd, rj = block_rows(block) if rows is None else rows
        real_rows, real_syn = int(rd.size), int(rs[-1])
        row_ptr[:n] = rp[:n]
        row_syn[:real_rows] = rs[:real_rows]
        row_delay[:real_rows] = rd
        row_proj[:real_rows] = rj
    row_ptr[n] = R  # the last neuron owns the pad rows
    row_syn[real_rows:R] = real_syn  # empty pad rows ...
    row_syn[R - 1] = real_syn        # ... the last one holds every pad synapse
    row_syn[R] = S
    return row_ptr, row_syn, row_delay, row_proj, real_syn


def _slot_synapses(block: BrainBlock | None, S: int, keys: dict[str, np.dtype[np.generic]]
                   ) -> dict[str, np.ndarray]:
    out = {k: np.zeros(S, dt) for k, dt in keys.items()}
    if block is not None:
        m = int(block.syn_pre.size)
        for k in keys:
            if k in block.synapse:
                out[k][:m] = block.synapse[k]
    return out


def synapse_keys(layout_synapse: dict[str, np.ndarray] | None, blocks: list[BrainBlock]
                 ) -> dict[str, np.dtype[np.generic]]:
    """The per-synapse arrays a layout needs, with their dtypes.

    Parameters
    ----------
    layout_synapse : dict or None
        The current layout's ``synapse`` arrays (kept, e.g. learning state added by a rule).
    blocks : list of BrainBlock
        The brains to place; arrays only they have are added.

    Returns
    -------
    dict of str to numpy.dtype
        The base ``SYNAPSE_STATE`` keys first, then the others in order of appearance.
    """
    keys: dict[str, np.dtype[np.generic]] = {k: np.dtype(dt) for k, dt in SYNAPSE_STATE.items()}
    if layout_synapse is not None:
        for k, a in layout_synapse.items():
            keys.setdefault(k, a.dtype)
    for b in blocks:
        for k, a in b.synapse.items():
            keys.setdefault(k, a.dtype)
    return keys


def _slot_starts(protos: list[PrototypeInfo], shapes: dict[int, SlotShape]) -> tuple[npt.NDArray[np.int64], ...]:
    """Neurons, rows and synapses of each slot's shape (``protos``: the prototype of every slot,
    in layout order) and the first neuron, row and synapse of every slot, totals appended:
    ``(n_of, R, S, brain_start, r_start, y_start)``."""
    n_of = np.array([p.n_neurons for p in protos], np.int64)
    R = np.array([shapes[p.index].rows for p in protos], np.int64)
    S = np.array([shapes[p.index].synapses for p in protos], np.int64)
    starts = []
    for counts in (n_of, R, S):
        start = np.zeros(counts.size + 1, np.int64)
        np.cumsum(counts, out=start[1:])
        starts.append(start)
    return n_of, R, S, starts[0], starts[1], starts[2]


def build_layout(dt_ms: float, depth: int, prototypes: list[PrototypeInfo], shapes: dict[int, SlotShape],
                 slots: dict[int, list[BrainBlock | None]], pad_proj: int, proj_chan: npt.NDArray[np.int32],
                 syn_keys: dict[str, np.dtype[np.generic]]) -> Layout:
    """A layout of every prototype's slots, in prototype order (``None``: a free slot)."""
    order = [(p, blk) for p in prototypes for blk in slots.get(p.index, [])]
    B = len(order)
    _, _, _, brain_start, r_start, y_start = _slot_starts([p for p, _ in order], shapes)
    n = int(brain_start[-1])
    brain_proto = np.array([p.index for p, _ in order], np.int32)
    ks = {k: kept_starts(prototypes, brain_proto, k) for k in PER_POPULATION_STATE}
    neuron = {k: np.zeros(int(ks[k][-1]) if k in ks else n, dt) for k, dt in stored_state(prototypes).items()}
    pid = np.zeros(n, np.int32)
    row_ptr = np.zeros(n + 1, np.int64)
    row_syn = np.zeros(int(r_start[-1]) + 1, np.int64)
    row_delay = np.ones(int(r_start[-1]), np.int32)
    row_proj = np.zeros(int(r_start[-1]), np.int32)
    synapse = {k: np.zeros(int(y_start[-1]), dt) for k, dt in syn_keys.items()}
    ring = np.zeros((depth, N_CHANNELS, n), np.int32)
    gap_a: list[np.ndarray] = []
    gap_b: list[np.ndarray] = []
    gap_g: list[np.ndarray] = []
    key = np.zeros(B, np.uint32)
    step = np.zeros(B, np.int64)
    serial = np.full(B, -1, np.int64)
    lod = np.ones(B, np.int32)
    sleeping = np.ones(B, bool)
    dop = np.zeros(B, np.float32)
    dsum = np.zeros(B, np.float32)
    learn = np.zeros(B, np.uint8)
    for i, (p, blk) in enumerate(order):
        s = int(brain_start[i])
        for q in range(len(p.pop_names)):
            a = s + p.pop_offset[q]
            pid[a:a + p.pop_size[q]] = p.pid_base + q
        rp, rs, rd, rj, _ = _slot_rows(blk, p.n_neurons, shapes[p.index], pad_proj)
        row_ptr[s:s + p.n_neurons + 1] = rp + r_start[i]
        r0, r1 = int(r_start[i]), int(r_start[i + 1])
        row_syn[r0:r1 + 1] = rs + y_start[i]
        row_delay[r0:r1] = rd
        row_proj[r0:r1] = rj
        y0, y1 = int(y_start[i]), int(y_start[i + 1])
        for k, arr in _slot_synapses(blk, y1 - y0, syn_keys).items():
            synapse[k][y0:y1] = arr
        synapse["post"][y0:y1] += s
        if blk is None:
            continue
        for k, arr in neuron.items():
            if k in ks:  # per population: the brain's neurons that keep it
                arr[int(ks[k][i]):int(ks[k][i + 1])] = blk.neuron[k][p.kept_in_brain(k)] \
                    if k in blk.neuron else 0
            else:
                arr[s:s + p.n_neurons] = blk.neuron[k] if k in blk.neuron else 0
        kd = min(depth, blk.pending.shape[0])
        if kd:
            ring[(blk.step + np.arange(kd)) % depth, :, s:s + p.n_neurons] = blk.pending[:kd]
        if blk.gap_a.size:
            gap_a.append(blk.gap_a.astype(np.int64) + s)
            gap_b.append(blk.gap_b.astype(np.int64) + s)
            gap_g.append(blk.gap_g)
        key[i], step[i], serial[i], lod[i] = blk.key, blk.step, blk.serial, blk.lod_every
        sleeping[i], dop[i], dsum[i], learn[i] = blk.sleeping, blk.dopamine, blk.dopamine_sum, blk.learn
    sg, ag, act_slot, osz = organ_groups(prototypes, brain_proto, brain_start)
    row_proj_i = row_proj.astype(np.int32)
    fparams = (np.concatenate([p.fparams for p in prototypes]) if prototypes
               else np.zeros((0, 0), np.float32)).astype(np.float32)
    iparams = (np.concatenate([p.iparams for p in prototypes]) if prototypes
               else np.zeros((0, 0), np.int32)).astype(np.int32)

    def cat(xs: list[np.ndarray], dt: type[np.generic]) -> np.ndarray:
        return np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)

    L = Layout(
        dt_ms=dt_ms, depth=depth, prototypes=prototypes, brain_start=brain_start, brain_key=key,
        brain_step=step, brain_proto=brain_proto, brain_serial=serial, neuron=neuron, pid=pid,
        fparams=fparams, iparams=iparams, row_ptr=row_ptr, row_syn=row_syn, row_delay=row_delay,
        row_chan=proj_chan[row_proj_i].astype(np.int32) if row_proj_i.size else np.zeros(0, np.int32),
        row_proj=row_proj_i, synapse=synapse, proj_chan=proj_chan,
        gap_a=cat(gap_a, np.int32), gap_b=cat(gap_b, np.int32), gap_g=cat(gap_g, np.float32), ring=ring,
        sensor_values=np.zeros(osz[0], np.float32), act_counts=np.zeros(osz[1], np.int32),
        act_out=np.zeros(osz[2], np.float32), sensor_groups=sg, actuator_groups=ag, act_slot=act_slot,
        lod_every=lod, sleeping=sleeping, dopamine=dop, dopamine_sum=dsum, learn=learn,
    )
    for i, (_, blk) in enumerate(order):
        if blk is not None:
            _write_organs(L, i, blk)
    return L


def _organ_rows(L: Layout, i: int) -> tuple[list[tuple[str, slice]], list[tuple[str, slice, slice]]]:
    p = int(L.brain_proto[i])
    sens = [(g.name, slice(g.offset + (i - g.brain0) * g.channels, g.offset + (i - g.brain0 + 1) * g.channels))
            for g in L.sensor_groups if g.proto == p]
    acts = [(g.name, slice(g.offset + (i - g.brain0) * g.channels, g.offset + (i - g.brain0 + 1) * g.channels),
             slice(g.out_offset + (i - g.brain0) * g.width, g.out_offset + (i - g.brain0 + 1) * g.width))
            for g in L.actuator_groups if g.proto == p]
    return sens, acts


def organ_ranges(L: Layout, i: int) -> tuple[list[slice], list[slice]]:
    """The ranges of slot ``i`` in the organ arrays: (``act_counts`` ranges, ``act_out`` ranges),
    one per actuator of its prototype (what :func:`write_slot` and :func:`free_slot` write there
    besides ``sensor_values``).

    Parameters
    ----------
    L : Layout
        The layout.
    i : int
        The slot (brain index).

    Returns
    -------
    tuple of (list of slice, list of slice)
        Element ranges of ``L.act_counts`` and of ``L.act_out``.
    """
    _, acts = _organ_rows(L, i)
    return [c for _, c, _ in acts], [o for _, _, o in acts]


def _write_organs(L: Layout, i: int, blk: BrainBlock | None) -> None:
    sens, acts = _organ_rows(L, i)
    for name, sl in sens:
        L.sensor_values[sl] = blk.sensors[name] if blk is not None and name in blk.sensors else 0.0
    for name, cl, ol in acts:
        L.act_counts[cl] = blk.act_counts[name] if blk is not None and name in blk.act_counts else 0
        L.act_out[ol] = blk.act_out[name] if blk is not None and name in blk.act_out else 0.0


def slot_ranges(L: Layout, i: int) -> tuple[int, int, int, int, int, int]:
    """(neuron start, end, row start, end, synapse start, end) of slot ``i``."""
    s, e = int(L.brain_start[i]), int(L.brain_start[i + 1])
    r0, r1 = int(L.row_ptr[s]), int(L.row_ptr[e])
    return s, e, r0, r1, int(L.row_syn[r0]), int(L.row_syn[r1])


def write_slot(L: Layout, i: int, blk: BrainBlock, pad_proj: int,
               rows: tuple[I64, I64, I64, I64] | None = None) -> None:
    """Write brain ``blk`` into free slot ``i`` of ``L`` in place (every array's slot range).

    The block must fit the slot (see :class:`SlotShape`) and have no electrical synapses.
    """
    s, e, r0, r1, y0, y1 = slot_ranges(L, i)
    n = e - s
    if blk.n != n or blk.gap_a.size:
        raise ValueError("write_slot: block does not match the slot (size or electrical synapses)")
    if int(L.brain_proto[i]) != blk.proto:
        raise ValueError("write_slot: the slot belongs to another prototype")
    missing = L.missing_state(L.prototypes[blk.proto])
    if missing:
        raise ValueError(f"write_slot: the layout does not store {missing}, which the brain keeps (re-lay out)")
    shape = SlotShape(r1 - r0, y1 - y0)
    rows = block_rows(blk) if rows is None else rows
    if not shape.fits(int(rows[2].size), int(blk.syn_pre.size)):
        raise ValueError("write_slot: block does not fit the slot shape")
    rp, rs, rd, rj, _ = _slot_rows(blk, n, shape, pad_proj, rows)
    L.row_ptr[s:e] = rp[:n] + r0  # row_ptr[e] is the next slot's first row: unchanged
    L.row_syn[r0:r1] = rs[:-1] + y0
    L.row_delay[r0:r1] = rd
    L.row_proj[r0:r1] = rj
    L.row_chan[r0:r1] = L.proj_chan[rj]
    for k, arr in _slot_synapses(blk, y1 - y0, {k: a.dtype for k, a in L.synapse.items()}).items():
        L.synapse[k][y0:y1] = arr
    L.synapse["post"][y0:y1] += s
    proto = L.prototypes[blk.proto]
    for k, a in L.neuron.items():
        if k in PER_POPULATION_STATE:
            ks = L.kept_start(k)
            a[int(ks[i]):int(ks[i + 1])] = blk.neuron[k][proto.kept_in_brain(k)] if k in blk.neuron else 0
        else:
            a[s:e] = blk.neuron[k] if k in blk.neuron else 0
    L.ring[:, :, s:e] = 0
    kd = min(L.depth, blk.pending.shape[0])
    if kd:
        L.ring[(blk.step + np.arange(kd)) % L.depth, :, s:e] = blk.pending[:kd]
    L.brain_key[i], L.brain_step[i], L.brain_serial[i] = blk.key, blk.step, blk.serial
    L.lod_every[i], L.sleeping[i] = blk.lod_every, blk.sleeping
    L.dopamine[i], L.dopamine_sum[i], L.learn[i] = blk.dopamine, blk.dopamine_sum, blk.learn
    _write_organs(L, i, blk)


def free_slot(L: Layout, i: int) -> None:
    """Mark slot ``i`` free: never stepped again; its organ rows read 0 until reused."""
    L.brain_serial[i] = -1
    L.sleeping[i] = True
    L.learn[i] = 0
    L.dopamine[i] = L.dopamine_sum[i] = 0.0
    _write_organs(L, i, None)


def live_slots(L: Layout) -> I64:
    """Indices of the slots that hold a brain."""
    return np.flatnonzero(L.brain_serial >= 0).astype(np.int64)


def instantiate_many(proto: PrototypeInfo, serials: list[int], keys: list[int], world_seed: int, depth: int,
                     pause: Callable[[], None] | None = None) -> list[BrainBlock]:
    """Draw brains ``serials`` of ``proto``: each brain's draw is a function of its own seed
    and serial only (bit for bit :func:`~spikeforge.engine.compiler.instantiate`), the
    connectivity of all of them drawn together per projection (``connect_many``).
    ``pause``, if given, is called after each projection and each brain (a draw on a side
    thread lets other threads take the GIL there; it changes no result)."""
    if len(serials) < 2:
        return [instantiate(proto, s, k, world_seed, depth) for s, k in zip(serials, keys, strict=True)]
    step = pause if pause is not None else _no_pause
    seed = world_seed & 0xFFFFFFFFFFFFFFFF
    index = {name: i for i, name in enumerate(proto.pop_names)}
    drawn: list[dict[int, tuple[tuple[np.ndarray, np.ndarray], np.random.Generator]]] = [{} for _ in serials]
    for j, pr in enumerate(proto.circuit.projections):
        rngs = [np.random.default_rng([seed, s, j + 1]) for s in serials]
        a, b = index[pr.pre], index[pr.post]
        got = connect_many(pr.rule, proto.pop_size[a], proto.pop_size[b], a == b, rngs, f"projections[{j}]")
        for d, pairs, rng in zip(drawn, got, rngs, strict=True):
            d[j] = (pairs, rng)
        step()
    out = []
    for s, k, d in zip(serials, keys, drawn, strict=True):
        out.append(instantiate(proto, s, k, world_seed, depth, pairs=d))
        step()
    return out


def _no_pause() -> None:
    """The default ``pause`` of :func:`instantiate_many`: none."""


Slot = int | BrainBlock | None
"""One slot of a re-layout: a live slot of the old layout (its index), a new brain, or None (free)."""


def slot_counts(L: Layout, pad_proj: int) -> tuple[I64, I64]:
    """Real (non-pad) synapse rows and synapses of every slot of a slot layout.

    Parameters
    ----------
    L : Layout
        A slot layout (every slot's real rows first, then its pad rows).
    pad_proj : int
        The layout's pad projection id.

    Returns
    -------
    (ndarray of int64, ndarray of int64)
        Rows and synapses per slot (0 and 0 for a free slot).
    """
    B = L.n_brains
    if B == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    r0 = L.row_ptr[L.brain_start[:-1]]
    real = (L.row_proj != pad_proj).astype(np.int64)
    rows = np.add.reduceat(real, r0) if real.size else np.zeros(B, np.int64)  # every slot has >= 1 row
    syn = L.row_syn[r0 + rows] - L.row_syn[r0]
    return rows.astype(np.int64), syn.astype(np.int64)


def relayout(old: Layout | None, old_pad: int, dt_ms: float, depth: int, prototypes: list[PrototypeInfo],
             shapes: dict[int, SlotShape], slots: dict[int, list[Slot]], pad_proj: int,
             proj_chan: npt.NDArray[np.int32], syn_keys: dict[str, np.dtype[np.generic]]) -> Layout:
    """:func:`build_layout` from the old layout's slots without taking every brain out as a block.

    Bit for bit what ``build_layout`` gives when every old slot index in ``slots`` is replaced by
    ``strip_pad(old.extract(i), old_pad)``: the old brains are copied with whole-array gathers
    (one per array, not one per brain), only new brains are written one by one (:func:`write_slot`).

    Parameters
    ----------
    old : Layout or None
        The current slot layout (host arrays current); None when ``slots`` holds no ints.
    old_pad : int
        ``old``'s pad projection id.
    dt_ms, depth, prototypes, shapes, pad_proj, proj_chan, syn_keys
        As :func:`build_layout` (``shapes`` must hold every brain placed).
    slots : dict of int to list of (int, BrainBlock or None)
        Per prototype index, the new layout's slots in order: an int is a live slot of ``old``
        (its brain keeps its state), a block a new brain, None a free slot.

    Returns
    -------
    Layout
    """
    order = [(p, src) for p in prototypes for src in slots.get(p.index, [])]
    B = len(order)
    n_of, R, S, brain_start, r_start, y_start = _slot_starts([p for p, _ in order], shapes)
    n = int(brain_start[-1])
    n_rows, n_syn = int(r_start[-1]), int(y_start[-1])
    brain_proto = np.array([p.index for p, _ in order], np.int32)

    # every slot as a free slot first (see _slot_rows(None, ...)): all rows belong to the last
    # neuron, empty pad rows, the last holding the slot's S pad synapses (w 0, post = first neuron)
    pid = np.zeros(n, np.int32)
    for p in prototypes:
        members = np.flatnonzero(brain_proto == p.index)
        if members.size:
            tmpl = np.zeros(p.n_neurons, np.int32)
            for q in range(len(p.pop_names)):
                tmpl[p.pop_offset[q]:p.pop_offset[q] + p.pop_size[q]] = p.pid_base + q
            a = int(brain_start[members[0]])
            block = pid[a:a + members.size * p.n_neurons].reshape(members.size, p.n_neurons)
            for c in _chunks(np.full(members.size, p.n_neurons, np.int64)):
                block[c] = tmpl
    row_ptr = np.empty(n + 1, np.int64)
    _repeat_into(row_ptr, r_start[:-1], n_of)
    row_ptr[n] = n_rows
    row_syn = np.empty(n_rows + 1, np.int64)
    _repeat_into(row_syn, y_start[:-1], R)
    row_syn[n_rows] = n_syn
    row_delay = np.ones(n_rows, np.int32)
    row_proj = np.full(n_rows, pad_proj, np.int32)
    synapse = {k: np.zeros(n_syn, dt) for k, dt in syn_keys.items()}
    _repeat_into(synapse["post"], brain_start[:-1], S)
    neuron = {k: np.zeros(int(kept_starts(prototypes, brain_proto, k)[-1]) if k in PER_POPULATION_STATE else n, dt)
              for k, dt in stored_state(prototypes).items()}
    ring = np.zeros((depth, N_CHANNELS, n), np.int32)
    key = np.zeros(B, np.uint32)
    step = np.zeros(B, np.int64)
    serial = np.full(B, -1, np.int64)
    lod = np.ones(B, np.int32)
    sleeping = np.ones(B, bool)
    dop = np.zeros(B, np.float32)
    dsum = np.zeros(B, np.float32)
    learn = np.zeros(B, np.uint8)

    is_old = np.array([isinstance(src, int) for _, src in order], bool)
    sel = np.flatnonzero(is_old)
    o = np.array([src for _, src in order if isinstance(src, int)], np.int64)
    gap_parts: list[tuple[I64, npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.float32]]] = []
    if sel.size:
        assert old is not None
        rr_all, ss_all = slot_counts(old, old_pad)
        os0_all = old.brain_start[o]
        or0_all = old.row_ptr[os0_all]
        weight = n_of[sel] + R[sel] + S[sel]
        for c in _chunks(weight):  # bounded pieces: another thread gets the GIL between them
            oc, sc = o[c], sel[c]
            rr, ss = rr_all[oc], ss_all[oc]
            os0, or0 = os0_all[c], or0_all[c]
            oy0 = old.row_syn[or0]
            ns0, nr0, ny0 = brain_start[sc], r_start[sc], y_start[sc]
            dst, own = expand_ranges(ns0, brain_start[sc + 1])
            src, _ = expand_ranges(os0, old.brain_start[oc + 1])
            row_ptr[dst] = old.row_ptr[src] - or0[own] + nr0[own]
            # real rows, then the live slots' pad rows (empty, the last one holding the pad synapses)
            dst, own = expand_ranges(nr0, nr0 + rr)
            src, _ = expand_ranges(or0, or0 + rr)
            row_syn[dst] = old.row_syn[src] - oy0[own] + ny0[own]
            row_delay[dst] = old.row_delay[src]
            row_proj[dst] = old.row_proj[src]
            dst, own = expand_ranges(nr0 + rr, r_start[sc + 1])
            row_syn[dst] = (ny0 + ss)[own]
            dst, own = expand_ranges(ny0, ny0 + ss)  # real synapses (the pad ones stay as made above)
            src, _ = expand_ranges(oy0, oy0 + ss)
            synapse["post"][dst] = (old.synapse["post"][src].astype(np.int64) - os0[own] + ns0[own]).astype(np.int32)
        # electrical synapses, kept in the old order within a brain
        if old.gap_a.size:
            new_of_old = np.full(old.n_brains, -1, np.int64)
            new_of_old[o] = sel
            owner = np.searchsorted(old.brain_start, old.gap_a, side="right") - 1
            pos = new_of_old[owner]
            keep = pos >= 0
            shift = (brain_start[pos[keep]] - old.brain_start[owner[keep]])
            gap_parts.append((pos[keep], (old.gap_a[keep] + shift).astype(np.int32),
                              (old.gap_b[keep] + shift).astype(np.int32), old.gap_g[keep].astype(np.float32)))

    sg, ag, act_slot, osz = organ_groups(prototypes, brain_proto, brain_start)
    fparams = (np.concatenate([p.fparams for p in prototypes]) if prototypes
               else np.zeros((0, 0), np.float32)).astype(np.float32)
    iparams = (np.concatenate([p.iparams for p in prototypes]) if prototypes
               else np.zeros((0, 0), np.int32)).astype(np.int32)
    L = Layout(
        dt_ms=dt_ms, depth=depth, prototypes=prototypes, brain_start=brain_start, brain_key=key,
        brain_step=step, brain_proto=brain_proto, brain_serial=serial, neuron=neuron, pid=pid,
        fparams=fparams, iparams=iparams, row_ptr=row_ptr, row_syn=row_syn, row_delay=row_delay,
        row_chan=proj_chan[row_proj].astype(np.int32) if n_rows else np.zeros(0, np.int32),
        row_proj=row_proj, synapse=synapse, proj_chan=proj_chan,
        gap_a=np.zeros(0, np.int32), gap_b=np.zeros(0, np.int32), gap_g=np.zeros(0, np.float32), ring=ring,
        sensor_values=np.zeros(osz[0], np.float32), act_counts=np.zeros(osz[1], np.int32),
        act_out=np.zeros(osz[2], np.float32), sensor_groups=sg, actuator_groups=ag, act_slot=act_slot,
        lod_every=lod, sleeping=sleeping, dopamine=dop, dopamine_sum=dsum, learn=learn,
    )
    if sel.size:
        assert old is not None
        transplant(old, L, SlotMoves.of(old, old_pad, L, o, sel))
    for i, (_, blk) in enumerate(order):  # the new brains, one by one
        if isinstance(blk, BrainBlock):
            if blk.gap_a.size:
                s0 = int(brain_start[i])
                gap_parts.append((np.full(blk.gap_a.size, i, np.int64),
                                  (blk.gap_a.astype(np.int64) + s0).astype(np.int32),
                                  (blk.gap_b.astype(np.int64) + s0).astype(np.int32), blk.gap_g.astype(np.float32)))
                blk = replace(blk, gap_a=np.zeros(0, np.int32), gap_b=np.zeros(0, np.int32),
                              gap_g=np.zeros(0, np.float32))
            write_slot(L, i, blk, pad_proj)
    if gap_parts:
        pos = np.concatenate([g[0] for g in gap_parts])
        by = np.argsort(pos, kind="stable")  # build_layout's order: slot by slot
        L.gap_a = np.concatenate([g[1] for g in gap_parts])[by]
        L.gap_b = np.concatenate([g[2] for g in gap_parts])[by]
        L.gap_g = np.concatenate([g[3] for g in gap_parts])[by]
    return L


CHUNK = 1 << 18
"""Elements one piece of a re-layout copies at most (see :func:`_chunks`)."""


def _chunks(weight: I64) -> list[slice]:
    """Consecutive slices of ``range(weight.size)`` whose weights sum to about :data:`CHUNK` or
    less (one item alone may exceed it): large copies are done in pieces, so that no single
    numpy call holds the GIL for long while the world steps on another thread."""
    if weight.size == 0:
        return []
    limit = CHUNK
    cum = np.cumsum(weight)
    cuts = np.unique(np.searchsorted(cum, np.arange(limit, int(cum[-1]), limit), side="right"))
    edges = [0, *(int(x) for x in cuts if 0 < x < weight.size), int(weight.size)]
    return [slice(x, y) for x, y in pairwise(edges)]


def _repeat_into(out: np.ndarray, values: I64, counts: I64) -> None:
    """``out[:counts.sum()] = np.repeat(values, counts)``, in pieces (see :func:`_chunks`)."""
    pos = 0
    for c in _chunks(counts):
        part = np.repeat(values[c], counts[c])
        out[pos:pos + part.size] = part
        pos += part.size


@dataclass
class SlotMoves:
    """Where the brains of an old layout went in a new one (:func:`relayout`), ready for
    :func:`transplant`: old slot ``old[j]`` is new slot ``new[j]``.

    Attributes
    ----------
    old, new : ndarray of int64
        Slots of the brains kept.
    n_old, n_new, n_len : ndarray of int64
        Each kept brain's first neuron (old, new) and neuron count.
    y_old, y_new, y_len : ndarray of int64
        Each kept brain's first synapse (old, new) and real synapse count.
    """

    old: I64
    new: I64
    n_old: I64
    n_new: I64
    n_len: I64
    y_old: I64
    y_new: I64
    y_len: I64
    _plans: dict[str, tuple[I64, I64, I64, I64 | None, I64 | None]] = field(default_factory=dict, repr=False)
    _kept: dict[str, SlotMoves] = field(default_factory=dict, repr=False)

    def kept_moves(self, name: str, old: Layout, new: Layout) -> SlotMoves:
        """These moves in the coordinates of per-population variable ``name``'s compact arrays
        (:meth:`Layout.kept_start`: each brain's neurons that keep it are one run in both layouts;
        computed once per variable)."""
        m = self._kept.get(name)
        if m is None:
            ko, kn = old.kept_start(name), new.kept_start(name)
            start = ko[self.old]
            m = SlotMoves(self.old, self.new, start, kn[self.new], ko[self.old + 1] - start,
                          self.y_old, self.y_new, self.y_len)
            self._kept[name] = m
        return m

    @staticmethod
    def of(old: Layout, old_pad: int, new: Layout, o: I64, sel: I64) -> SlotMoves:
        """The moves of old slots ``o`` to new slots ``sel`` (each slot's real synapses are the
        first ones; their count is :func:`slot_counts` of ``old``).

        Parameters
        ----------
        old, new : Layout
            The layouts.
        old_pad : int
            ``old``'s pad projection id.
        o, sel : ndarray of int64
            Old and new slot of each brain kept.

        Returns
        -------
        SlotMoves
        """
        n_old, n_new = old.brain_start[o], new.brain_start[sel]
        y_old = old.row_syn[old.row_ptr[n_old]]
        y_new = new.row_syn[new.row_ptr[n_new]]
        return SlotMoves(o, sel, n_old, n_new, old.brain_start[o + 1] - n_old, y_old, y_new,
                         slot_counts(old, old_pad)[1][o])

    def subset(self, keep: npt.NDArray[np.bool_]) -> SlotMoves:
        """The moves of the brains where ``keep`` is True (one flag per brain of these moves).

        Parameters
        ----------
        keep : ndarray of bool
            Which moves to keep.

        Returns
        -------
        SlotMoves
        """
        return SlotMoves(self.old[keep], self.new[keep], self.n_old[keep], self.n_new[keep], self.n_len[keep],
                         self.y_old[keep], self.y_new[keep], self.y_len[keep])

    def plan(self, which: str) -> tuple[I64, I64, I64, I64 | None, I64 | None]:
        """How to copy the neurons (``"n"``) or the real synapses (``"y"``) of the kept brains:
        (old start, new start, length) of runs of consecutive indices (brains next to each
        other in both layouts merged), and, when the runs are many and short, the index arrays
        (old, new) of every element (a gather is then faster than a slice per run).

        Parameters
        ----------
        which : {"n", "y"}
            Neurons or synapses.

        Returns
        -------
        tuple
            ``(src, dst, length, src_index or None, dst_index or None)``.
        """
        if which in self._plans:
            return self._plans[which]
        src, dst, ln = (self.n_old, self.n_new, self.n_len) if which == "n" else (self.y_old, self.y_new, self.y_len)
        keep = ln > 0
        src, dst, ln = src[keep], dst[keep], ln[keep]
        brk = np.ones(src.size, bool)
        if src.size > 1:
            brk[1:] = (src[1:] != src[:-1] + ln[:-1]) | (dst[1:] != dst[:-1] + ln[:-1])
        first = np.flatnonzero(brk)
        src, dst = src[first], dst[first]
        ln = np.add.reduceat(ln, first) if first.size else ln[:0]
        total = int(ln.sum())
        idx: tuple[I64 | None, I64 | None] = (None, None)
        if src.size > max(16, total // 512):  # many short runs: one gather (in pieces) beats a slice each
            idx = (expand_ranges(src, src + ln)[0], expand_ranges(dst, dst + ln)[0])
        else:  # few long runs: slices, long ones cut into pieces
            pieces = np.maximum(1, -(-ln // CHUNK))
            if bool((pieces > 1).any()):
                rep = np.repeat(np.arange(src.size), pieces)
                k = np.arange(rep.size) - np.repeat(np.cumsum(pieces) - pieces, pieces)
                off = k * CHUNK
                src, dst, ln = src[rep] + off, dst[rep] + off, np.minimum(ln[rep] - off, CHUNK)
        self._plans[which] = (src, dst, ln, idx[0], idx[1])
        return self._plans[which]


def _copy(which: str, moves: SlotMoves, pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """``dst[moved] = src[moved]`` along the last axis for each (dst, src) of ``pairs``."""
    src, dst, ln, si, di = moves.plan(which)
    if si is not None and di is not None:
        for a in range(0, si.size, CHUNK):
            s_, d_ = si[a:a + CHUNK], di[a:a + CHUNK]
            for to, fro in pairs:
                to[..., d_] = fro[..., s_]
        return
    for a, b, m in zip(src.tolist(), dst.tolist(), ln.tolist(), strict=True):
        for to, fro in pairs:
            to[..., b:b + m] = fro[..., a:a + m]


def _one_run(dst: I64, src: I64) -> tuple[int, int] | None:
    """(first dst row, first src row) when both index arrays are one run of consecutive rows
    (the usual case: a prototype's kept brains keep their order in a re-layout), else None."""
    n = int(dst.size)
    if n and int(dst[-1]) - int(dst[0]) == n - 1 and int(src[-1]) - int(src[0]) == n - 1 and (
            n == 1 or (bool(np.all(np.diff(dst) == 1)) and bool(np.all(np.diff(src) == 1)))):
        return int(dst[0]), int(src[0])
    return None


def _rows_copy(to: np.ndarray, fro: np.ndarray, dst: I64, src: I64,
               run: tuple[int, int] | bool | None = False) -> None:
    """``to[dst] = fro[src]`` (rows of the first axis); one slice copy when both index arrays
    are one run of consecutive rows, else a gather. ``run``: :func:`_one_run` of (dst, src) if
    already known (False: found here)."""
    if run is False:
        run = _one_run(dst, src)
    if isinstance(run, tuple):
        a, b = run
        n = int(dst.size)
        to[a:a + n] = fro[b:b + n]
    else:
        to[dst] = fro[src]


def transplant(old: Layout, new: Layout, moves: SlotMoves, state: SlotMoves | None = None) -> None:
    """Copy the state of the moved brains from ``old`` into ``new`` (host arrays): everything a
    step, a reward or a per-brain switch changes (neuron state, delay ring, synapse arrays but
    ``post``, per-brain values, organ arrays), not the wiring. Other slots of ``new`` are not
    touched. :func:`relayout` uses it; a server calls it again just before it swaps a layout
    built while the old one kept stepping (see ``World.prepare_spawn``).

    Parameters
    ----------
    old, new : Layout
        The layouts (``new`` from :func:`relayout` of ``old``'s structure, same moves).
    moves : SlotMoves
        Where each kept brain went.
    state : SlotMoves or None
        The brains (a :meth:`SlotMoves.subset` of ``moves``) whose neuron state, delay rings
        and synapse arrays are copied; None: all of ``moves``. Per-brain values and organ
        arrays are copied for every brain of ``moves`` (a re-layout spawn's swap passes the
        brains changed since the off-lock copy, see ``World.prepare_spawn``).
    """
    o, sel = moves.old, moves.new
    heavy = moves if state is None else state
    # an array only one of them stores: absent in new, no one keeps it; absent in old, its brains
    # keep the initial 0 relayout left there
    pairs = [(a, old.neuron[k]) for k, a in new.neuron.items() if k in old.neuron and k not in PER_POPULATION_STATE]
    for k, arr in new.neuron.items():  # per population: each brain's run of neurons that keep it
        if k in PER_POPULATION_STATE and k in old.neuron:
            _copy("n", heavy.kept_moves(k, old, new), [(arr, old.neuron[k])])
    if old.depth == new.depth:  # the ring slot of step s + k is the same in both
        pairs.append((new.ring, old.ring))
    _copy("n", heavy, pairs)
    if old.depth != new.depth:
        _, _, _, si, di = heavy.plan("n")
        if si is None or di is None:
            si, di = expand_ranges(heavy.n_old, heavy.n_old + heavy.n_len)[0], \
                expand_ranges(heavy.n_new, heavy.n_new + heavy.n_len)[0]
        bstep = np.repeat(old.brain_step[heavy.old], heavy.n_len)
        for j in range(min(old.depth, new.depth)):
            new.ring[(bstep + j) % new.depth, :, di] = old.ring[(bstep + j) % old.depth, :, si]
    _copy("y", heavy, [(a, old.synapse[k]) for k, a in new.synapse.items() if k != "post" and k in old.synapse])
    run = _one_run(sel, o)  # once for the per-brain arrays (each check is O(brains))
    for to, fro in ((new.brain_key, old.brain_key), (new.brain_step, old.brain_step),
                    (new.brain_serial, old.brain_serial), (new.lod_every, old.lod_every),
                    (new.sleeping, old.sleeping), (new.dopamine, old.dopamine),
                    (new.dopamine_sum, old.dopamine_sum)):
        _rows_copy(to, fro, sel, o, run)
    if run is not None:
        a, b = run
        new.learn[a:a + sel.size] = old.learn[b:b + sel.size] != 0
    else:
        new.learn[sel] = (old.learn[o] != 0).astype(np.uint8)
    o_of = np.full(new.n_brains, -1, np.int64)
    o_of[sel] = o
    olds = {(g.proto, g.name): g for g in old.sensor_groups}
    olda = {(g.proto, g.name): g for g in old.actuator_groups}
    for g in new.sensor_groups:
        og = olds.get((g.proto, g.name))
        mem = np.flatnonzero(o_of[g.brain0:g.brain0 + g.brains] >= 0)
        if og is None or not mem.size:
            continue
        nv = new.sensor_values[g.offset:g.offset + g.brains * g.channels].reshape(g.brains, g.channels)
        ov = old.sensor_values[og.offset:og.offset + og.brains * og.channels].reshape(og.brains, og.channels)
        _rows_copy(nv, ov, mem, o_of[g.brain0 + mem] - og.brain0)
    for g in new.actuator_groups:
        og = olda.get((g.proto, g.name))
        mem = np.flatnonzero(o_of[g.brain0:g.brain0 + g.brains] >= 0)
        if og is None or not mem.size:
            continue
        nc = new.act_counts[g.offset:g.offset + g.brains * g.channels].reshape(g.brains, g.channels)
        oc = old.act_counts[og.offset:og.offset + og.brains * og.channels].reshape(og.brains, og.channels)
        src = o_of[g.brain0 + mem] - og.brain0
        run = _one_run(mem, src)
        _rows_copy(nc, oc, mem, src, run)
        no = new.act_out[g.out_offset:g.out_offset + g.brains * g.width].reshape(g.brains, g.width)
        oo = old.act_out[og.out_offset:og.out_offset + og.brains * og.width].reshape(og.brains, og.width)
        _rows_copy(no, oo, mem, src, run)
